package healthcheck

import (
	"fmt"
	"slices"
	"time"

	"github.com/rmqlb/rmqlb/backend"
)

// Event tells subscribers that a backend changed state or weight.
type Event struct {
	// Backend is the backend given to Scheduler.Add.
	Backend backend.ID `json:"backend"`
	// Time is when the change happened (the scheduler's clock).
	Time time.Time `json:"time"`
	// State is the effective state after the change; Prev the one before. They are equal on
	// a weight-only change and on the first result of a backend (its reason changed).
	State backend.State `json:"state"`
	Prev  backend.State `json:"prev"`
	// Health is the state the checks alone give (UP, DOWN or DEGRADED), whatever the admin state.
	Health backend.State `json:"health"`
	// Reason says why, e.g. "3 consecutive failures: waiting for Connection.Start: timeout".
	Reason string `json:"reason"`
	// WeightPercent is the share (1..100) of its configured weight the backend should get;
	// below 100 only during slow start.
	WeightPercent int `json:"weight_percent"`
	// WeightOnly marks an event of slow start that changes nothing but WeightPercent.
	WeightOnly bool `json:"weight_only,omitempty"`
	// Full is set while the last passing check found the broker at its own connection limit
	// (Result.Full): the backend takes new clients only when no other can.
	Full bool `json:"full,omitempty"`
	// FirstResult marks the event of a backend's first completed check.
	FirstResult bool `json:"first_result,omitempty"`
}

// Change is one entry of a backend's state history.
type Change struct {
	Time   time.Time     `json:"time"`
	From   backend.State `json:"from"`
	To     backend.State `json:"to"`
	Reason string        `json:"reason"`
}

// historyLen is how many changes BackendStatus keeps.
const historyLen = 16

// BackendStatus is the status of one backend, for `rmqlb status`.
type BackendStatus struct {
	Backend backend.ID    `json:"backend"`
	State   backend.State `json:"state"`
	Health  backend.State `json:"health"`
	Admin   backend.Admin `json:"admin"`
	// Reason and Since describe the last change of State.
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
	// WeightPercent is 1..100 (below 100 during slow start).
	WeightPercent int `json:"weight_percent"`
	// ConsecutivePasses and ConsecutiveFailures count the latest run of equal results.
	ConsecutivePasses   int `json:"consecutive_passes"`
	ConsecutiveFailures int `json:"consecutive_failures"`
	// LastCheck is when the last check ended (zero: none yet), LastLatency how long it took.
	LastCheck   time.Time     `json:"last_check"`
	LastLatency time.Duration `json:"last_latency_ns"`
	// LastError is the error of the last failed check (kept after passes), LastWarning the
	// warning of the last check, LastInfo its description of the server.
	LastError   string `json:"last_error,omitempty"`
	LastWarning string `json:"last_warning,omitempty"`
	LastInfo    string `json:"last_info,omitempty"`
	// LastRefused says that the last check passed with the server refusing the check's own
	// login or client certificate (Result.Refused), which LastWarning names.
	LastRefused bool `json:"last_refused,omitempty"`
	// Full is set while the last passing check found the broker refusing new clients at its own
	// connection limit (Result.Full, LastWarning says so): DEGRADED, its sessions kept, and its
	// listener gives it new clients only when no other backend can take them. Cleared by a
	// pass without it and by the checks taking the backend DOWN.
	Full bool `json:"full,omitempty"`
	// RefusedAlone names the backends of the listener whose checks log in alike and were let
	// in since the backend's current run of refused logins began (PassedAlike): the
	// refusal is its node's own. Empty outside such a run, for a check that does not log in,
	// and from Machine.Status, which the Scheduler's Snapshot completes.
	RefusedAlone []string `json:"refused_alone,omitempty"`
	// Cluster is the RabbitMQ cluster the last check's broker named (Result.Cluster);
	// empty after a failed check, or when the check does not tell.
	Cluster string `json:"cluster,omitempty"`
	// Certificates are the TLS certificates of the last passing check
	// (Result.Certificates), kept while its checks fail: a broker that is
	// down keeps the certificate it had. Nil for a check without TLS.
	Certificates []Certificate `json:"certificates,omitempty"`
	// Checks and Failures count all checks and failed ones.
	Checks   uint64 `json:"checks"`
	Failures uint64 `json:"failures"`
	// BusyChecks counts the checks that timed out while the backend kept sending to its
	// clients and were not counted as failures (CheckConfig.BusyGrace). BusySince is when the
	// running streak of them began; zero when the backend is not busy.
	BusyChecks uint64    `json:"busy_checks"`
	BusySince  time.Time `json:"busy_since"`
	// InconclusiveChecks counts the checks that could not be made for a cause on this host (a
	// shortage of file descriptors or socket memory: Result.Inconclusive), which
	// counted neither as passes nor as failures. InconclusiveSince is when the running streak
	// of them began; zero when the last check was conclusive. LastInconclusive says why the
	// last of them could not be made (kept after the streak ends).
	InconclusiveChecks uint64    `json:"inconclusive_checks"`
	InconclusiveSince  time.Time `json:"inconclusive_since"`
	LastInconclusive   string    `json:"last_inconclusive,omitempty"`
	// Downs counts the times the checks took the backend DOWN from UP or DEGRADED since it was
	// added (HAProxy's chkdown; an upgrade in place hands them over, see Inherited, a restart
	// starts again at 0): each closed its sessions, unless its listener keeps them
	// (on_marked_down). A backend that is DOWN from its first check has none. RecentDowns
	// holds when the latest of them happened (at most RecentDownsKept), oldest first: a few
	// within minutes is a backend that flaps.
	Downs       uint64      `json:"downs"`
	RecentDowns []time.Time `json:"recent_downs,omitempty"`
	// NextCheck is when the next check is due.
	NextCheck time.Time `json:"next_check"`
	// History holds the latest state changes, oldest first.
	History []Change `json:"history,omitempty"`
}

// Machine is the health state machine of one backend: a step function over time and check
// results, with no goroutines or I/O. It is not safe for concurrent use; Scheduler owns its
// machines and serialises access.
type Machine struct {
	id  backend.ID
	cfg CheckConfig

	health  backend.State
	admin   backend.Admin
	reason  string
	since   time.Time
	checked bool // a check has completed
	everUp  bool

	passes, failures int
	due              time.Time
	lastStart        time.Time

	slowStart time.Time // zero: not in slow start
	ticks     int       // slow-start ticks done
	weight    int

	lastCheck   time.Time
	lastLatency time.Duration
	lastErr     string
	lastWarn    string
	lastRefused bool // the last check's Result.Refused
	full        bool // the last passing check's Result.Full (see BackendStatus.Full)
	lastInfo    string
	lastCluster string
	lastCerts   []Certificate // of the last passing check
	certsLogged time.Time     // when certificatesToLog last returned some
	nChecks     uint64
	nFailures   uint64
	history     []Change

	// busySince is when the check that began the running streak of excused busy timeouts
	// started (zero: no streak); nBusy counts excused checks, lastExcused tells whether the
	// last result was one.
	busySince   time.Time
	nBusy       uint64
	lastExcused bool

	// inconclusiveSince is when the check that began the running streak of inconclusive
	// results started (zero: the last result was conclusive); nInconclusive counts them,
	// lastInconclusive is why the last of them could not be made.
	inconclusiveSince time.Time
	nInconclusive     uint64
	lastInconclusive  string

	// downs counts the times the checks took the backend DOWN from UP or DEGRADED,
	// recentDowns holds when the latest of them happened (see wentDown).
	downs       uint64
	recentDowns []time.Time
}

// NewMachine returns the machine of backend id, DOWN ("not checked yet") with its first check
// due at now+firstDelay. cfg is completed with defaults.
func NewMachine(id backend.ID, cfg CheckConfig, now time.Time, firstDelay time.Duration) *Machine {
	return &Machine{
		id:     id,
		cfg:    cfg.WithDefaults(),
		health: backend.Down,
		reason: "not checked yet",
		since:  now,
		due:    now.Add(firstDelay),
		weight: 100,
	}
}

// Config returns the machine's configuration with defaults applied.
func (m *Machine) Config() CheckConfig { return m.cfg }

// SetConfig replaces the machine's configuration (a reload) and keeps its state, counters and
// history: a backend whose check settings change stays in service. The next check keeps its
// due time unless the new schedule (interval after the start of the last check, conclusive or
// not) brings it closer. cfg is completed with defaults.
func (m *Machine) SetConfig(now time.Time, cfg CheckConfig) {
	m.cfg = cfg.WithDefaults()
	if !m.lastStart.IsZero() {
		if due := m.lastStart.Add(m.interval()); due.Before(m.due) {
			m.due = due
			if due.Before(now) {
				m.due = now
			}
		}
	}
}

// Due returns when the next check should start.
func (m *Machine) Due() time.Time { return m.due }

// Begin records that the check due at Due started at now (now >= Due). The schedule is anchored
// to due times, not to actual starts, so that timer latency does not accumulate; Begin returns
// how late the check starts, which the scheduler takes off the check's timeout so that a check
// ends by Due + Timeout.
func (m *Machine) Begin(now time.Time) (late time.Duration) {
	m.lastStart = m.due
	if now.Before(m.due) {
		m.lastStart = now
	}
	return now.Sub(m.lastStart)
}

// State returns the effective state: the health with the operator's override applied (see
// backend.Admin.Apply: a drained backend whose checks fail is DOWN).
func (m *Machine) State() backend.State { return m.admin.Apply(m.health) }

// Checked reports whether a check has completed.
func (m *Machine) Checked() bool { return m.checked }

// Observe records the result r of the check that started at the last Begin and ended at now,
// schedules the next check and returns the resulting events (none when nothing changed). An
// inconclusive result (Result.Inconclusive) changes nothing but the counts of checks: the state,
// its reason, the runs of passes and failures and the busy streak are kept, and the first check
// of a backend is still to come.
func (m *Machine) Observe(now time.Time, r Result, latency time.Duration) []Event {
	if r.Inconclusive {
		m.inconclusive(now, r, latency)
		m.schedule(now)
		return nil
	}
	m.inconclusiveSince = time.Time{}
	r = m.cfg.OnAlarm.applyAlarm(r)
	prevState, prevHealth := m.State(), m.health
	first := !m.checked
	m.checked = true
	m.nChecks++
	m.lastCheck, m.lastLatency, m.lastInfo = now, latency, r.Info
	m.lastWarn, m.lastRefused = "", false
	var reason string
	excused := m.excuse(now, &r)
	if !excused {
		// A busy broker is the same broker: its cluster stays as known.
		m.lastCluster = r.Cluster
	}
	switch {
	case excused:
		if first {
			// A backend added in service keeps its state, but its first result is an
			// event all the same (Event.FirstResult), as a first pass or failure is.
			reason = m.lastErr
		}
	case r.Err == nil:
		wasFull := m.full
		m.lastWarn, m.lastRefused, m.full = r.Warning, r.Refused, r.Full
		if r.Full && r.Warning == "" {
			r.Warning = FullWarning("")
			m.lastWarn = r.Warning
		}
		m.lastCerts = r.Certificates
		m.passes++
		m.failures = 0
		passing := backend.Up
		if r.Warning != "" {
			passing = backend.Degraded
		}
		switch {
		case m.health != backend.Down:
			switch {
			case passing != m.health, r.Full != wasFull:
				m.health = passing
				reason = r.Warning
				switch {
				case reason != "":
				case wasFull:
					reason = "the broker takes new clients again"
				default:
					reason = "warning cleared"
				}
			case first:
				// A backend added in service keeps its state, but its first result is
				// an event all the same (Event.FirstResult), as a first failure is.
				reason = "first check passed"
			}
		case first:
			m.health = passing
			reason = "first check passed"
		case m.passes >= m.cfg.Rise:
			m.health = passing
			reason = inARow(m.passes, "pass", "passes")
			if m.everUp && m.cfg.SlowStart > 0 {
				m.slowStart, m.ticks, m.weight = now, 0, 1
			}
		}
		if m.health != backend.Down {
			m.everUp = true
			if r.Warning != "" && reason != r.Warning && reason != "" {
				reason += "; " + r.Warning
			}
		}
	default:
		m.nFailures++
		m.lastErr = r.Err.Error()
		m.failures++
		m.passes = 0
		switch {
		case m.health != backend.Down && m.failures >= m.cfg.Fall:
			m.health = backend.Down
			reason = inARow(m.failures, "failure", "failures") + ": " + m.lastErr
			m.slowStart, m.ticks, m.weight = time.Time{}, 0, 100
			m.busySince = time.Time{}
			m.full = false
			m.wentDown(now)
		case first:
			reason = m.lastErr // the initial "not checked yet" becomes the error
		}
	}
	m.schedule(now)
	if reason == "" {
		return nil
	}
	ev := m.change(now, prevState, prevHealth, reason)
	ev[0].FirstResult = first
	return ev
}

// inconclusive records r, a check that could not be made: it counts as a check, and in the
// streak of inconclusive ones, and as nothing else.
func (m *Machine) inconclusive(now time.Time, r Result, latency time.Duration) {
	m.nChecks++
	m.nInconclusive++
	m.lastCheck, m.lastLatency = now, latency
	m.lastExcused = false
	if m.inconclusiveSince.IsZero() {
		m.inconclusiveSince = m.lastStart
	}
	m.lastInconclusive = "inconclusive"
	if r.Err != nil {
		m.lastInconclusive = r.Err.Error()
	}
}

// excuse reports whether r is a busy timeout (Result.Busy) of a serving backend still within
// CheckConfig.BusyGrace, which counts neither as a failure nor as a pass; past the grace it
// adds how long the backend has been busy to r's error, with what a backend that stays busy
// may be, which then counts as a failure. A pass ends the busy streak.
func (m *Machine) excuse(now time.Time, r *Result) bool {
	m.lastExcused = false
	if r.Err == nil {
		m.busySince = time.Time{}
		return false
	}
	if !r.Busy || m.health == backend.Down || m.cfg.BusyGrace <= 0 {
		return false
	}
	if m.busySince.IsZero() {
		m.busySince = m.lastStart
	}
	if busy := now.Sub(m.busySince); busy >= m.cfg.BusyGrace {
		r.Err = fmt.Errorf("%w (busy for %v, longer than busy_grace %v: it still sends to its clients but answers no new connection, as a broker at its connection_max or socket limit does)",
			r.Err, busy.Round(time.Millisecond), m.cfg.BusyGrace)
		return false
	}
	m.nBusy++
	m.lastExcused = true
	m.lastErr = r.Err.Error() + " (busy: still sending to its clients)"
	return true
}

// interval is the spacing of checks in the current state.
func (m *Machine) interval() time.Duration {
	switch {
	case m.health == backend.Down && m.passes > 0, m.health != backend.Down && m.failures > 0:
		return m.cfg.FastInterval
	case m.health == backend.Down:
		return m.cfg.DownInterval
	}
	return m.cfg.Interval
}

func (m *Machine) schedule(now time.Time) {
	m.due = m.lastStart.Add(m.interval())
	if m.due.Before(now) {
		m.due = now
	}
}

// change records a change of reason (and maybe state) and returns its event.
func (m *Machine) change(now time.Time, prevState, prevHealth backend.State, reason string) []Event {
	st := m.State()
	m.reason = reason
	if st != prevState {
		m.since = now
		m.history = append(m.history, Change{Time: now, From: prevState, To: st, Reason: reason})
		if len(m.history) > historyLen {
			m.history = m.history[len(m.history)-historyLen:]
		}
	}
	return []Event{{Backend: m.id, Time: now, State: st, Prev: prevState, Health: m.health, Reason: reason, WeightPercent: m.weight, Full: m.full}}
}

// SetAdmin sets the operator state and returns the resulting events.
func (m *Machine) SetAdmin(now time.Time, a backend.Admin) []Event {
	return m.SetAdminNoted(now, a, "")
}

// SetAdminNoted is SetAdmin with a note on how the operator's state came
// (such as "restored from the state file"), added to the reason of its
// event in parentheses; "" adds none.
func (m *Machine) SetAdminNoted(now time.Time, a backend.Admin, note string) []Event {
	if a == m.admin {
		return nil
	}
	prevState := m.State()
	prevAdmin := m.admin
	m.admin = a
	return m.change(now, prevState, m.health, backend.ChangeReason(prevAdmin, a, note))
}

// NextTick returns when Tick should next be called for slow start (zero: no need). Ticks come
// every SlowStart/20 (at least 10 ms), the last one exactly at the end of slow start.
func (m *Machine) NextTick() time.Time {
	if m.slowStart.IsZero() {
		return time.Time{}
	}
	step := m.cfg.SlowStart / 20
	if step < 10*time.Millisecond {
		step = 10 * time.Millisecond
	}
	end := m.slowStart.Add(m.cfg.SlowStart)
	next := m.slowStart.Add(time.Duration(m.ticks+1) * step)
	if next.After(end) {
		next = end
	}
	return next
}

// Tick advances slow start to now and returns a weight event when the weight changed.
func (m *Machine) Tick(now time.Time) []Event {
	if m.slowStart.IsZero() {
		return nil
	}
	el := now.Sub(m.slowStart)
	w := 100
	if el < m.cfg.SlowStart {
		w = 1 + int(int64(el)*99/int64(m.cfg.SlowStart))
	}
	for !m.NextTick().After(now) && m.NextTick().Before(m.slowStart.Add(m.cfg.SlowStart)) {
		m.ticks++
	}
	if w >= 100 {
		m.slowStart, m.ticks = time.Time{}, 0
	}
	if w == m.weight {
		return nil
	}
	m.weight = w
	st := m.State()
	return []Event{{Backend: m.id, Time: now, State: st, Prev: st, Health: m.health, Reason: fmt.Sprintf("slow start %d%%", w), WeightPercent: w, WeightOnly: true, Full: m.full}}
}

// Status returns the backend's status.
func (m *Machine) Status() BackendStatus {
	return BackendStatus{
		Backend:             m.id,
		State:               m.State(),
		Health:              m.health,
		Admin:               m.admin,
		Reason:              m.reason,
		Since:               m.since,
		WeightPercent:       m.weight,
		ConsecutivePasses:   m.passes,
		ConsecutiveFailures: m.failures,
		LastCheck:           m.lastCheck,
		LastLatency:         m.lastLatency,
		LastError:           m.lastErr,
		LastWarning:         m.lastWarn,
		LastRefused:         m.lastRefused,
		Full:                m.full,
		LastInfo:            m.lastInfo,
		Cluster:             m.lastCluster,
		Certificates:        slices.Clone(m.lastCerts),
		Checks:              m.nChecks,
		Failures:            m.nFailures,
		BusyChecks:          m.nBusy,
		BusySince:           m.busySince,
		InconclusiveChecks:  m.nInconclusive,
		InconclusiveSince:   m.inconclusiveSince,
		LastInconclusive:    m.lastInconclusive,
		Downs:               m.downs,
		RecentDowns:         slices.Clone(m.recentDowns),
		NextCheck:           m.due,
		History:             append([]Change(nil), m.history...),
	}
}

// inARow says how many results in a row changed a backend's state: "3
// consecutive failures", and "1 failure" where rise or fall is 1.
func inARow(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d consecutive %s", n, many)
}

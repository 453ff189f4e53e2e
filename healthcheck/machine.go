package healthcheck

import (
	"fmt"
	"time"
)

// Event tells subscribers that a backend changed state or weight.
type Event struct {
	// Backend is the name given to Scheduler.Add.
	Backend string `json:"backend"`
	// Time is when the change happened (the scheduler's clock).
	Time time.Time `json:"time"`
	// State is the effective state after the change; Prev the one before. They are equal on
	// a weight-only change and on the first result of a backend (its reason changed).
	State State `json:"state"`
	Prev  State `json:"prev"`
	// Health is the state the checks alone give (UP, DOWN or DEGRADED), whatever the admin state.
	Health State `json:"health"`
	// Reason says why, e.g. "3 consecutive failures: waiting for Connection.Start: timeout".
	Reason string `json:"reason"`
	// WeightPercent is the share (1..100) of its configured weight the backend should get;
	// below 100 only during slow start.
	WeightPercent int `json:"weight_percent"`
	// WeightOnly marks an event of slow start that changes nothing but WeightPercent.
	WeightOnly bool `json:"weight_only,omitempty"`
}

// Change is one entry of a backend's state history.
type Change struct {
	Time   time.Time `json:"time"`
	From   State     `json:"from"`
	To     State     `json:"to"`
	Reason string    `json:"reason"`
}

// historyLen is how many changes BackendStatus keeps.
const historyLen = 16

// BackendStatus is the status of one backend, for `rmqlb status`.
type BackendStatus struct {
	Name   string `json:"name"`
	State  State  `json:"state"`
	Health State  `json:"health"`
	Admin  Admin  `json:"admin"`
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
	// Checks and Failures count all checks and failed ones.
	Checks   uint64 `json:"checks"`
	Failures uint64 `json:"failures"`
	// NextCheck is when the next check is due.
	NextCheck time.Time `json:"next_check"`
	// History holds the latest state changes, oldest first.
	History []Change `json:"history,omitempty"`
}

// Machine is the health state machine of one backend: a step function over time and check
// results, with no goroutines or I/O. It is not safe for concurrent use; Scheduler owns its
// machines and serialises access.
type Machine struct {
	name string
	cfg  CheckConfig

	health  State
	admin   Admin
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
	lastInfo    string
	nChecks     uint64
	nFailures   uint64
	history     []Change
}

// NewMachine returns the machine of backend name, DOWN ("not checked yet") with its first check
// due at now+firstDelay. cfg is completed with defaults.
func NewMachine(name string, cfg CheckConfig, now time.Time, firstDelay time.Duration) *Machine {
	return &Machine{
		name:   name,
		cfg:    cfg.WithDefaults(),
		health: StateDown,
		reason: "not checked yet",
		since:  now,
		due:    now.Add(firstDelay),
		weight: 100,
	}
}

// Config returns the machine's configuration with defaults applied.
func (m *Machine) Config() CheckConfig { return m.cfg }

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

// State returns the effective state.
func (m *Machine) State() State {
	switch m.admin {
	case AdminDrain:
		return StateDrain
	case AdminMaint:
		return StateMaint
	}
	return m.health
}

// Observe records the result r of the check that started at the last Begin and ended at now,
// schedules the next check and returns the resulting events (none when nothing changed).
func (m *Machine) Observe(now time.Time, r Result, latency time.Duration) []Event {
	prevState, prevHealth := m.State(), m.health
	first := !m.checked
	m.checked = true
	m.nChecks++
	m.lastCheck, m.lastLatency, m.lastInfo = now, latency, r.Info
	m.lastWarn = ""
	var reason string
	if r.Err == nil {
		m.lastWarn = r.Warning
		m.passes++
		m.failures = 0
		passing := StateUp
		if r.Warning != "" {
			passing = StateDegraded
		}
		switch {
		case m.health != StateDown:
			if passing != m.health {
				m.health = passing
				reason = r.Warning
				if reason == "" {
					reason = "warning cleared"
				}
			}
		case first:
			m.health = passing
			reason = "first check passed"
		case m.passes >= m.cfg.Rise:
			m.health = passing
			reason = fmt.Sprintf("%d consecutive passes", m.passes)
			if m.everUp && m.cfg.SlowStart > 0 {
				m.slowStart, m.ticks, m.weight = now, 0, 1
			}
		}
		if m.health != StateDown {
			m.everUp = true
			if r.Warning != "" && reason != r.Warning && reason != "" {
				reason += "; " + r.Warning
			}
		}
	} else {
		m.nFailures++
		m.lastErr = r.Err.Error()
		m.failures++
		m.passes = 0
		switch {
		case m.health != StateDown && m.failures >= m.cfg.Fall:
			m.health = StateDown
			reason = fmt.Sprintf("%d consecutive failures: %s", m.failures, m.lastErr)
			m.slowStart, m.ticks, m.weight = time.Time{}, 0, 100
		case first:
			reason = m.lastErr // the initial "not checked yet" becomes the error
		}
	}
	m.schedule(now)
	if reason == "" {
		return nil
	}
	return m.change(now, prevState, prevHealth, reason)
}

func (m *Machine) schedule(now time.Time) {
	iv := m.cfg.Interval
	switch {
	case m.health == StateDown && m.passes > 0, m.health != StateDown && m.failures > 0:
		iv = m.cfg.FastInterval
	case m.health == StateDown:
		iv = m.cfg.DownInterval
	}
	m.due = m.lastStart.Add(iv)
	if m.due.Before(now) {
		m.due = now
	}
}

// change records a change of reason (and maybe state) and returns its event.
func (m *Machine) change(now time.Time, prevState, prevHealth State, reason string) []Event {
	st := m.State()
	m.reason = reason
	if st != prevState {
		m.since = now
		m.history = append(m.history, Change{Time: now, From: prevState, To: st, Reason: reason})
		if len(m.history) > historyLen {
			m.history = m.history[len(m.history)-historyLen:]
		}
	}
	return []Event{{Backend: m.name, Time: now, State: st, Prev: prevState, Health: m.health, Reason: reason, WeightPercent: m.weight}}
}

// SetAdmin sets the operator state and returns the resulting events.
func (m *Machine) SetAdmin(now time.Time, a Admin) []Event {
	if a == m.admin {
		return nil
	}
	prevState := m.State()
	m.admin = a
	reason := "operator cleared " + prevState.String()
	if a != AdminNone {
		reason = "operator set " + m.State().String()
	}
	return m.change(now, prevState, m.health, reason)
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
	return []Event{{Backend: m.name, Time: now, State: st, Prev: st, Health: m.health, Reason: fmt.Sprintf("slow start %d%%", w), WeightPercent: w, WeightOnly: true}}
}

// Status returns the backend's status.
func (m *Machine) Status() BackendStatus {
	return BackendStatus{
		Name:                m.name,
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
		LastInfo:            m.lastInfo,
		Checks:              m.nChecks,
		Failures:            m.nFailures,
		NextCheck:           m.due,
		History:             append([]Change(nil), m.history...),
	}
}

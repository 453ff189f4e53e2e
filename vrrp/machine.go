package vrrp

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// An Event is an input to Machine.Step.
type Event interface{ isEvent() }

// Startup starts the machine (RFC 5798 section 6.4.1, Startup event).
type Startup struct {
	// Adopt, when its State is not StateInit (the zero value), is the
	// state of the process this one succeeds on the same host (an
	// upgrade in place): the machine carries on from it. StateMaster
	// starts it MASTER at once, without waiting for the master down
	// interval (the VIPs are on the interface, and the backups hear the
	// same source advertise on); a fault, or a release asked for before
	// the start, comes first, and then the predecessor's VIPs are
	// released. StateBackup starts it as usual, but for the master it
	// heard (Adoption.Master). The change is marked Adopted when it
	// reaches the state adopted, and the state then keeps the
	// predecessor's Since and Reason.
	Adopt Adoption
}

// Adoption is the state of a VRRP instance of the process this one
// succeeds on the same host (an upgrade in place), which the machine
// carries on from (Startup.Adopt, Instance.Adopt).
type Adoption struct {
	// State is StateMaster or StateBackup; StateInit (the zero value):
	// nothing is adopted.
	State State
	// Since is when the predecessor entered State, and Reason why: the
	// router did not change state, so Machine.Since and Machine.Reason go
	// on saying so. Zero: the machine's start, with its own reason.
	Since  time.Time
	Reason string
	// Master is the last advertisement the predecessor, a BACKUP, heard
	// from another router; nil if none. A BACKUP carries on from it as
	// though it had just heard it when that router is its master (a
	// priority above 0 that it does not preempt): it adopts the
	// master's interval (VRRPv3, up to MaxAdoptedInterval) for its
	// Master_Down_Timer, as its predecessor had, rather than starting
	// with its own, which a master that advertises less often would
	// not meet; it would take over, and give way at the master's next
	// advert. Other masters are not carried on: the machine starts as
	// usual.
	Master *MasterInfo
}

// Shutdown stops the machine: a MASTER sends a priority-0 advertisement and
// releases the addresses (so does a BACKUP that still holds them after
// giving way, see PeerAnnounced), every state goes to INIT.
type Shutdown struct{}

// Tick fires the timers that are due; step the machine with it at
// NextDeadline.
type Tick struct{}

// Advert is a received advertisement that passed Parse and, in multicast
// mode, the TTL check.
type Advert struct {
	// Src is the IP source address of the packet (the sender's primary
	// address, used for the tie-break on equal priority).
	Src netip.Addr
	// Packet is the parsed advertisement. The machine keeps no reference
	// to it after Step returns.
	Packet *Packet
}

// LinkDown tells the machine the interface lost its link: it goes to FAULT.
type LinkDown struct {
	// Reason says why the interface carries no adverts, for status and
	// logs; empty means "interface link down". A LinkDown with another
	// reason while the link is down already replaces the reason a FAULT
	// for it gives (the interface was created, but has no address yet).
	Reason string
}

// LinkUp tells the machine the interface link is back: it leaves FAULT as
// at startup.
type LinkUp struct{}

// OwnerFault tells the machine the virtual addresses cannot be held (the
// Owner failed to add one, or to put back one that disappeared): a MASTER
// sends a priority-0 advertisement, so that a backup takes over after
// Skew_Time, releases the addresses and goes to FAULT, like a BACKUP; the
// machine stays in FAULT until OwnerRecovered.
type OwnerFault struct{ Err error }

// reason is the text Machine.OwnerFault returns for the fault.
func (f OwnerFault) reason() string {
	if f.Err == nil {
		return "cannot hold the VIPs"
	}
	return "cannot hold the VIPs: " + f.Err.Error()
}

// OwnerRecovered tells the machine the addresses can be held again: it
// leaves FAULT as at startup (unless the link is down).
type OwnerRecovered struct{}

// SetPriorityAdjust sets the priority adjustment (the sum of the weights of
// failing tracked checks, usually negative). The effective priority is the
// configured priority plus Delta, clamped to 1..254; an address owner (255)
// is never adjusted.
type SetPriorityAdjust struct{ Delta int }

func (Startup) isEvent()           {}
func (Shutdown) isEvent()          {}
func (Tick) isEvent()              {}
func (Advert) isEvent()            {}
func (LinkDown) isEvent()          {}
func (LinkUp) isEvent()            {}
func (OwnerFault) isEvent()        {}
func (OwnerRecovered) isEvent()    {}
func (SetPriorityAdjust) isEvent() {}

// An Action is an output of Machine.Step, to be performed in order.
type Action interface{ isAction() }

// SendAdvert asks for an advertisement with the given priority to be sent
// to every destination: on becoming MASTER, on a change of priority or
// settings, at the end of a release, priority 0 on leaving. The periodic
// ones are PeriodicAdvert.
type SendAdvert struct{ Priority uint8 }

// PeriodicAdvert asks for the advertisement of a MASTER's advert timer,
// every Advertisement_Interval, with the given priority: sent like
// SendAdvert, unless an AdvertSender sends the periodic adverts.
type PeriodicAdvert struct{ Priority uint8 }

// Acquire asks for the virtual addresses to be added to the interface and
// announced (gratuitous ARP): the machine became MASTER, or, while MASTER,
// it heard a lower-priority router that believes itself master (a healed
// split brain), whose announcements may have taken the addresses' ARP
// entries away from us. The latter is at most once per master down
// interval.
type Acquire struct{}

// LowerMaster reports that the machine, MASTER, heard a router of lower
// priority advertise as MASTER (at most once per master down interval,
// with the Acquire that announces the addresses again): that router did
// not hear this one's adverts for a master down interval. A partition
// that healed, adverts lost on the way, or this router's adverts not
// sent at all: the instance asks its AdvertSender to show that it sends
// (AdvertSender.Check). The machine stays MASTER and answers with an
// advert (SendAdvert, which the instance sends itself), at which the
// other router gives way.
type LowerMaster struct {
	From     netip.Addr
	Priority uint8
}

// Release asks for the virtual addresses to be removed: the machine left
// MASTER, at once or, after giving way to another router, once that router
// announced them (see PeerAnnounced).
type Release struct{}

// StateChange reports a transition.
type StateChange struct {
	From, To State
	Reason   string
	// Priority is the router's effective priority when it changed state
	// (EffectivePriority: 0 while released).
	Priority uint8
	// Adopted marks the change of an adopted startup (Startup.Adopt) to
	// the state adopted: it continues the predecessor process's state,
	// nothing changed for the network.
	Adopted bool
}

// Drop reports an advertisement the machine dropped; Err wraps one of the
// sentinel errors (see DropReason), From, Priority and Interval are the
// advertisement's source, priority and interval. Peer is set when it
// carried this router's VRID: another router of this virtual router, whose
// configuration differs (see RefusedAdvert).
type Drop struct {
	Err      error
	Peer     bool
	From     netip.Addr
	Priority uint8
	Interval time.Duration
}

// IntervalClamped reports that a VRRPv3 master advertised an interval
// longer than Config.MaxAdoptedInterval allows: the machine adopted Used
// instead of Advertised as Master_Adver_Interval.
type IntervalClamped struct {
	From       netip.Addr
	Advertised time.Duration
	Used       time.Duration
}

func (SendAdvert) isAction()      {}
func (PeriodicAdvert) isAction()  {}
func (Acquire) isAction()         {}
func (LowerMaster) isAction()     {}
func (Release) isAction()         {}
func (StateChange) isAction()     {}
func (Drop) isAction()            {}
func (IntervalClamped) isAction() {}

// MasterInfo describes the last valid advertisement heard from another
// router.
type MasterInfo struct {
	Addr           netip.Addr    `json:"addr"`
	Priority       uint8         `json:"priority"`
	AdvertInterval time.Duration `json:"advert_interval"`
	// Heard is when it was received.
	Heard time.Time `json:"heard"`
}

// Machine is the VRRP state machine of RFC 5798 section 6 (RFC 3768
// section 6 for VRRPv2) as a step function: it owns no goroutine, never
// reads a clock and never touches the network. The caller feeds it events
// with the current time and performs the returned actions, and steps it
// with Tick at NextDeadline.
//
// A Machine is not safe for concurrent use.
type Machine struct {
	cfg      Config
	primary  netip.Addr
	vips     []netip.Addr
	authType uint8
	authData [8]byte

	state      State
	since      time.Time
	reason     string
	linkUp     bool
	linkDown   string // LinkDown's reason while the link is down; "": the usual one
	ownerFault string // why the addresses cannot be held; "" when they can
	adjust     int

	masterAdverInterval time.Duration
	masterDownAt        time.Time // BACKUP only; zero = stopped
	masterDownReason    downReason
	adverAt             time.Time  // MASTER only; zero = stopped
	lowerSince          time.Time  // first lower-priority advert of a pending preemption
	lastAnnounce        time.Time  // last Acquire
	master              MasterInfo // valid when hasMaster
	hasMaster           bool

	// Release (StepDown/Ready).
	released      bool
	releasedSince time.Time
	releasedUntil time.Time // zero: until Ready
	releaseReason string
	// Handover: a yielded MASTER keeps the addresses until lingerUntil
	// or until another host announced them all (announced).
	hearsAnnounce bool
	lingerUntil   time.Time // zero: not lingering
	handover      *Handover
	announced     map[netip.Addr]time.Time // last announcement by another host
	// Conflicts (see VIPConflict): the addresses another host announced
	// while MASTER, with when, until they count; the last counted.
	suspects      map[netip.Addr]time.Time
	conflict      VIPConflict
	differing     DifferingAddrs
	otherAdvertAt time.Time // another router's last advert heard
	// After Reconfigure: the previous addresses and VRRPv2 interval,
	// accepted until an advert with the configured ones is heard.
	prevVIPs     []netip.Addr
	prevInterval time.Duration
	// After a reload that shortened MaxAdoptedInterval (VRRPv3): the
	// previous one, until an advert within the new one is heard.
	prevMaxAdopted time.Duration
	// addrScratch is sameAddrs's buffer.
	addrScratch []netip.Addr
}

// NewMachine returns a machine in INIT for cfg (which should have passed
// Validate). primary is the local primary address, the source of our
// advertisements, compared with a sender's on equal priority.
func NewMachine(cfg Config, primary netip.Addr) *Machine {
	m := &Machine{
		cfg:                 cfg,
		primary:             primary.Unmap(),
		vips:                cfg.vipAddrs(),
		state:               StateInit,
		reason:              "not started",
		linkUp:              true,
		masterAdverInterval: cfg.AdvertInterval,
	}
	m.authType, m.authData = cfg.auth()
	return m
}

// State returns the current state.
func (m *Machine) State() State { return m.state }

// Since returns when the current state was entered (zero in INIT before
// Startup).
func (m *Machine) Since() time.Time { return m.since }

// Reason returns why the current state was entered.
func (m *Machine) Reason() string { return m.reason }

// LinkUp reports whether the machine believes the link is up.
func (m *Machine) LinkUp() bool { return m.linkUp }

// Master returns the last valid advertisement heard from another router,
// or nil.
func (m *Machine) Master() *MasterInfo {
	if !m.hasMaster {
		return nil
	}
	mi := m.master
	return &mi
}

// OwnerFault returns why the machine believes the addresses cannot be
// held, "" when they can.
func (m *Machine) OwnerFault() string { return m.ownerFault }

// PriorityAdjust returns the current priority adjustment.
func (m *Machine) PriorityAdjust() int { return m.adjust }

// EffectivePriority returns the priority advertised: the configured one
// plus the adjustment clamped to 1..254, or 255 for an address owner; 0
// while released (StepDown).
func (m *Machine) EffectivePriority() uint8 {
	if m.released {
		return 0
	}
	if m.cfg.Priority == 255 {
		return 255
	}
	p := int(m.cfg.Priority) + m.adjust
	return uint8(min(max(p, 1), 254))
}

// MasterAdverInterval returns the advertisement interval of the master
// (learnt from its advertisements in VRRPv3, the configured one in VRRPv2).
func (m *Machine) MasterAdverInterval() time.Duration { return m.masterAdverInterval }

// SkewTime returns Skew_Time: for VRRPv3 ((256 - Priority) *
// Master_Adver_Interval) / 256 (RFC 5798 section 6.1), for VRRPv2
// (256 - Priority) / 256 seconds (RFC 3768 section 6.1).
func (m *Machine) SkewTime() time.Duration {
	p := time.Duration(256 - int(m.EffectivePriority()))
	if m.cfg.Version == 2 {
		return p * time.Second / 256
	}
	return p * m.masterAdverInterval / 256
}

// MasterDownInterval returns Master_Down_Interval: three times the master's
// advertisement interval plus Skew_Time, and as many intervals more as
// Config.LateAdvertsTolerated says.
func (m *Machine) MasterDownInterval() time.Duration {
	return time.Duration(3+m.cfg.LateAdvertsTolerated)*m.masterAdverInterval + m.SkewTime()
}

// NextDeadline returns when the machine must next be stepped with Tick, and
// false when no timer runs.
func (m *Machine) NextDeadline() (time.Time, bool) {
	var at time.Time
	earliest := func(t time.Time) {
		if !t.IsZero() && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	switch m.state {
	case StateBackup:
		earliest(m.masterDownAt)
	case StateMaster:
		earliest(m.adverAt)
	}
	if other, ok := m.nextOtherDeadline(); ok {
		earliest(other)
	}
	return at, !at.IsZero()
}

// nextOtherDeadline is NextDeadline but for the timers of the state,
// MASTER's advert timer and BACKUP's master down timer: the end of a
// handover's lingering and of a release period, and when an announcement
// of another host becomes a conflict (see VIPConflict).
func (m *Machine) nextOtherDeadline() (time.Time, bool) {
	at := m.lingerUntil
	if m.released && !m.releasedUntil.IsZero() && (at.IsZero() || m.releasedUntil.Before(at)) {
		at = m.releasedUntil
	}
	if c, ok := m.nextConflictDeadline(); ok && (at.IsZero() || c.Before(at)) {
		at = c
	}
	return at, !at.IsZero()
}

// Step feeds ev to the machine at time now and returns the actions to
// perform, in order.
func (m *Machine) Step(now time.Time, ev Event) []Action {
	return m.StepInto(now, ev, nil)
}

// StepInto is Step appending the actions to buf[:0], whose storage it
// reuses: an Instance steps its machine with one buffer, so that sending
// an advertisement, or hearing one, allocates nothing.
func (m *Machine) StepInto(now time.Time, ev Event, buf []Action) []Action {
	out := buf[:0]
	switch ev := ev.(type) {
	case Startup:
		if m.state == StateInit {
			out = m.startup(now, out, ev.Adopt)
		}
	case Shutdown:
		out = m.shutdown(now, out)
	case Tick:
		out = m.tick(now, out)
	case Advert:
		out = m.advert(now, out, ev)
	case LinkDown:
		was, wasUp := m.faultReason(), m.linkUp
		m.linkUp, m.linkDown = false, ev.Reason
		if m.state == StateFault && !wasUp && was != m.faultReason() {
			// Still FAULT for the link, now for another reason.
			m.reason = strings.Replace(m.reason, was, m.faultReason(), 1)
		}
		out = m.fault(now, out, false)
	case LinkUp:
		m.linkUp, m.linkDown = true, ""
		if m.state == StateFault {
			out = m.start(now, out, "interface link up")
		}
	case OwnerFault:
		m.ownerFault = ev.reason()
		// A MASTER can still advertise: priority 0 lets a backup take
		// over after Skew_Time rather than a master down interval.
		out = m.fault(now, out, true)
	case OwnerRecovered:
		m.ownerFault = ""
		if m.state == StateFault {
			out = m.start(now, out, "VIPs can be held again")
		}
	case SetPriorityAdjust:
		before, base := m.EffectivePriority(), m.downTimerBase()
		m.adjust = ev.Delta
		out = m.priorityChanged(now, out, before)
		out = m.backupTimersFollow(now, out, before, base, false)
	case StepDown:
		out = m.stepDown(now, out, ev)
	case Ready:
		out = m.ready(now, out, "operator")
	case PeerAnnounced:
		out = m.peerAnnounced(now, out, ev)
	case OwnAnnounced:
		m.ownAnnounced(ev)
	case AnnouncingStopped:
		out = m.announcingStopped(now, out)
	case Reconfigure:
		out = m.reconfigure(now, out, ev.Config)
	}
	return out
}

// priorityChanged advertises the effective priority at once if it is no
// longer before and the machine is MASTER, so that a backup now of higher
// priority preempts without waiting for our next advert.
func (m *Machine) priorityChanged(now time.Time, out []Action, before uint8) []Action {
	if after := m.EffectivePriority(); after != before && m.state == StateMaster {
		out = append(out, SendAdvert{Priority: after})
		m.adverAt = now.Add(m.cfg.AdvertInterval)
	}
	return out
}

// faultReason returns why the machine must be in FAULT, "" if it need not.
func (m *Machine) faultReason() string {
	switch {
	case !m.linkUp && m.linkDown != "":
		return m.linkDown
	case !m.linkUp:
		return "interface link down"
	case m.ownerFault != "":
		return m.ownerFault
	}
	return ""
}

// fault moves a BACKUP or MASTER to FAULT for faultReason; a MASTER
// releases the addresses, after a priority-0 advertisement if resign.
func (m *Machine) fault(now time.Time, out []Action, resign bool) []Action {
	switch m.state {
	case StateMaster:
		m.adverAt = time.Time{}
		if resign {
			out = append(out, SendAdvert{Priority: 0})
		}
		out = m.transition(now, out, StateFault, m.faultReason())
		out = append(out, Release{})
	case StateBackup:
		m.masterDownAt = time.Time{}
		out = m.transition(now, out, StateFault, m.faultReason())
		if m.lingering() {
			out = m.cutHandover(now, out, "cut short: "+m.faultReason())
			out = append(out, Release{})
		}
	}
	return out
}

// startup is the Startup step from INIT, carrying on from a (see
// Adoption).
func (m *Machine) startup(now time.Time, out []Action, a Adoption) []Action {
	if a.State == StateMaster && m.faultReason() == "" && !m.released {
		out = m.becomeMaster(now, out, "startup: adopted from the process this one succeeds")
	} else {
		out = m.start(now, out, "startup")
	}
	if a.State == StateInit {
		return out
	}
	for i := range out {
		if c, ok := out[i].(StateChange); ok && c.To == a.State {
			c.Adopted = true
			out[i] = c
		}
	}
	if m.state != a.State {
		if a.State == StateMaster {
			// The predecessor's VIPs are on the interface and this
			// one does not hold them.
			out = append(out, Release{})
		}
		return out
	}
	if !a.Since.IsZero() && !a.Since.After(now) {
		m.since, m.reason = a.Since, a.Reason
	}
	if mi := a.Master; m.state == StateBackup && mi != nil && mi.Priority > 0 && !m.released &&
		mi.Addr.IsValid() && mi.AdvertInterval > 0 && !m.preempts(mi.Priority) &&
		(m.cfg.Version == 3 || mi.AdvertInterval == m.cfg.AdvertInterval) {
		// As the predecessor's last acceptance of its master's advert,
		// from now on. (A VRRPv2 interval other than the one
		// configured now was checked against an older file; this one
		// drops that master's adverts.)
		m.master, m.hasMaster = *mi, true
		out = m.adoptInterval(out, mi.Addr, mi.AdvertInterval)
		m.masterDownAt = now.Add(m.MasterDownInterval())
		m.masterDownReason = downReason{kind: downSilent, peer: mi.Addr}
	}
	return out
}

// start is the Startup event of RFC 5798 section 6.4.1, also used when the
// link comes back and when the addresses can be held again.
func (m *Machine) start(now time.Time, out []Action, why string) []Action {
	if fault := m.faultReason(); fault != "" {
		if m.state == StateFault {
			return out // still FAULT, for the other reason
		}
		return m.transition(now, out, StateFault, why+": "+fault)
	}
	if m.cfg.Priority == 255 && !m.released {
		return m.becomeMaster(now, out, why+": address owner (priority 255)")
	}
	m.masterAdverInterval = m.cfg.AdvertInterval
	m.masterDownAt = now.Add(m.MasterDownInterval())
	m.masterDownReason = downReason{kind: downNoAdvert}
	if m.released {
		m.masterDownReason = downReason{kind: downLastResort}
	}
	m.lowerSince = time.Time{}
	return m.transition(now, out, StateBackup, why)
}

func (m *Machine) shutdown(now time.Time, out []Action) []Action {
	switch m.state {
	case StateMaster:
		m.adverAt = time.Time{}
		out = append(out, SendAdvert{Priority: 0})
		out = m.transition(now, out, StateInit, "shutdown")
		out = append(out, Release{})
	case StateBackup, StateFault:
		m.masterDownAt = time.Time{}
		out = m.transition(now, out, StateInit, "shutdown")
		if m.lingering() {
			out = m.cutHandover(now, out, "cut short: shutdown")
			out = append(out, Release{})
		}
	}
	return out
}

func (m *Machine) tick(now time.Time, out []Action) []Action {
	if m.released && !m.releasedUntil.IsZero() && !now.Before(m.releasedUntil) {
		out = m.ready(now, out, "release period ended")
	}
	if m.lingering() && !now.Before(m.lingerUntil) {
		out = m.endHandover(now, out, fmt.Sprintf("%v did not announce the VIPs within master down interval: released", m.handover.Peer))
	}
	switch m.state {
	case StateBackup:
		if !m.masterDownAt.IsZero() && !now.Before(m.masterDownAt) {
			out = m.becomeMaster(now, out, m.masterDownReason.String(now))
		}
	case StateMaster:
		out = m.confirmConflicts(now, out)
		if !m.adverAt.IsZero() && !now.Before(m.adverAt) {
			out = append(out, PeriodicAdvert{Priority: m.EffectivePriority()})
			next := m.adverAt.Add(m.cfg.AdvertInterval)
			if !next.After(now) {
				// We fell behind (a suspended process, a stepped
				// clock): restart the period from now.
				next = now.Add(m.cfg.AdvertInterval)
			}
			m.adverAt = next
		}
	}
	return out
}

// advertDue returns when the PeriodicAdvert a MASTER sends at a Tick at
// now was due (the advert timer's expiry), or zero when none is due.
func (m *Machine) advertDue(now time.Time) time.Time {
	if m.state != StateMaster || m.adverAt.IsZero() || now.Before(m.adverAt) {
		return time.Time{}
	}
	return m.adverAt
}

func (m *Machine) becomeMaster(now time.Time, out []Action, why string) []Action {
	out = m.cutHandover(now, out, "cut short: MASTER again, keeping the VIPs")
	m.masterDownAt = time.Time{}
	m.lowerSince = time.Time{}
	m.adverAt = now.Add(m.cfg.AdvertInterval)
	m.lastAnnounce = now
	out = m.transition(now, out, StateMaster, why)
	return append(out, SendAdvert{Priority: m.EffectivePriority()}, Acquire{})
}

func (m *Machine) transition(now time.Time, out []Action, to State, why string) []Action {
	from := m.state
	m.state, m.since, m.reason = to, now, why
	if to != StateMaster {
		// It gave way, or stopped: what was heard was not a conflict.
		clear(m.suspects)
	}
	return append(out, StateChange{From: from, To: to, Reason: why, Priority: m.EffectivePriority()})
}

// validate is the receive check of RFC 5798 section 7.1 (RFC 3768 section
// 7.1) that depends on configuration. otherAddrs reports an advert
// accepted whose address list is neither the configured one nor the
// previous one (acceptsAddrs), to be reported (see DifferingAddrs).
func (m *Machine) validate(p *Packet) (otherAddrs bool, err error) {
	if p.Version != m.cfg.Version {
		return false, fmt.Errorf("checking advert: version %d, configured %d: %w", p.Version, m.cfg.Version, ErrBadVersion)
	}
	if p.VRID != m.cfg.VRID {
		return false, fmt.Errorf("checking advert: VRID %d, configured %d: %w", p.VRID, m.cfg.VRID, ErrWrongVRID)
	}
	if p.Version == 2 {
		if p.AuthType != m.authType || (m.authType == AuthTypeSimple && p.AuthData != m.authData) {
			return false, fmt.Errorf("checking advert: authentication type %d: %w", p.AuthType, ErrAuthMismatch)
		}
		if !m.acceptsInterval(p.AdvertInterval) {
			return false, fmt.Errorf("checking advert: interval %v, configured %v: %w", p.AdvertInterval, m.cfg.AdvertInterval, ErrIntervalMismatch)
		}
	}
	// RFC 5798 section 7.1: an address list that differs from ours is a
	// misconfiguration. Drop one that shares no address with ours (another
	// virtual router on the same VRID), unless the sender is the address
	// owner; accept, and report, one that does (see DifferingAddrs).
	if m.acceptsAddrs(p.Addrs) {
		return false, nil
	}
	if p.Priority != 255 && !sharesAddr(p.Addrs, m.vips) {
		return false, fmt.Errorf("checking advert: addresses %v, configured %v: %w", p.Addrs, m.vips, ErrAddressMismatch)
	}
	return true, nil
}

// sameAddrs reports whether a and b hold the same addresses in any order.
// It allocates nothing when scratch, which it reuses to sort copies of
// both, has room for them.
func sameAddrs(a, b []netip.Addr, scratch *[]netip.Addr) bool {
	if len(a) != len(b) {
		return false
	}
	buf := append((*scratch)[:0], a...)
	buf = append(buf, b...)
	*scratch = buf
	for i := range buf {
		buf[i] = buf[i].Unmap()
	}
	x, y := buf[:len(a)], buf[len(a):]
	slices.SortFunc(x, netip.Addr.Compare)
	slices.SortFunc(y, netip.Addr.Compare)
	return slices.Equal(x, y)
}

func (m *Machine) advert(now time.Time, out []Action, ev Advert) []Action {
	p := ev.Packet
	if p == nil {
		return out
	}
	otherAddrs, err := m.validate(p)
	if err != nil {
		return append(out, Drop{Err: err, Peer: p.VRID == m.cfg.VRID, From: ev.Src.Unmap(), Priority: p.Priority, Interval: p.AdvertInterval})
	}
	m.heardCurrent(p)
	src := ev.Src.Unmap()
	if otherAddrs {
		out = m.noteDiffering(now, out, src, p)
	}
	if m.state != StateBackup && m.state != StateMaster {
		return out // INIT and FAULT listen to nobody
	}
	heard := MasterInfo{Addr: src, Priority: p.Priority, AdvertInterval: p.AdvertInterval, Heard: now}
	// Another router advertises as MASTER: the announcements heard
	// about now are its (see VIPConflict), also those that reach a
	// router that became MASTER since.
	m.otherAdvertAt = now
	local := m.EffectivePriority()
	// In VRRPv2 the interval was checked to be ours; VRRPv3 adopts the
	// master's (RFC 5798 section 6.4.2), but no more than maxAdopted, so
	// that one forged advert cannot leave the group without a master for
	// minutes. adopt records the clamping when the interval is adopted.
	adopt := func() { out = m.adoptInterval(out, src, p.AdvertInterval) }
	switch m.state {
	case StateBackup:
		m.master, m.hasMaster = heard, true
		switch {
		case m.released:
			// Not eligible: every advert, priority 0 included, shows
			// a live router; take over only as the last resort.
			m.lowerSince = time.Time{}
			adopt()
			m.masterDownAt = now.Add(m.MasterDownInterval())
			m.masterDownReason = downReason{kind: downLastResort}
		case p.Priority == 0:
			// RFC 5798 6.4.2: the master stops; take over after
			// Skew_Time. A released master sends priority 0 at every
			// interval until a backup takes over: its next one must not
			// put off the Skew_Time its first one started, or a backup
			// whose Skew_Time is longer than that master's interval
			// (computed with a longer interval of its own, as after a
			// start) would never take over.
			at := now.Add(m.SkewTime())
			if k := m.masterDownReason.kind; k != downPrio0 && k != downReadyPrio0 || m.masterDownAt.IsZero() || at.Before(m.masterDownAt) {
				m.masterDownAt = at
				m.masterDownReason = downReason{kind: downPrio0, peer: src}
			}
		case !m.preempts(p.Priority):
			m.lowerSince = time.Time{}
			adopt()
			m.masterDownAt = now.Add(m.MasterDownInterval())
			m.masterDownReason = downReason{kind: downSilent, peer: src}
		case m.cfg.PreemptDelay > 0:
			// Preempt, but only preempt_delay after the first
			// lower-priority advertisement: until then accept it.
			if m.lowerSince.IsZero() {
				m.lowerSince = now
			}
			deadline := m.lowerSince.Add(m.cfg.PreemptDelay)
			if now.Before(deadline) {
				adopt()
				m.masterDownAt = now.Add(m.MasterDownInterval())
				m.masterDownReason = downReason{kind: downSilent, peer: src}
				if deadline.Before(m.masterDownAt) {
					m.masterDownAt = deadline
					m.masterDownReason = m.preemptReason(downPreemptDelay, now)
				}
			} else {
				// Discarded: the timer, at the deadline at the latest,
				// fires; the master is still advertising.
				m.masterDownReason = m.preemptReason(downPreemptDelay, now)
			}
		default:
			// Preempt: discard, the Master_Down_Timer fires. The
			// preemption's start is kept, for a reload that gives it
			// a preempt_delay.
			if m.lowerSince.IsZero() {
				m.lowerSince = now
			}
			m.masterDownReason = m.preemptReason(downPreempt, now)
		}
	case StateMaster:
		// VRRP settles which of the two stays MASTER.
		clear(m.suspects)
		switch {
		case p.Priority > local || (p.Priority == local && src.Compare(m.primary) > 0):
			// A released master (local 0) gives way to any router
			// that is not leaving too, and to a leaving one of
			// higher address.
			m.master, m.hasMaster = heard, true
			adopt()
			if !m.released && local > 0 && m.hearsAnnounce && !m.announcedSince(now.Add(-m.masterAdverInterval)) {
				// A last advert of ours before yielding: a master that
				// hears it announces the VIPs again (rmqlb and
				// keepalived both do), which ends the wait below. Else,
				// when the winner of a healed split brain was heard
				// first, it would never announce them, and the clients
				// that followed this side's announcements would wait
				// for their ARP entries to expire. Only announcements
				// of this handover count (within one interval of its
				// advert), not those that ended an earlier one.
				out = append(out, SendAdvert{Priority: local})
			}
			out = m.yield(now, out, src, p, local)
		case p.Priority == 0:
			// RFC 5798 6.4.3: another master stops; assert ourselves.
			m.master, m.hasMaster = heard, true
			out = append(out, SendAdvert{Priority: local})
			m.adverAt = now.Add(m.cfg.AdvertInterval)
		default:
			// RFC 5798 6.4.3: discard a lower priority advertisement.
			// Its sender thinks it is master and may have announced
			// our addresses: answer with an advert at once, which
			// makes it BACKUP without waiting for our next periodic
			// one (keepalived does too, unless
			// lower_prio_no_advert), and announce them again, without
			// changing state or timers.
			m.master, m.hasMaster = heard, true
			if now.Sub(m.lastAnnounce) >= m.MasterDownInterval() {
				m.lastAnnounce = now
				out = append(out, LowerMaster{From: src, Priority: p.Priority}, SendAdvert{Priority: local}, Acquire{})
			}
		}
	}
	return out
}

// String returns "FROM to TO: reason", for logs and examples.
func (c StateChange) String() string {
	s := fmt.Sprintf("%v to %v: %s", c.From, c.To, c.Reason)
	if c.Adopted {
		s += " (adopted)"
	}
	return s
}

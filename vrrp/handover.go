package vrrp

import (
	"fmt"
	"net/netip"
	"time"
)

// StepDown releases the virtual router for planned maintenance (`rmqlb
// vrrp release`): the router is not eligible as master until Until (zero:
// until Ready). Its effective priority is 0 meanwhile:
//
//   - a MASTER advertises priority 0 at once and at every interval, so
//     that the best backup takes over after its Skew_Time, and keeps the
//     addresses (and the sessions that come to them) until it hears the
//     new master's advertisement; it then becomes BACKUP and keeps them
//     until the new master has announced them (see PeerAnnounced);
//   - a BACKUP accepts every advertisement, of any priority and whatever
//     its preempt setting, so it never preempts; but when no advertisement
//     at all is heard for its Master_Down_Interval, which with priority 0
//     is one full Master_Adver_Interval longer than that of any eligible
//     backup, it takes over as the last resort (and, still released,
//     advertises priority 0, so that an eligible router that comes back
//     takes over from it).
//
// A StepDown while released replaces Until and Reason, and keeps the
// release's start.
type StepDown struct {
	// Until is when the release ends by itself; zero means at Ready.
	Until time.Time
	// Reason says why, for status and logs.
	Reason string
	// Since is when the release began, for one that carries on a release
	// made before this machine existed (an upgrade's predecessor, the run
	// before a restart); zero, or a time after the step's, means now.
	Since time.Time
}

// Ready ends a release (`rmqlb vrrp ready`): the router is eligible again
// with its configured priority. A MASTER advertises it at once; a BACKUP
// preempts (if it may) at the next advertisement of a lower priority, and
// takes over after Skew_Time when the last advertisement it heard was a
// master's priority 0.
type Ready struct{}

// PeerAnnounced tells the machine that another host announced the virtual
// address Addr (a gratuitous ARP or ARP reply from another MAC, reported
// by an Owner that implements AnnounceReporter). A router that yielded to
// a new master keeps its addresses until the new master has announced
// every one of them, so that clients' ARP entries point at the new master
// before the addresses leave this host.
type PeerAnnounced struct{ Addr netip.Addr }

// OwnAnnounced tells the machine that this host's Owner announced the
// virtual address Addr itself (reported by an AnnounceReporter): clients
// that heard it point at this host again, so an announcement of another
// host heard before it no longer counts. A master's scheduled
// announcement that went out just after the new master's is why.
type OwnAnnounced struct{ Addr netip.Addr }

// AnnouncingStopped tells the machine that the StopAnnouncing it asked
// for is done (the Owner, if it is a Quieter, returned from
// StopAnnouncing) and that every announcement the Owner reported until
// then has been stepped: a router that gave way and keeps its addresses
// ends the handover now if the new master has announced every address
// after this host's own last announcement. Instance steps it right after
// the StopAnnouncing action; nothing else may be stepped in between.
type AnnouncingStopped struct{}

func (StepDown) isEvent()          {}
func (Ready) isEvent()             {}
func (PeerAnnounced) isEvent()     {}
func (OwnAnnounced) isEvent()      {}
func (AnnouncingStopped) isEvent() {}

// StopAnnouncing asks the Owner to stop announcing the addresses while it
// still holds them (see Quieter): the machine gave way to a new master and
// keeps the addresses until that master has announced them; an
// announcement of ours meanwhile could take the clients back.
type StopAnnouncing struct{}

func (StopAnnouncing) isAction() {}

// HandoverDone reports that a handover ended: the addresses were released
// after the new master announced them, or after the bound, or the
// handover was cut short. Info is the completed record.
type HandoverDone struct{ Info Handover }

func (HandoverDone) isAction() {}

// Handover describes the last time the router, as MASTER, gave the
// virtual addresses to another router: after StepDown (Planned), or to a
// router of higher priority (a preemption, a healed split brain).
type Handover struct {
	// Peer is the new master and PeerPriority the priority it advertised.
	Peer         netip.Addr `json:"peer"`
	PeerPriority uint8      `json:"peer_priority"`
	// Planned is set when the router was released (StepDown) and
	// Requested is then when the release was applied.
	Planned   bool      `json:"planned"`
	Requested time.Time `json:"requested,omitzero"`
	// PeerHeard is when the new master's advertisement was heard: the
	// router became BACKUP then.
	PeerHeard time.Time `json:"peer_heard"`
	// Done is when the addresses were released (zero while they are
	// still held, waiting for the new master's announcement), and
	// Outcome says how the handover ended or what it waits for.
	Done    time.Time `json:"done,omitzero"`
	Outcome string    `json:"outcome"`
	// Announced is set when the new master announced every address
	// before the router released them.
	Announced bool `json:"announced"`
}

// Released reports whether the router is released (StepDown without
// Ready since), and until when (zero: until Ready).
func (m *Machine) Released() (bool, time.Time) { return m.released, m.releasedUntil }

// ReleasedSince returns when the current release began and why (zero and
// "" when not released).
func (m *Machine) ReleasedSince() (time.Time, string) {
	if !m.released {
		return time.Time{}, ""
	}
	return m.releasedSince, m.releaseReason
}

// LastHandover returns the last handover, or nil.
func (m *Machine) LastHandover() *Handover {
	if m.handover == nil {
		return nil
	}
	h := *m.handover
	return &h
}

// WatchAnnouncements tells the machine that PeerAnnounced events will come
// (the Owner reports the announcements it hears): a MASTER that yields to
// another router then keeps the addresses until that router has announced
// them, at most one Master_Down_Interval. Without it the addresses are
// released at once. Call it before Startup.
func (m *Machine) WatchAnnouncements() { m.hearsAnnounce = true }

func (m *Machine) stepDown(now time.Time, out []Action, ev StepDown) []Action {
	if !m.released {
		m.releasedSince = now
		if !ev.Since.IsZero() && ev.Since.Before(now) {
			m.releasedSince = ev.Since
		}
	}
	m.released, m.releasedUntil, m.releaseReason = true, ev.Until, ev.Reason
	if m.releaseReason == "" {
		m.releaseReason = "released"
	}
	switch m.state {
	case StateMaster:
		// Priority 0 at once: the best backup takes over after its
		// Skew_Time; we keep advertising 0 until we hear it.
		out = append(out, SendAdvert{Priority: m.EffectivePriority()})
		m.adverAt = now.Add(m.cfg.AdvertInterval)
	case StateBackup:
		// No preemption any more (a pending one is dropped); take over
		// only as the last resort.
		m.lowerSince = time.Time{}
		m.masterDownAt = now.Add(m.MasterDownInterval())
		m.masterDownReason = downReason{kind: downLastResort}
	}
	return out
}

func (m *Machine) ready(now time.Time, out []Action, why string) []Action {
	if !m.released {
		return out
	}
	base := m.downTimerBase()
	m.released, m.releasedUntil, m.releaseReason, m.releasedSince = false, time.Time{}, "", time.Time{}
	m.rescaleDownTimer(now, base)
	switch m.state {
	case StateMaster:
		// Nobody took over: advertise our priority again at once, so
		// that the backups stop their Skew_Time timers.
		out = append(out, SendAdvert{Priority: m.EffectivePriority()})
		m.adverAt = now.Add(m.cfg.AdvertInterval)
	case StateBackup:
		if m.hasMaster && m.master.Priority == 0 {
			// The master is leaving (it is released too): take over
			// after Skew_Time, as on its priority 0 (RFC 5798 6.4.2).
			if at := now.Add(m.SkewTime()); m.masterDownAt.IsZero() || at.Before(m.masterDownAt) {
				m.masterDownAt = at
			}
			m.masterDownReason = downReason{kind: downReadyPrio0, peer: m.master.Addr, why: why}
		} else if m.masterDownReason.kind == downLastResort {
			m.masterDownReason = downReason{kind: downNoAdvert}
			if m.hasMaster {
				m.masterDownReason = downReason{kind: downSilent, peer: m.master.Addr}
			}
		}
	}
	return out
}

// yield makes a MASTER that heard p from src, a router it must give way
// to, a BACKUP. With an Owner that reports announcements the addresses
// stay until src announced them (lingering), else they are released now.
// The caller has adopted the master's interval.
func (m *Machine) yield(now time.Time, out []Action, src netip.Addr, p *Packet, local uint8) []Action {
	m.adverAt = time.Time{}
	m.lowerSince = time.Time{}
	why := fmt.Sprintf("higher priority master %v (priority %d, ours %d)", src, p.Priority, local)
	if m.released {
		why = fmt.Sprintf("released: handed over to %v (priority %d)", src, p.Priority)
	}
	out = m.transition(now, out, StateBackup, why)
	m.masterDownAt = now.Add(m.MasterDownInterval())
	m.masterDownReason = downReason{kind: downSilent, peer: src}
	if m.released {
		m.masterDownReason = downReason{kind: downLastResort}
	}
	m.handover = &Handover{Peer: src, PeerPriority: p.Priority, Planned: m.released, PeerHeard: now}
	if m.released {
		m.handover.Requested = m.releasedSince
	}
	if !m.hearsAnnounce {
		// Nothing to wait for: release at once, as RFC 5798 6.4.3 says.
		m.handover.Done, m.handover.Outcome = now, "released at once (the VIP owner reports no announcements)"
		return append(out, Release{})
	}
	// Quiet first, also when the new master has announced the addresses
	// already: whether it did after our own last announcement is known
	// once the Owner is quiet (AnnouncingStopped), as an announcement of
	// ours may be going out right now.
	m.lingerUntil = now.Add(m.MasterDownInterval())
	m.handover.Outcome = fmt.Sprintf("keeping the VIPs until %v announces them (at most until %s)", src, m.lingerUntil.Format(time.RFC3339Nano))
	return append(out, StopAnnouncing{})
}

// announcingStopped ends a handover in progress whose new master had
// announced every address before the Owner went quiet, after our own last
// announcement.
func (m *Machine) announcingStopped(now time.Time, out []Action) []Action {
	if m.lingering() && m.allAnnounced() {
		m.handover.Announced = true
		out = m.endHandover(now, out, fmt.Sprintf("%v had announced the VIPs", m.handover.Peer))
	}
	return out
}

// lingering reports whether the machine holds the addresses after
// yielding, waiting for the new master's announcement.
func (m *Machine) lingering() bool { return !m.lingerUntil.IsZero() }

// allAnnounced reports whether another host announced every address for
// the handover in progress (m.handover): no longer ago than one
// Master_Adver_Interval before it began (the new master's announcement
// may be processed before its advert).
func (m *Machine) allAnnounced() bool {
	return m.announcedSince(m.handover.PeerHeard.Add(-m.masterAdverInterval))
}

// announcedSince reports whether another host announced every address at
// or after since. The announcements of an earlier handover are older:
// they say nothing of the master heard now.
func (m *Machine) announcedSince(since time.Time) bool {
	for _, a := range m.vips {
		at, ok := m.announced[a]
		if !ok || at.Before(since) {
			return false
		}
	}
	return true
}

// ownAnnounced forgets another host's announcement of the address: ours
// came after it.
func (m *Machine) ownAnnounced(ev OwnAnnounced) {
	delete(m.announced, ev.Addr.Unmap())
}

func (m *Machine) peerAnnounced(now time.Time, out []Action, ev PeerAnnounced) []Action {
	a := ev.Addr.Unmap()
	if m.announced == nil {
		m.announced = make(map[netip.Addr]time.Time)
	}
	m.announced[a] = now
	m.suspectConflict(now, a)
	if m.lingering() && m.allAnnounced() {
		m.handover.Announced = true
		out = m.endHandover(now, out, fmt.Sprintf("%v announced the VIPs", m.handover.Peer))
	}
	return out
}

// endHandover releases the addresses of a handover in progress with the
// given outcome.
func (m *Machine) endHandover(now time.Time, out []Action, outcome string) []Action {
	m.lingerUntil = time.Time{}
	m.handover.Done, m.handover.Outcome = now, outcome
	return append(out, HandoverDone{Info: *m.handover}, Release{})
}

// cutHandover ends a handover in progress without releasing (the caller
// releases, or holds the addresses as MASTER again).
func (m *Machine) cutHandover(now time.Time, out []Action, outcome string) []Action {
	if !m.lingering() {
		return out
	}
	m.lingerUntil = time.Time{}
	m.handover.Done, m.handover.Outcome = now, outcome
	return append(out, HandoverDone{Info: *m.handover})
}

package vrrp

import (
	"net/netip"
	"slices"
	"time"
)

// VIPConflict is another host announcing a virtual address while this
// router was MASTER and stayed MASTER: a gratuitous ARP, or an ARP
// request or reply with the address as its sender (an answer to the
// Owner's ARP probe among them), from another host's link-layer address
// (for IPv6 a neighbour advertisement, an answer to the Owner's DAD
// probe among them), reported by an Owner that implements
// AnnounceReporter. A
// VRRP router that becomes MASTER announces the addresses too, and
// advertises: this router hears its advertisement, and the two settle
// which stays MASTER. An announcement heard while MASTER and followed,
// for Master_Down_Interval, by no advertisement of another router is a
// host that holds the address beside this one: one configured with it
// by hand or by another program, a VRRP router of another VRID or
// configuration whose advertisements are not counted (see
// RefusedAdvert), or the other side of a split brain that does not hear
// this one. Clients that hear it send their packets there.
type VIPConflict struct {
	// Addr is the address announced and At when it was first heard
	// (of the announcements heard while MASTER and not yet counted).
	Addr netip.Addr `json:"addr"`
	At   time.Time  `json:"at"`
	// Count counts the conflicts since the instance was created.
	Count uint64 `json:"count"`
}

// ConflictHeard reports a conflict counted (see VIPConflict), for the
// log: Info is the last one.
type ConflictHeard struct{ Info VIPConflict }

func (ConflictHeard) isAction() {}

// LastConflict returns the last conflict counted, with the count; nil if
// none.
func (m *Machine) LastConflict() *VIPConflict {
	if m.conflict.Count == 0 {
		return nil
	}
	c := m.conflict
	return &c
}

// suspectConflict notes that another host announced addr while the
// machine is MASTER: a conflict once the machine is still MASTER one
// Master_Down_Interval later (confirmConflicts), unless it heard another
// router's advertisement within Master_Down_Interval before or hears one
// meanwhile (advert forgets what was noted). An address already noted
// keeps its first time.
func (m *Machine) suspectConflict(now time.Time, addr netip.Addr) {
	if m.state != StateMaster || !m.otherAdvertAt.IsZero() && now.Sub(m.otherAdvertAt) < m.MasterDownInterval() {
		// Not MASTER; or another router advertised as MASTER just
		// before: its announcement.
		return
	}
	if m.suspects == nil {
		m.suspects = make(map[netip.Addr]time.Time)
	}
	if _, ok := m.suspects[addr]; !ok {
		m.suspects[addr] = now
	}
}

// confirmConflicts counts as conflicts the announcements noted by
// suspectConflict at least Master_Down_Interval ago, of the addresses the
// machine still has, and forgets them; Tick calls it while MASTER (a
// machine that leaves MASTER forgets them: transition).
func (m *Machine) confirmConflicts(now time.Time, out []Action) []Action {
	for a, at := range m.suspects {
		if now.Sub(at) < m.MasterDownInterval() {
			continue
		}
		delete(m.suspects, a)
		if !slices.Contains(m.vips, a) {
			continue
		}
		m.conflict = VIPConflict{Addr: a, At: at, Count: m.conflict.Count + 1}
		out = append(out, ConflictHeard{Info: m.conflict})
	}
	return out
}

// nextConflictDeadline returns when the earliest announcement noted by
// suspectConflict becomes a conflict, and false when none is noted.
func (m *Machine) nextConflictDeadline() (time.Time, bool) {
	var at time.Time
	for _, t := range m.suspects {
		if at.IsZero() || t.Before(at) {
			at = t
		}
	}
	if at.IsZero() {
		return at, false
	}
	return at.Add(m.MasterDownInterval()), true
}

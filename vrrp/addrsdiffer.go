package vrrp

import (
	"net/netip"
	"slices"
	"time"
)

// DifferingAddrs is the last advertisement of this router's VRID that
// was accepted although its address list differs from the configured
// one (Config.VIPs): it shares at least one address with it.
//
// RFC 5798 section 7.1 leaves the check of the addresses to the
// receiver (it MAY verify them). The machine drops an advertisement that
// shares no address with its own (another virtual router with the same
// VRID on the link, whose election must stay apart from this one), and
// accepts one that shares some: a router of this virtual router whose
// list is being changed, one host at a time, by a reload. Dropping that
// one would make every BACKUP still on the previous list take over
// beside the MASTER reloaded first (a split brain until all are
// reloaded). The lists should still agree: a router that takes over holds
// only the addresses of its own list.
type DifferingAddrs struct {
	// From is the sender, Priority the priority it advertised and Addrs
	// its addresses (in the order it sent them).
	From     netip.Addr   `json:"from"`
	Priority uint8        `json:"priority"`
	Addrs    []netip.Addr `json:"addrs"`
	// Since is when From was first heard advertising Addrs (since it
	// last advertised another list, or another sender did), At the last
	// time. Count counts such advertisements since the instance was
	// created (also those of other senders or lists).
	Since time.Time `json:"since"`
	At    time.Time `json:"at"`
	Count uint64    `json:"count"`
}

// AddrsDiffer reports an advertisement accepted with a differing address
// list (see DifferingAddrs): Info is the record with it counted. New is
// set when its sender or its list is not the last one's, for the log.
type AddrsDiffer struct {
	Info DifferingAddrs
	New  bool
}

func (AddrsDiffer) isAction() {}

// sharesAddr reports whether a and b have an address in common.
func sharesAddr(a, b []netip.Addr) bool {
	for _, x := range a {
		for _, y := range b {
			if x.Unmap() == y.Unmap() {
				return true
			}
		}
	}
	return false
}

// LastDiffering returns the last advertisement accepted with a differing
// address list, with the count; nil if none.
func (m *Machine) LastDiffering() *DifferingAddrs {
	if m.differing.Count == 0 {
		return nil
	}
	d := m.differing
	return &d
}

// noteDiffering records an advertisement p from src, accepted, whose
// address list is neither the configured one nor the previous one
// (validate's otherAddrs), and reports it. The list is copied only when it is
// not the last one's.
func (m *Machine) noteDiffering(now time.Time, out []Action, src netip.Addr, p *Packet) []Action {
	d := &m.differing
	fresh := d.Count == 0 || d.From != src || !slices.Equal(d.Addrs, p.Addrs)
	if fresh {
		d.From, d.Addrs, d.Since = src, slices.Clone(p.Addrs), now
	}
	d.Priority, d.At = p.Priority, now
	d.Count++
	return append(out, AddrsDiffer{Info: *d, New: fresh})
}

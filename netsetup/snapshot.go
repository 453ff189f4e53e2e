package netsetup

import (
	"cmp"
	"fmt"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
)

// VIPSetSnapshot is the state of a VIPSet at one moment, for status output.
type VIPSetSnapshot struct {
	// Interface is the configured interface name.
	Interface string `json:"interface"`
	// Label is the IPv4 address label used as marker ("" when the interface
	// name is too long for one; the address protocol, or on kernels before
	// 6.3 the VIPSet's own bookkeeping, then marks alone: see
	// VIPSnapshot.Marker).
	Label string `json:"label"`
	// Held is true from an Acquire that found the interface until the
	// next Release, also when that Acquire could not add every VIP (Fault
	// then says why), so that Release removes what was added.
	Held bool `json:"held"`
	// VIPs has one entry per configured VIP, in configuration order.
	VIPs []VIPSnapshot `json:"vips"`
	// Error is set when the interface addresses could not be read, in
	// which case every Present is false.
	Error string `json:"error,omitempty"`
	// Fault is set while the VIPs cannot be held: adding one failed, in
	// Acquire or when putting back one that disappeared. The VRRP
	// instance is in FAULT meanwhile.
	Fault string `json:"fault,omitempty"`
	// Faults counts the faults since start.
	Faults uint64 `json:"faults"`
}

// VIPSnapshot is the state of one VIP.
type VIPSnapshot struct {
	// Prefix is the VIP with its prefix length.
	Prefix netip.Prefix `json:"prefix"`
	// Present is true when the address is on the interface right now (read
	// from the kernel when the snapshot was taken), whoever added it.
	Present bool `json:"present"`
	// Marked is true when the present address carries rmqlb's marker
	// (label and/or address protocol), i.e. an rmqlb daemon added it.
	Marked bool `json:"marked"`
	// Owned is true when this VIPSet added the address (or found it with
	// our marker) and has not removed it since: what Release removes for
	// a VIP that can carry no marker.
	Owned bool `json:"owned"`
	// Marker is how this VIP is recognised as ours: "label+protocol",
	// "label", "protocol" or "bookkeeping" (this daemon's own record
	// only, on kernels before 6.3 for IPv6 and for interface names of
	// 14-15 bytes). See Marker.
	Marker Marker `json:"marker"`
	// Readded counts the times the VIP disappeared from the interface
	// while held and was added again.
	Readded uint64 `json:"readded"`
	// GARPSent counts the announcements sent for this VIP since start:
	// gratuitous ARPs for IPv4, unsolicited neighbour advertisements for
	// IPv6.
	GARPSent uint64 `json:"garp_sent"`
	// LastGARP is the time of the last announcement sent; zero if none.
	LastGARP time.Time `json:"last_garp,omitzero"`
	// LastError is the error of the last attempt to add or remove this
	// VIP (cleared once it is held or removed), else that of the last
	// announcement of it (cleared by the next one sent).
	LastError string `json:"last_error,omitempty"`
	// PeerAnnounced counts the announcements of this VIP by other hosts
	// heard while it was held (a new master's gratuitous ARPs or
	// neighbour advertisements during a handover; at other times a host
	// that claims it too);
	// LastPeerAnnounce is the last one's time and LastPeerMAC its sender.
	PeerAnnounced    uint64    `json:"peer_announced"`
	LastPeerAnnounce time.Time `json:"last_peer_announce,omitzero"`
	LastPeerMAC      string    `json:"last_peer_mac,omitempty"`
	// PeerSuperseded counts those of PeerAnnounced that the kernel had
	// received before this host's own last announcement went out (read
	// after it): ours came last, so they were not reported as the new
	// master's (see ReportAnnouncements).
	PeerSuperseded uint64 `json:"peer_superseded,omitempty"`
}

// Snapshot returns the state of the VIPSet. Presence is read from the
// kernel now; the call does netlink I/O but takes no long-held lock.
func (s *VIPSet) Snapshot() VIPSetSnapshot {
	present := map[netip.Addr]addrInfo{}
	var readErr error
	if link, err := netlink.LinkByName(s.cfg.Interface); err != nil {
		readErr = err
	} else if addrs, err := listAddrs(link.Attrs().Index); err != nil {
		readErr = err
	} else {
		for _, a := range addrs {
			present[a.prefix.Addr()] = a
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := VIPSetSnapshot{
		Interface: s.cfg.Interface,
		Label:     s.label,
		Held:      s.held,
		Fault:     errText(s.fault),
		Faults:    s.faults,
		VIPs:      make([]VIPSnapshot, len(s.vips)),
	}
	if readErr != nil {
		snap.Error = fmt.Sprintf("reading addresses of %s: %v", s.cfg.Interface, readErr)
	}
	for i, v := range s.vips {
		a, ok := present[v.prefix.Addr()]
		snap.VIPs[i] = VIPSnapshot{
			Prefix:    v.prefix,
			Present:   ok,
			Marked:    ok && isOurs(a, s.cfg.Interface, s.tag),
			Owned:     v.owned,
			Readded:   v.readded,
			Marker:    v.marker,
			GARPSent:  v.garpSent,
			LastGARP:  v.lastGARP,
			LastError: cmp.Or(v.holdErr, v.announceErr),

			PeerAnnounced:    v.peerAnnounced,
			LastPeerAnnounce: v.lastPeerAnnounce,
			LastPeerMAC:      v.lastPeerMAC,
			PeerSuperseded:   v.peerSuperseded,
		}
	}
	return snap
}

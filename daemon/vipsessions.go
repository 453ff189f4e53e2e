package daemon

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/netsetup"
	"github.com/rmqlb/rmqlb/vrrp"
)

// releasingOwner is the VIP owner a VRRP instance drives: the real one,
// and after every Release (the instance stopped being MASTER: a peer took
// over, a track lowered its priority, split brain healed, or it stops) the
// sessions of the VIPs are closed on every listener. Their clients'
// packets now reach the new master, so the sessions here could only hold
// their brokers' connections open (exclusive queues, unacknowledged
// deliveries) until the broker's heartbeat timeout; closed at once, the
// broker frees them and the client's reconnect through the new master
// finds them free.
//
// A reload that changes the VIPs goes through Update, which keeps the
// list whose sessions Release closes (and the notify hooks' RMQLB_VIPS)
// current, and closes the sessions of the VIPs it removed at once: their
// address left the interface, so their clients' packets reach no one.
type releasingOwner struct {
	VIPOwner
	listeners func() []sessionCloser
	log       *zap.Logger

	mu       sync.Mutex
	prefixes []netip.Prefix // the VIPs; replaced, never changed in place
}

// newReleasingOwner wraps o, the owner of vips.
func newReleasingOwner(o VIPOwner, vips []netip.Prefix, listeners func() []sessionCloser, log *zap.Logger) *releasingOwner {
	return &releasingOwner{VIPOwner: o, listeners: listeners, log: log, prefixes: slices.Clone(vips)}
}

// VIPs returns the VIPs now; the caller must not change the slice. Safe
// from any goroutine.
func (o *releasingOwner) VIPs() []netip.Prefix {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.prefixes
}

// Update changes the VIPs (a reload), then closes the sessions of the
// VIPs it removed.
func (o *releasingOwner) Update(cfg netsetup.VIPConfig) error {
	return o.updateKeeping(cfg, nil)
}

// updateKeeping is Update, but leaves the sessions of a removed VIP for
// which kept (nil: none) reports true: one that another instance of this
// daemon, MASTER, takes over in the same reload, whose address is back on
// the host at once.
func (o *releasingOwner) updateKeeping(cfg netsetup.VIPConfig, kept func(netip.Addr) bool) error {
	if err := o.VIPOwner.Update(cfg); err != nil {
		return err
	}
	o.mu.Lock()
	prev := o.prefixes
	o.prefixes = slices.Clone(cfg.VIPs)
	o.mu.Unlock()
	gone := added(cfg.VIPs, prev) // the addresses prev has and cfg not
	if kept != nil {
		gone = slices.DeleteFunc(gone, kept)
	}
	if n := o.closeSessions(gone); n > 0 {
		o.log.Info("VIPs removed by a reload: closed their sessions", zap.Int("sessions", n))
	}
	return nil
}

// closeSessions closes the sessions of addrs on every listener and
// returns how many it closed.
func (o *releasingOwner) closeSessions(addrs []netip.Addr) int {
	if len(addrs) == 0 {
		return 0
	}
	n := 0
	for _, l := range o.listeners() {
		n += l.CloseSessionsTo(addrs)
	}
	return n
}

// sessionCloser closes the sessions of addresses that left this host
// (balancer.Listener).
type sessionCloser interface {
	CloseSessionsTo(addrs []netip.Addr) int
}

// Release releases the VIPs, then closes their sessions.
func (o *releasingOwner) Release(ctx context.Context) error {
	err := o.VIPOwner.Release(ctx)
	vips := o.VIPs()
	addrs := make([]netip.Addr, len(vips))
	for i, p := range vips {
		addrs[i] = p.Addr()
	}
	if n := o.closeSessions(addrs); n > 0 {
		o.log.Info("VIPs left this host: closed their sessions", zap.Int("sessions", n))
	}
	return err
}

// The optional interfaces of the owner (vrrp.FaultReporter,
// vrrp.AnnounceReporter, vrrp.Quieter, recheckSetter) pass through the
// wrapper: the instance asks the owner for them, and a wrapper that hid
// them would turn off fault reports and planned hand-overs.

// ReportFaults passes the owner's fault reports on (vrrp.FaultReporter).
func (o *releasingOwner) ReportFaults(f func(error)) {
	if fr, ok := o.VIPOwner.(vrrp.FaultReporter); ok {
		fr.ReportFaults(f)
	}
}

// ReportAnnouncements passes the owner's reports of announcements, its
// own and other hosts', on (vrrp.AnnounceReporter).
func (o *releasingOwner) ReportAnnouncements(f func(addr netip.Addr, own bool)) {
	if ar, ok := o.VIPOwner.(vrrp.AnnounceReporter); ok {
		ar.ReportAnnouncements(f)
	}
}

// StopAnnouncing passes on (vrrp.Quieter).
func (o *releasingOwner) StopAnnouncing() {
	if q, ok := o.VIPOwner.(vrrp.Quieter); ok {
		q.StopAnnouncing()
	}
}

// AdoptHeld passes on (heldAdopter).
func (o *releasingOwner) AdoptHeld(owned []netip.Prefix) {
	if a, ok := o.VIPOwner.(heldAdopter); ok {
		a.AdoptHeld(owned)
	}
}

// ResumeAnnouncing passes on (vrrp.Quieter).
func (o *releasingOwner) ResumeAnnouncing() {
	if q, ok := o.VIPOwner.(vrrp.Quieter); ok {
		q.ResumeAnnouncing()
	}
}

// SetRecheck passes on (recheckSetter).
func (o *releasingOwner) SetRecheck(d time.Duration) {
	if r, ok := o.VIPOwner.(recheckSetter); ok {
		r.SetRecheck(d)
	}
}

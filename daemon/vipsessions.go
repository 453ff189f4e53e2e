package daemon

import (
	"context"
	"net/netip"
	"time"

	"go.uber.org/zap"

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
type releasingOwner struct {
	VIPOwner
	vips      []netip.Addr
	listeners func() []sessionCloser
	log       *zap.Logger
}

// sessionCloser closes the sessions of addresses that left this host
// (balancer.Listener).
type sessionCloser interface {
	CloseSessionsTo(addrs []netip.Addr) int
}

// Release releases the VIPs, then closes their sessions.
func (o *releasingOwner) Release(ctx context.Context) error {
	err := o.VIPOwner.Release(ctx)
	n := 0
	for _, l := range o.listeners() {
		n += l.CloseSessionsTo(o.vips)
	}
	if n > 0 {
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

// ReportAnnouncements passes the owner's reports of other hosts'
// announcements on (vrrp.AnnounceReporter).
func (o *releasingOwner) ReportAnnouncements(f func(netip.Addr)) {
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

// SetRecheck passes on (recheckSetter).
func (o *releasingOwner) SetRecheck(d time.Duration) {
	if r, ok := o.VIPOwner.(recheckSetter); ok {
		r.SetRecheck(d)
	}
}

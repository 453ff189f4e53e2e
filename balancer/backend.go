package balancer

import (
	"net/netip"
	"sync/atomic"
	"time"
)

// backend is the live state of one server. Fields above the atomics are
// guarded by Listener.mu; the atomics are updated by the event loops
// without it. A session keeps its *backend after the backend is removed by
// Apply, so counters stay consistent.
type backend struct {
	name    string
	addr    netip.AddrPort
	maxConn int
	proxy   string // "", v1, v2 (backend's own setting, "" = inherit)
	weight  int
	state   BackendState
	active  int  // sessions assigned (connecting or established)
	cw      int  // smooth wrr current weight
	removed bool // dropped by Apply; kept alive by its sessions
	since   time.Time
	reason  string

	total    atomic.Uint64
	fails    atomic.Uint64
	bytesIn  atomic.Uint64 // client -> backend
	bytesOut atomic.Uint64 // backend -> client
}

func newBackend(c BackendConfig, now time.Time) *backend {
	return &backend{
		name:    c.Name,
		addr:    c.Address,
		maxConn: c.MaxConn,
		proxy:   c.ProxyProtocol,
		weight:  c.Weight,
		since:   now,
		reason:  "configured",
	}
}

// usable reports whether b may take a new connection now.
func (b *backend) usable() bool {
	return !b.removed && b.state.takesNew() && b.weight > 0 &&
		(b.maxConn == 0 || b.active < b.maxConn)
}

// full reports whether b would take connections if it were not at maxconn.
func (b *backend) full() bool {
	return !b.removed && b.state.takesNew() && b.weight > 0 &&
		b.maxConn > 0 && b.active >= b.maxConn
}

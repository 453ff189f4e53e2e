package balancer

import (
	"net/netip"
	"sync/atomic"
	"time"

	rbackend "github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/proxyproto"
)

// backend is the live state of one server. Fields above the atomics are
// guarded by Listener.mu; the atomics are updated by the event loops
// without it. A session keeps its *backend after the backend is removed by
// Apply, so counters stay consistent.
type backend struct {
	name    string
	addr    netip.AddrPort
	maxConn int
	proxy   proxyproto.Version
	weight  int // weight in effect: the operator's override, else cfgWeight
	// cfgWeight is the configured weight (NewListener, Apply); override
	// is set while an operator's weight (SetBackendWeight) replaces it.
	cfgWeight int
	override  bool
	percent   int // share of weight in effect, 1..100 (slow start); 100 otherwise
	state     rbackend.State
	active    int       // sessions assigned (connecting or established)
	cw        int64     // smooth wrr current weight (pickSmooth)
	removed   bool      // dropped by Apply; kept alive by its sessions
	removedAt time.Time // when Apply removed it; valid while removed
	since     time.Time
	reason    string
	// backup is a standby server (BackendConfig.Backup): it takes new
	// connections only while no other backend can.
	backup bool
	// loops is set once the backend's address turned out to be this
	// listener's own (SelfAddress): it takes no new connection until
	// Apply (a reload) configures it again.
	loops bool
	// brokerFull is set while the backend's checks find its broker
	// refusing new clients at its own connection limit
	// (SetBackendFull): it takes new connections only when no other
	// backend can.
	brokerFull bool

	total    atomic.Uint64
	fails    atomic.Uint64
	bytesIn  atomic.Uint64 // client -> backend
	bytesOut atomic.Uint64 // backend -> client
	// ended counts the backend's established sessions that ended, by
	// why they ended (EndReason): written by the event loops, read by
	// Snapshot.
	ended [numEndReasons]atomic.Uint64
	// sentAt is the loop time (Listener.epoch) of the latest write of
	// the backend's bytes to a client; 0: none yet.
	sentAt atomic.Int64
}

func newBackend(c BackendConfig, now time.Time) *backend {
	b := &backend{name: c.Name, addr: c.Address}
	b.configure(c, now)
	return b
}

// configure sets b up as a backend just configured with c: its settings,
// full weight share, no operator's weight, and Up (Down until checked when
// c.Checked). Its sessions (active) and counters are left as they are: a
// backend that Apply removed while it kept its sessions comes back with
// them when it is configured again.
func (b *backend) configure(c BackendConfig, now time.Time) {
	b.maxConn, b.proxy, b.backup = c.MaxConn, c.ProxyProtocol, c.Backup
	b.weight, b.cfgWeight, b.override = c.Weight, c.Weight, false
	b.percent, b.cw, b.removed, b.loops, b.brokerFull = 100, 0, false, false, false
	b.state, b.since, b.reason = rbackend.Up, now, "configured"
	if c.Checked {
		b.state, b.reason = rbackend.Down, notChecked
	}
}

// notChecked is the reason of a checked backend's state until its first
// check's result comes (SetBackendState).
const notChecked = "not checked yet"

// scaledWeight is the weight the wrr and leastconn policies use: the
// weight in effect times the slow-start percentage, so that a backend at
// weight 1 and 10 % counts for a tenth of one at weight 1 and 100 %. It
// is 0 while the weight is 0 (a drain the operator asked for). At most
// MaxWeight*100, so that sums over many backends and products with
// session counts stay far inside an int64.
func (b *backend) scaledWeight() int64 {
	if b.weight <= 0 || b.percent <= 0 {
		return 0
	}
	return int64(b.weight) * int64(b.percent)
}

// usable reports whether b may take a new connection now.
func (b *backend) usable() bool { return b.lastResort() && !b.brokerFull }

// lastResort reports whether b may take a new connection now that no
// usable backend could: it would be usable but for its broker refusing
// new clients at its connection limit (brokerFull), which may have room
// again by now, and which tells the client why if not.
func (b *backend) lastResort() bool {
	return !b.removed && !b.loops && b.state.Serving() && b.weight > 0 &&
		(b.maxConn == 0 || b.active < b.maxConn)
}

// atBrokerLimit reports whether b would take connections if its broker
// were not at its connection limit (brokerFull).
func (b *backend) atBrokerLimit() bool {
	return b.brokerFull && !b.removed && !b.loops && b.state.Serving() && b.weight > 0
}

// full reports whether b would take connections if it were not at maxconn.
func (b *backend) full() bool {
	return !b.removed && !b.loops && b.state.Serving() && b.weight > 0 &&
		b.maxConn > 0 && b.active >= b.maxConn
}

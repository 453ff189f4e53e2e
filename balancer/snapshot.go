package balancer

import (
	"net/netip"
	"time"

	rbackend "github.com/rmqlb/rmqlb/backend"
)

// Snapshot is a point-in-time view of a listener for `rmqlb status` and
// metrics. It is a plain value owned by the caller.
type Snapshot struct {
	Name   string         `json:"name"`
	Bind   netip.AddrPort `json:"bind"`
	Policy Policy         `json:"policy"`
	// Listening is true while Run serves.
	Listening bool `json:"listening"`
	// Active is the number of client connections now; Total since start.
	Active int64  `json:"active_conns"`
	Total  uint64 `json:"total_conns"`
	// Refused counts clients closed at once because the listener or every
	// usable backend was at its maxconn.
	Refused uint64 `json:"refused_maxconn"`
	// NoBackend counts clients closed because no backend was usable or
	// every connect attempt failed.
	NoBackend uint64 `json:"failed_no_backend"`
	// RefusedFdLimit counts clients closed at once because the process
	// was out of file descriptors (EMFILE, ENFILE) for their connection or
	// for its backend socket.
	RefusedFdLimit uint64 `json:"refused_fd_limit"`
	// HandshakeTimeouts, FinTimeouts and IdleTimeouts count sessions closed
	// by Config.HandshakeTimeout, FinTimeout and IdleTimeout.
	HandshakeTimeouts uint64 `json:"handshake_timeouts"`
	FinTimeouts       uint64 `json:"fin_timeouts"`
	IdleTimeouts      uint64 `json:"idle_timeouts"`
	// StickyEntries is the number of persistence entries (0 when off).
	StickyEntries int               `json:"sticky_entries"`
	Backends      []BackendSnapshot `json:"backends"`
}

// BackendSnapshot is one backend's part of a Snapshot.
type BackendSnapshot struct {
	Name    string         `json:"name"`
	Address netip.AddrPort `json:"address"`
	State   rbackend.State `json:"state"`
	// Weight is the configured weight; WeightPercent the share of it in
	// effect (below 100 during slow start).
	Weight        int `json:"weight"`
	WeightPercent int `json:"weight_percent"`
	MaxConn       int `json:"maxconn"`
	// Active counts sessions (being connected or established); Total the
	// established ones since start.
	Active          int    `json:"active_conns"`
	Total           uint64 `json:"total_conns"`
	ConnectFailures uint64 `json:"connect_failures"`
	// BytesIn is client-to-backend traffic, BytesOut backend-to-client.
	BytesIn          uint64    `json:"bytes_in"`
	BytesOut         uint64    `json:"bytes_out"`
	LastChange       time.Time `json:"last_change"`
	LastChangeReason string    `json:"last_change_reason"`
}

// Snapshot returns the listener's current state.
func (l *Listener) Snapshot() Snapshot {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := Snapshot{
		Name:      l.cfg.Name,
		Bind:      l.cfg.Bind,
		Policy:    l.cfg.Policy,
		Listening: l.loops != nil,
		Active:    l.active.Load(),
		Total:     l.total.Load(),
		Refused:   l.refused.Load(),
		NoBackend: l.noBackend.Load(),

		RefusedFdLimit: l.refusedFdLimit.Load(),

		HandshakeTimeouts: l.handshakeTimeouts.Load(),
		FinTimeouts:       l.finTimeouts.Load(),
		IdleTimeouts:      l.idleTimeouts.Load(),

		Backends: make([]BackendSnapshot, 0, len(l.pool.backends)),
	}
	if l.loops != nil && l.addr.IsValid() {
		s.Bind = l.addr
	}
	if l.sticky != nil {
		s.StickyEntries = l.sticky.len()
	}
	for _, b := range l.pool.backends {
		s.Backends = append(s.Backends, BackendSnapshot{
			Name:             b.name,
			Address:          b.addr,
			State:            b.state,
			Weight:           b.weight,
			WeightPercent:    b.percent,
			MaxConn:          b.maxConn,
			Active:           b.active,
			Total:            b.total.Load(),
			ConnectFailures:  b.fails.Load(),
			BytesIn:          b.bytesIn.Load(),
			BytesOut:         b.bytesOut.Load(),
			LastChange:       b.since,
			LastChangeReason: b.reason,
		})
	}
	return s
}

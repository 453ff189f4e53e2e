package balancer

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	rbackend "github.com/rmqlb/rmqlb/backend"
)

// Snapshot is a point-in-time view of a listener for `rmqlb status` and
// metrics. It is a plain value owned by the caller, but for
// AllowedClients and DeniedClients: those it shares, read-only, with the
// listener's configuration, which never changes them (a reload replaces
// them), so that a snapshot costs no copy of a list of 100000 prefixes.
type Snapshot struct {
	Name   string         `json:"name"`
	Bind   netip.AddrPort `json:"bind"`
	Policy Policy         `json:"policy"`
	// AllBackups is Config.AllBackups.
	AllBackups bool `json:"all_backups,omitempty"`
	// Listening is true while Run accepts clients: from the bind until a
	// stop closes the listening socket (its sessions may drain after).
	Listening bool `json:"listening"`
	// Active is the number of client connections now; Total since start.
	Active int64  `json:"active_conns"`
	Total  uint64 `json:"total_conns"`
	// MaxConn is Config.MaxConn, the most client connections the listener
	// holds at once (0: no limit); past it new clients are refused.
	MaxConn int64 `json:"maxconn"`
	// Refused counts clients closed at once because the listener or every
	// usable backend was at its maxconn.
	Refused uint64 `json:"refused_maxconn"`
	// MaxConnPerClient is Config.MaxConnPerClient, the most connections
	// one client address holds at once (0: no limit); RefusedPerClient
	// counts the connections refused for it.
	MaxConnPerClient int64  `json:"maxconn_per_client"`
	RefusedPerClient uint64 `json:"refused_per_client"`
	// AllowedClients is Config.AllowedClients (empty: every client),
	// read-only; its capacity is its length, so an append copies it.
	// RefusedNotAllowed counts the connections refused because their
	// address is in none of them.
	AllowedClients    []netip.Prefix `json:"allowed_clients,omitempty"`
	RefusedNotAllowed uint64         `json:"refused_not_allowed"`
	// DeniedClients is Config.DeniedClients (empty: none), read-only as
	// AllowedClients; RefusedDenied
	// counts the connections refused because their address is in one of
	// them.
	DeniedClients []netip.Prefix `json:"denied_clients,omitempty"`
	RefusedDenied uint64         `json:"refused_denied"`
	// ClientsNotAllowed is the number of client addresses with sessions
	// now that AllowedClients leaves out or DeniedClients holds (sessions
	// a reload that changed the lists kept), and NotAllowedClients the
	// BusiestClientsListed of them with the most sessions, most first
	// (ties by address).
	ClientsNotAllowed int              `json:"clients_not_allowed"`
	NotAllowedClients []ClientSnapshot `json:"not_allowed_clients,omitempty"`
	// Clients is the number of client addresses with a session now;
	// ClientsAtLimit how many of them hold MaxConnPerClient sessions
	// (their new connections are refused until one ends).
	Clients        int `json:"clients"`
	ClientsAtLimit int `json:"clients_at_limit"`
	// BusiestClients lists the BusiestClientsListed client addresses
	// with the most sessions now, most first (ties by address): where a
	// connection leak comes from.
	BusiestClients []ClientSnapshot `json:"busiest_clients,omitempty"`
	// NoBackend counts clients closed because no backend was usable or
	// every connect attempt failed.
	NoBackend uint64 `json:"failed_no_backend"`
	// RefusedFdLimit counts clients closed at once because the process
	// was out of file descriptors (EMFILE, ENFILE) for their connection or
	// for its backend socket.
	RefusedFdLimit uint64 `json:"refused_fd_limit"`
	// RefusedLocal counts clients closed because the host could not make
	// their backend connection: no local port for any backend tried
	// (EADDRNOTAVAIL), or no socket memory or room in epoll (ENOBUFS,
	// ENOMEM, ENOSPC); or could not watch their own connection (epoll's
	// ENOMEM, ENOSPC). Not the backends' failures.
	RefusedLocal uint64 `json:"refused_local"`
	// HandshakeTimeouts, FinTimeouts and IdleTimeouts count sessions closed
	// by Config.HandshakeTimeout, FinTimeout and IdleTimeout.
	HandshakeTimeouts uint64 `json:"handshake_timeouts"`
	FinTimeouts       uint64 `json:"fin_timeouts"`
	IdleTimeouts      uint64 `json:"idle_timeouts"`
	// StickyEntries is the number of persistence entries (0 when off),
	// StickyMax the most the table takes for new clients
	// (Config.PersistenceMaxClients; 0 when off).
	StickyEntries int `json:"sticky_entries"`
	StickyMax     int `json:"sticky_max"`
	// StickyFull counts new clients balanced without being pinned because
	// the persistence table was full.
	StickyFull uint64 `json:"sticky_full"`
	// Sticky lists persistence entries, ordered by client, at most the
	// limit given to SnapshotSticky (StickyEntries is the total); Snapshot
	// leaves it empty.
	Sticky   []StickySnapshot  `json:"sticky,omitempty"`
	Backends []BackendSnapshot `json:"backends"`
	// Removed lists the backends a reload removed while keeping their
	// sessions (ShutdownSessionsOnDown off) and that still have some,
	// ordered by name and address. They take no new connections; their
	// sessions are part of Active. Two of them may share a name and an
	// address (removed, configured again elsewhere, moved back and removed
	// again); the one removed first comes first.
	Removed []RemovedBackendSnapshot `json:"removed_backends,omitempty"`
}

// RemovedBackendSnapshot is a backend removed by a reload whose sessions
// were kept and are not all over yet.
type RemovedBackendSnapshot struct {
	Name    string         `json:"name"`
	Address netip.AddrPort `json:"address"`
	// Active counts its sessions now.
	Active int `json:"active_conns"`
	// BytesIn is client-to-backend traffic, BytesOut backend-to-client,
	// since the backend was first configured (a backend configured again
	// after a removal carries its counts on).
	BytesIn  uint64 `json:"bytes_in"`
	BytesOut uint64 `json:"bytes_out"`
	// RemovedAt is when the reload removed it.
	RemovedAt time.Time `json:"removed_at"`
}

// StickySnapshot is one persistence entry: a client key pinned to a
// backend.
type StickySnapshot struct {
	// Client is the client key: the client address masked by the
	// persistence netmask (IPv4) or netmask6 (IPv6).
	Client netip.Prefix `json:"client"`
	// Backend is the pinned backend; empty while the entry pins none
	// (its backend went down: the next session picks again).
	Backend string `json:"backend"`
	// Sessions is the number of the client key's sessions now.
	Sessions int `json:"sessions"`
	// Expires is when the entry ends, PersistenceTimeout after its last
	// session ended; zero while it has sessions.
	Expires time.Time `json:"expires,omitzero"`
}

// BackendSnapshot is one backend's part of a Snapshot.
type BackendSnapshot struct {
	Name    string         `json:"name"`
	Address netip.AddrPort `json:"address"`
	State   rbackend.State `json:"state"`
	// Weight is the weight in effect: the operator's (WeightOverride set,
	// see Listener.SetBackendWeight) or else ConfiguredWeight, the one the
	// listener was configured with. WeightPercent is the share of Weight
	// in effect (below 100 during slow start).
	Weight           int  `json:"weight"`
	ConfiguredWeight int  `json:"configured_weight"`
	WeightOverride   bool `json:"weight_override"`
	WeightPercent    int  `json:"weight_percent"`
	MaxConn          int  `json:"maxconn"`
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
	// LoopsBack is set once a connection to Address reached this listener
	// itself (the address is the listener's own, under a bind of 0.0.0.0
	// or [::]): the backend takes no new connection until a reload
	// configures it again, whatever its state.
	LoopsBack bool `json:"loops_back,omitempty"`
	// Backup is set for a standby server (BackendConfig.Backup).
	Backup bool `json:"backup,omitempty"`
	// Full is set while the backend would take new connections but holds
	// MaxConn sessions: the policy passes it over until one ends.
	Full bool `json:"full,omitempty"`
	// BrokerFull is set while the backend would take new connections but
	// its checks find its broker refusing new clients at its own
	// connection limit (Listener.SetBackendFull): the policy gives it new
	// connections only when no other backend can take them.
	BrokerFull bool `json:"broker_full,omitempty"`
	// Ended counts the established sessions that ended since the backend
	// was first configured, by why they ended (EndReason.String); a reason
	// none ended for is absent. Sessions that never reached the backend
	// (refused, connect failed) are not in it.
	Ended map[string]uint64 `json:"sessions_ended,omitempty"`
}

// Backend returns the backend called name of the snapshot, and false if
// it has none.
func (s Snapshot) Backend(name string) (BackendSnapshot, bool) {
	for _, b := range s.Backends {
		if b.Name == name {
			return b, true
		}
	}
	return BackendSnapshot{}, false
}

// Snapshot returns the listener's current state, without the list of
// persistence entries.
func (l *Listener) Snapshot() Snapshot { return l.SnapshotSticky(0) }

// SnapshotSticky returns the listener's current state with up to limit
// persistence entries, the first by client order. Listing them walks the
// whole persistence table under the listener's lock, which new
// connections wait for: it is meant for a status request, not for every
// metrics scrape.
func (l *Listener) SnapshotSticky(limit int) Snapshot {
	// The clients are counted apart from the listener's lock, which
	// choosing a backend takes.
	p := l.params.Load()
	cs := l.clients.summary(BusiestClientsListed, p.maxConnClient, p.lists)
	l.mu.Lock()
	defer l.mu.Unlock()
	s := Snapshot{
		Name:       l.cfg.Name,
		Bind:       l.cfg.Bind,
		Policy:     l.cfg.Policy,
		AllBackups: l.cfg.AllBackups,
		Listening:  l.lnfd >= 0,
		Active:     l.active.Load(),
		Total:      l.total.Load(),
		MaxConn:    l.params.Load().maxConn,
		Refused:    l.refused.Load(),
		NoBackend:  l.noBackend.Load(),

		RefusedFdLimit: l.refusedFdLimit.Load(),
		RefusedLocal:   l.refusedLocal.Load(),

		HandshakeTimeouts: l.handshakeTimeouts.Load(),
		FinTimeouts:       l.finTimeouts.Load(),
		IdleTimeouts:      l.idleTimeouts.Load(),
		StickyFull:        l.stickyFull.Load(),

		MaxConnPerClient: p.maxConnClient,
		RefusedPerClient: l.refusedClient.Load(),

		AllowedClients:    slices.Clip(l.cfg.AllowedClients),
		RefusedNotAllowed: l.refusedNotAllowed.Load(),
		DeniedClients:     slices.Clip(l.cfg.DeniedClients),
		RefusedDenied:     l.refusedDenied.Load(),
		ClientsNotAllowed: cs.outside,
		NotAllowedClients: cs.busiestOutside,
		Clients:           cs.clients,
		ClientsAtLimit:    cs.atLimit,
		BusiestClients:    cs.busiest,

		Backends: make([]BackendSnapshot, 0, len(l.pool.backends)),
	}
	if l.loops != nil && l.addr.IsValid() {
		s.Bind = l.addr
	}
	if l.sticky != nil {
		s.StickyEntries = l.sticky.len()
		s.StickyMax = l.sticky.maxKeys
		s.Sticky = l.sticky.first(limit)
	}
	for _, b := range l.pool.backends {
		s.Backends = append(s.Backends, BackendSnapshot{
			Name:             b.name,
			Address:          b.addr,
			State:            b.state,
			Weight:           b.weight,
			ConfiguredWeight: b.cfgWeight,
			WeightOverride:   b.override,
			WeightPercent:    b.percent,
			MaxConn:          b.maxConn,
			Active:           b.active,
			Total:            b.total.Load(),
			ConnectFailures:  b.fails.Load(),
			BytesIn:          b.bytesIn.Load(),
			BytesOut:         b.bytesOut.Load(),
			LastChange:       b.since,
			LastChangeReason: b.reason,
			LoopsBack:        b.loops,
			Backup:           b.backup,
			Full:             b.full(),
			BrokerFull:       b.atBrokerLimit(),
			Ended:            b.endedCounts(),
		})
	}
	for _, b := range l.kept {
		if b.active > 0 {
			s.Removed = append(s.Removed, RemovedBackendSnapshot{Name: b.name, Address: b.addr, Active: b.active,
				BytesIn: b.bytesIn.Load(), BytesOut: b.bytesOut.Load(), RemovedAt: b.removedAt})
		}
	}
	slices.SortStableFunc(s.Removed, func(a, b RemovedBackendSnapshot) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		if c := a.Address.Compare(b.Address); c != 0 {
			return c
		}
		return a.RemovedAt.Compare(b.RemovedAt)
	})
	return s
}

// endedCounts returns b's counts of ended sessions by reason, without the
// reasons at 0; nil while none ended.
func (b *backend) endedCounts() map[string]uint64 {
	var m map[string]uint64
	for r := range b.ended {
		if n := b.ended[r].Load(); n > 0 {
			if m == nil {
				m = make(map[string]uint64)
			}
			m[EndReason(r).String()] = n
		}
	}
	return m
}

// first returns the first n entries of t by client key, in that order.
// It walks the table once and keeps only n entries aside.
func (t *stickyTable) first(n int) []StickySnapshot {
	if n <= 0 || len(t.m) == 0 {
		return nil
	}
	keys := make([]netip.Addr, 0, min(n, len(t.m)))
	for k := range t.m {
		if len(keys) == n && !k.Less(keys[n-1]) {
			continue
		}
		i, _ := slices.BinarySearchFunc(keys, k, netip.Addr.Compare)
		if len(keys) == n {
			keys = keys[:n-1]
		}
		keys = slices.Insert(keys, i, k)
	}
	out := make([]StickySnapshot, len(keys))
	for i, k := range keys {
		e := t.m[k]
		out[i] = StickySnapshot{Client: netip.PrefixFrom(k, t.keyBits(k)), Sessions: e.conns}
		if e.be != nil {
			out[i].Backend = e.be.name
		}
		if e.conns == 0 {
			out[i].Expires = e.expires
		}
	}
	return out
}

package balancer

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// SessionFilter selects the sessions Listener.Sessions lists. Its zero
// value selects every session, with no limit.
type SessionFilter struct {
	// Backend keeps the sessions of the backend of that name (one a
	// reload removed while keeping its sessions included); empty: every
	// backend's, and the sessions not connected to one yet.
	Backend string
	// Client keeps the sessions whose client address it contains
	// (IPv4-mapped IPv6 addresses, of the prefix and of the clients, are
	// taken as IPv4); the zero Prefix keeps every client. ClientPort, when
	// not 0, keeps only the sessions from that client port.
	Client     netip.Prefix
	ClientPort uint16
	// NotAllowed keeps the sessions whose client the listener's
	// Config.AllowedClients leaves out now, or its Config.DeniedClients
	// holds: those a change of the lists kept. With no list, it keeps
	// none.
	NotAllowed bool
	// Limit is the most sessions listed, the first in SessionInfo order;
	// 0: no limit. The total that match is counted whatever the limit.
	Limit int

	// lists are the listener's when NotAllowed was asked for, set by
	// normalized.
	lists *clientLists
}

// normalized is f with an IPv4-mapped Client prefix made IPv4, as the
// clients' addresses are compared, and with l's allowed_clients and
// denied_clients for NotAllowed.
func (f SessionFilter) normalized(l *Listener) SessionFilter {
	if p := f.Client; p.IsValid() && p.Addr().Is4In6() {
		f.Client = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0)).Masked()
	}
	if f.NotAllowed {
		f.lists = l.params.Load().lists
	}
	return f
}

// match reports whether f selects s.
func (f SessionFilter) match(s *session) bool {
	if f.Backend != "" && (s.be == nil || s.be.name != f.Backend) {
		return false
	}
	if f.ClientPort != 0 && s.client.Port() != f.ClientPort {
		return false
	}
	if f.NotAllowed && f.lists.allows(s.client.Addr()) {
		return false
	}
	return !f.Client.IsValid() || f.Client.Contains(s.client.Addr().Unmap())
}

// SessionInfo is one client session of a listener, as Listener.Sessions
// lists it. It is a plain value owned by the caller.
type SessionInfo struct {
	// Client is the client's address and port.
	Client netip.AddrPort `json:"client"`
	// Backend names the backend the session is connected or connecting
	// to; empty between two connect attempts.
	Backend string `json:"backend,omitempty"`
	// BackendAddress is the address the session is connected to, and
	// Source the proxy's side of that connection: the address and port
	// the broker sees as its client's (RabbitMQ's connection name is
	// "SOURCE -> BACKENDADDRESS"). Both are read from the socket when
	// listed; while connecting BackendAddress is the address being
	// connected to, and Source is absent until the kernel has chosen one.
	BackendAddress netip.AddrPort `json:"backend_address,omitzero"`
	Source         netip.AddrPort `json:"source,omitzero"`
	// State is "connecting" (to the backend), "established", or
	// "closing" (one side has ended; the other's bytes still flow).
	State string `json:"state"`
	// Since is when the client was accepted; LastActive when a byte last
	// moved (or the backend connection was established, or the session
	// began to end).
	Since      time.Time `json:"since"`
	LastActive time.Time `json:"last_active"`
	// BytesIn is client-to-backend traffic, BytesOut backend-to-client,
	// written to their destinations.
	BytesIn  uint64 `json:"bytes_in"`
	BytesOut uint64 `json:"bytes_out"`
}

// Session states of SessionInfo.
const (
	SessionConnecting  = "connecting"
	SessionEstablished = "established"
	SessionClosing     = "closing"
)

// compareSessions orders sessions by backend name (none first), then the
// oldest first, then by client.
func compareSessions(a, b SessionInfo) int {
	return cmp.Or(cmp.Compare(a.Backend, b.Backend), a.Since.Compare(b.Since), a.Client.Compare(b.Client))
}

// Sessions lists the listener's sessions that f selects, in SessionInfo
// order (by backend name, the oldest first), at most f.Limit of them, and
// counts all that f selects. Each event loop lists its own sessions in its
// turn, and reads the addresses of each one listed from its socket: a
// call costs each loop a walk of its sessions, so it is meant for an
// operator's request, not for every metrics scrape. A listener that does
// not run lists none. It returns ctx's error if a loop has not answered
// when ctx is done (that loop lists its sessions later, for no one). Safe
// from any goroutine.
func (l *Listener) Sessions(ctx context.Context, f SessionFilter) (list []SessionInfo, total int, err error) {
	f = f.normalized(l)
	l.mu.Lock()
	loops, name := l.loops, l.cfg.Name
	l.mu.Unlock()
	type part struct {
		list  []SessionInfo
		total int
	}
	parts, err := askLoops(ctx, loops, func(lp *loop) part {
		list, n := lp.listSessions(f)
		return part{list, n}
	})
	if err != nil {
		return nil, 0, fmt.Errorf("listing sessions of listener %s: an event loop did not answer: %w", name, err)
	}
	for _, p := range parts {
		list, total = append(list, p.list...), total+p.total
	}
	slices.SortFunc(list, compareSessions)
	if f.Limit > 0 && len(list) > f.Limit {
		list = slices.Clip(list[:f.Limit])
	}
	return list, total, nil
}

// ShutdownSessionsMatching closes the listener's sessions that f selects
// now, whatever f.Limit, and returns how many it closed: an operator's
// request, with a backend's sessions (ShutdownSessions) or a client's.
// The zero filter selects every session. It returns ctx's error, and the
// sessions closed so far, if a loop has not answered when ctx is done
// (that loop closes its sessions later). Safe from any goroutine.
func (l *Listener) ShutdownSessionsMatching(ctx context.Context, f SessionFilter) (int, error) {
	f = f.normalized(l)
	l.mu.Lock()
	loops, name := l.loops, l.cfg.Name
	l.mu.Unlock()
	counts, err := askLoops(ctx, loops, func(lp *loop) int { return lp.closeSessions(f.match, EndShutdown) })
	closed := 0
	for _, n := range counts {
		closed += n
	}
	if err != nil {
		return closed, fmt.Errorf("shutting down sessions of listener %s: an event loop did not answer: %w", name, err)
	}
	fields := []zap.Field{zap.Int("sessions", closed)}
	if f.Backend != "" {
		fields = append(fields, zap.String("backend", f.Backend))
	}
	if f.Client.IsValid() {
		fields = append(fields, zap.Stringer("client", f.Client))
	}
	if f.NotAllowed {
		fields = append(fields, zap.Bool("not_allowed", true))
	}
	l.log.Info("sessions shut down", fields...)
	return closed, nil
}

// askLoops runs fn on each of loops in its turn and returns what they
// answered, or, with those answers so far, ctx's error once ctx is done
// before every loop has answered (such a loop runs fn later, for no one).
// A loop that has exited (Run is stopping) is not asked.
func askLoops[T any](ctx context.Context, loops []*loop, fn func(*loop) T) ([]T, error) {
	answers := make(chan T, len(loops)) // a loop that answers late does not block
	posted := 0
	for _, lp := range loops {
		if lp.post(func(lp *loop) { answers <- fn(lp) }) {
			posted++
		}
	}
	out := make([]T, 0, posted)
	for range posted {
		select {
		case a := <-answers:
			out = append(out, a)
		case <-ctx.Done():
			return out, ctx.Err()
		}
	}
	return out, nil
}

// listSessions lists the loop's sessions that f selects, the first
// f.Limit in SessionInfo order (the first f.Limit of all loops are among
// those of each loop), and counts all it selects. It runs on the loop.
func (lp *loop) listSessions(f SessionFilter) ([]SessionInfo, int) {
	var list []SessionInfo
	var socks []int
	for s := lp.head; s != nil; s = s.next {
		if !f.match(s) {
			continue
		}
		in := SessionInfo{
			Client:     s.client,
			State:      SessionEstablished,
			Since:      lp.epoch.Add(s.accepted),
			LastActive: lp.epoch.Add(s.lastActive),
			BytesIn:    s.c2s.bytes,
			BytesOut:   s.s2c.bytes,
		}
		if s.be != nil {
			in.Backend = s.be.name // set once, when the backend is made
		}
		switch {
		case s.state == stateConnecting:
			in.State = SessionConnecting
			if s.be != nil {
				in.BackendAddress = s.be.addr // where it connects; getpeername has none yet
			}
		case s.c2s.ended || s.s2c.ended:
			in.State = SessionClosing
		}
		list = append(list, in)
		socks = append(socks, s.srv.fd)
	}
	total := len(list)
	idx := make([]int, total)
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return compareSessions(list[a], list[b]) })
	if f.Limit > 0 && len(idx) > f.Limit {
		idx = idx[:f.Limit]
	}
	out := make([]SessionInfo, len(idx))
	for i, j := range idx {
		out[i] = list[j]
		if fd := socks[j]; fd >= 0 {
			if sa, err := unix.Getsockname(fd); err == nil {
				out[i].Source = fromSockaddr(sa)
			}
			if sa, err := unix.Getpeername(fd); err == nil {
				out[i].BackendAddress = fromSockaddr(sa)
			}
		}
	}
	return out, total
}

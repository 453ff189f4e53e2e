package balancer

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// This file holds what an upgrade of the daemon needs: the listening socket
// handed from the running process to its successor, so that no connection
// is refused while the processes change, and the old process's sessions
// left to finish.

// ErrNotListening is returned by ListeningFile when Run is not serving.
var ErrNotListening = errors.New("listener is not listening")

// Inherit makes Run serve on fd, a listening TCP socket handed over by
// another process (see ListeningFile), instead of binding a new one. The
// socket must be bound to the listener's Bind address (with port 0 any
// port). Inherit takes ownership of fd (Run closes it); it must be called
// before Run.
func (l *Listener) Inherit(fd int) error {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return fmt.Errorf("inheriting the socket of listener %q: %w", l.cfg.Name, err)
	}
	got := fromSockaddr(sa)
	acc, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	if err != nil || acc == 0 {
		return fmt.Errorf("inheriting the socket of listener %q: fd %d is not a listening socket", l.cfg.Name, fd)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	want := l.cfg.Bind
	if l.started {
		return fmt.Errorf("inheriting the socket of listener %q: already running", l.cfg.Name)
	}
	if got.Addr().Unmap() != want.Addr().Unmap() || (want.Port() != 0 && got.Port() != want.Port()) {
		return fmt.Errorf("inheriting the socket of listener %q: it is bound to %s, not %s", l.cfg.Name, got, want)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return fmt.Errorf("inheriting the socket of listener %q: %w", l.cfg.Name, err)
	}
	l.inherited = fd
	return nil
}

// ListeningFile returns a duplicate of the listening socket while Run
// serves, for handing to a successor process; the caller owns the file.
// Both processes then accept from the same socket until this one stops.
func (l *Listener) ListeningFile() (*os.File, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lnfd < 0 {
		return nil, fmt.Errorf("handing over listener %q: %w", l.cfg.Name, ErrNotListening)
	}
	fd, err := unix.FcntlInt(uintptr(l.lnfd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("handing over listener %q: %w", l.cfg.Name, err)
	}
	return os.NewFile(uintptr(fd), "listener "+l.cfg.Name), nil
}

// HandOver prepares the stop that follows a hand-over of the listener to
// a successor process (an upgrade in place): the stop lets the sessions
// finish for d (Config.GracefulTimeout; 0 is DefaultGracefulTimeout),
// since the VIPs stay on this host, so that even the sessions of a
// VIP-bound listener may finish; and the sessions it closes end as
// EndUpgrade rather than EndStop. The daemon calls it once the successor
// has taken over, before it cancels Run.
func (l *Listener) HandOver(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if d == 0 {
		d = DefaultGracefulTimeout
	}
	l.cfg.GracefulTimeout = d
	l.stopReason.Store(uint32(EndUpgrade))
}

// stopEnd is the reason of the sessions a stop closes: EndStop, or
// EndUpgrade after HandOver. Safe from the loops.
func (l *Listener) stopEnd() EndReason {
	if r := EndReason(l.stopReason.Load()); r != EndUnknown {
		return r
	}
	return EndStop
}

// Listen binds the listener's socket now, before Run, so that a bind
// error (an address in use, or not on this host) shows before anything
// depends on the listener: a process taking over from another binds its
// new listeners this way before the other one stops, then runs them. Run
// serves on the socket; until then connections wait in its queue. It
// fails once Run has started or when the listener has a socket already
// (Inherit, or an earlier Listen). CloseUnserved closes the socket of a
// listener that will not run.
func (l *Listener) Listen() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started || l.inherited >= 0 {
		return fmt.Errorf("binding listener %q: it has a socket already", l.cfg.Name)
	}
	fd, _, err := listenSocket(l.cfg.Bind, l.params.Load().connOpts())
	if err != nil {
		return fmt.Errorf("binding listener %q: %w", l.cfg.Name, err)
	}
	l.inherited = fd
	return nil
}

// CloseUnserved closes the socket that Inherit or Listen gave the
// listener, when Run has not taken it: a listener that will not run
// does not keep it open.
func (l *Listener) CloseUnserved() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inherited >= 0 {
		unix.Close(l.inherited)
		l.inherited = -1
	}
}

// listeningSocket is the socket Run serves on: the inherited one, or a new
// one bound to bind.
func (l *Listener) listeningSocket(bind netip.AddrPort, opts connOpts) (int, netip.AddrPort, error) {
	l.mu.Lock()
	fd := l.inherited
	l.inherited = -1
	l.mu.Unlock()
	if fd < 0 {
		return listenSocket(bind, opts)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return -1, netip.AddrPort{}, fmt.Errorf("reading the inherited socket's address: %w", err)
	}
	if err := resetConnOptions(fd, opts); err != nil {
		unix.Close(fd)
		return -1, netip.AddrPort{}, err
	}
	return fd, fromSockaddr(sa), nil
}

// Pin is a persistence entry handed to a successor process: the clients
// of key Client (an address masked by the persistence netmask) stay with
// backend Backend for Remaining more, at least (at most the successor's
// persistence timeout).
type Pin struct {
	Client    netip.Addr    `json:"client"`
	Backend   string        `json:"backend"`
	Remaining time.Duration `json:"remaining_ns"`
}

// Pins returns the listener's live persistence entries that pin a
// backend, for a successor process; nil without persistence. An entry
// with sessions gets the whole persistence timeout: its sessions carry on
// in this process, and its clients' next connections go to the successor.
func (l *Listener) Pins() []Pin {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sticky == nil {
		return nil
	}
	now := l.clock.Now()
	var pins []Pin
	for k, e := range l.sticky.m {
		if e.be == nil || !e.live(now) {
			continue
		}
		left := l.sticky.timeout
		if e.conns == 0 {
			left = e.expires.Sub(now)
		}
		pins = append(pins, Pin{Client: k, Backend: e.be.name, Remaining: left})
	}
	return pins
}

// AddPins pins clients to backends as a predecessor process had them
// (Pins), without replacing an entry the listener has already; a pin
// lasts its Remaining, at most the listener's persistence timeout. Pins
// to a backend it does not have, those beyond the room of its persistence
// table (PersistenceMaxClients) and every pin while persistence is off are
// skipped. It returns how many it added.
func (l *Listener) AddPins(pins []Pin) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sticky == nil {
		return 0
	}
	now := l.clock.Now()
	var add []*stickyEntry
	seen := make(map[netip.Addr]bool, len(pins))
	for _, p := range pins {
		be := l.backendLocked(p.Backend)
		if be == nil || p.Remaining <= 0 || !p.Client.IsValid() {
			continue
		}
		key := l.sticky.key(p.Client)
		if _, ok := l.sticky.m[key]; ok || seen[key] {
			continue
		}
		seen[key] = true
		add = append(add, &stickyEntry{key: key, be: be, expires: now.Add(p.Remaining)})
	}
	return len(l.sticky.addIdle(add, now))
}

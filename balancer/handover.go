package balancer

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// This file holds what an upgrade of the daemon needs: the listening sockets
// handed from the running process to its successor, so that no connection
// is refused while the processes change, and the old process's sessions
// left to finish.

// ErrNotListening is returned by ListeningFiles when Run is not serving.
var ErrNotListening = errors.New("listener is not listening")

// Inherit makes Run serve on fds, the listening TCP sockets of a listener
// handed over by another process (see ListeningFiles), instead of binding
// new ones. Every one must be listening on the listener's Bind address
// (with port 0 any port, the same for all). Run serves them all whatever
// its number of event loops (a loop may watch several, or several loops
// one), so that no connection is left in the accept queue of a socket no
// loop watches. It fails once Run has started or when the listener has
// sockets already (Listen, or an earlier Inherit). On success Inherit takes ownership of fds (Run closes
// them); on error the caller keeps it. It must be called before Run.
func (l *Listener) Inherit(fds ...int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started || l.inherited != nil {
		return fmt.Errorf("inheriting the sockets of listener %q: it has sockets already", l.cfg.Name)
	}
	if _, err := inheritedAddr(fds, l.cfg.Bind); err != nil {
		return fmt.Errorf("inheriting the sockets of listener %q: %w", l.cfg.Name, err)
	}
	for _, fd := range fds {
		if err := unix.SetNonblock(fd, true); err != nil {
			return fmt.Errorf("inheriting the sockets of listener %q: %w", l.cfg.Name, err)
		}
	}
	l.inherited = slices.Clone(fds)
	return nil
}

// ListeningFiles returns duplicates of the listener's listening sockets
// (one per event loop) while Run serves, for handing to a successor
// process; the caller owns the files. Both processes then accept from the
// same sockets until this one stops. The successor must take every one
// (Inherit): a socket closed while the others keep the port drops the
// connections waiting in its queue.
func (l *Listener) ListeningFiles() ([]*os.File, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lnfds) == 0 {
		return nil, fmt.Errorf("handing over listener %q: %w", l.cfg.Name, ErrNotListening)
	}
	files := make([]*os.File, 0, len(l.lnfds))
	for _, lnfd := range l.lnfds {
		fd, err := unix.FcntlInt(uintptr(lnfd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			return nil, fmt.Errorf("handing over listener %q: %w", l.cfg.Name, err)
		}
		files = append(files, os.NewFile(uintptr(fd), "listener "+l.cfg.Name))
	}
	return files, nil
}

// SetGracefulTimeout changes how long a stop lets the sessions finish
// (Config.GracefulTimeout; negative closes them at once). The daemon sets
// it before a hand-over to its successor: the VIPs stay on this host, so
// even the sessions of a VIP-bound listener may finish.
func (l *Listener) SetGracefulTimeout(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if d == 0 {
		d = DefaultGracefulTimeout
	}
	l.cfg.GracefulTimeout = d
}

// Listen binds the listener's sockets (one per event loop Run will
// start, at most maxListenSockets) now, before Run, so that a bind error (an address in use, or not
// on this host) shows before anything depends on the listener: a process
// taking over from another binds its new listeners this way before the
// other one stops, then runs them. Run serves on the sockets; until then
// connections wait in their queues. It fails once Run has started or when
// the listener has sockets already (Inherit, or an earlier Listen).
// CloseUnserved closes the sockets of a listener that will not run.
func (l *Listener) Listen() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started || l.inherited != nil {
		return fmt.Errorf("binding listener %q: it has a socket already", l.cfg.Name)
	}
	fds, _, err := listenGroup(l.cfg.Bind, l.params.Load().keepAlive, socketsFor(l.loopsLocked()))
	if err != nil {
		return fmt.Errorf("binding listener %q: %w", l.cfg.Name, err)
	}
	l.inherited = fds
	return nil
}

// CloseUnserved closes the sockets that Inherit or Listen gave the
// listener, when Run has not taken them: a listener that will not run
// does not keep them open.
func (l *Listener) CloseUnserved() {
	l.mu.Lock()
	defer l.mu.Unlock()
	closeSockets(l.inherited)
	l.inherited = nil
}

// listeningSockets are the sockets Run serves on: the inherited ones, or
// new ones bound to bind for n loops (socketsFor), with the bound address.
func (l *Listener) listeningSockets(bind netip.AddrPort, keepAlive time.Duration, n int) ([]int, netip.AddrPort, error) {
	l.mu.Lock()
	fds := l.inherited
	l.inherited = nil
	l.mu.Unlock()
	if fds == nil {
		return listenGroup(bind, keepAlive, socketsFor(n))
	}
	addr, err := inheritedAddr(fds, bind)
	if err == nil {
		for _, fd := range fds {
			if err = setConnOptions(fd, keepAlive); err != nil {
				break
			}
		}
	}
	if err != nil {
		closeSockets(fds)
		return nil, netip.AddrPort{}, fmt.Errorf("serving the inherited sockets: %w", err)
	}
	return fds, addr, nil
}

// Pin is a persistence entry handed to a successor process: the clients
// of key Client (an address masked by the persistence netmask) stay with
// backend Backend for Remaining more, at least.
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
// (Pins), without replacing an entry the listener has already. Pins to a
// backend it does not have, and every pin while persistence is off, are
// skipped. It returns how many it added.
func (l *Listener) AddPins(pins []Pin) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sticky == nil {
		return 0
	}
	now := l.clock.Now()
	added := 0
	for _, p := range pins {
		be := l.backendLocked(p.Backend)
		if be == nil || p.Remaining <= 0 || !p.Client.IsValid() {
			continue
		}
		key := l.sticky.key(p.Client)
		if _, ok := l.sticky.m[key]; ok {
			continue
		}
		l.sticky.m[key] = &stickyEntry{key: key, be: be, expires: now.Add(p.Remaining)}
		added++
	}
	return added
}

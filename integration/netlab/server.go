package netlab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// BannerServer accepts TCP connections in a host namespace and answers each
// with the host's name and a newline, then closes it. The Lab closes it.
type BannerServer struct {
	ln   net.Listener
	done chan struct{}
}

// ServeBanner listens on addr in the host's namespace with IP_FREEBIND set, so
// addr may be a VIP the host does not own yet: the kernel then delivers
// connections to it as soon as, and only while, the address is local. The
// listener is closed by the lab's Close or by BannerServer.Close.
func (h *Host) ServeBanner(addr netip.AddrPort) (*BannerServer, error) {
	ln, err := h.listenFreebind(addr)
	if err != nil {
		return nil, err
	}
	s := &BannerServer{ln: ln, done: make(chan struct{})}
	banner := []byte(h.Name + "\n")
	go func() {
		defer close(s.done)
		for {
			c, err := ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			_, _ = c.Write(banner)
			_ = c.Close()
		}
	}()
	h.lab.t.Cleanup(s.Close)
	return s, nil
}

// Close stops the server and waits for its accept loop to end.
func (s *BannerServer) Close() {
	_ = s.ln.Close()
	<-s.done
}

// listenFreebind listens on addr in the host's namespace with IP_FREEBIND.
func (h *Host) listenFreebind(addr netip.AddrPort) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_FREEBIND, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	var ln net.Listener
	err := h.Do(func() error {
		var err error
		ln, err = lc.Listen(context.Background(), "tcp4", addr.String())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listening on %s in %s: %w", addr, h.Name, err)
	}
	return ln, nil
}

// ConnServer accepts TCP connections in a host namespace and serves each
// with its handler on a goroutine of its own; the connection is closed
// when the handler returns. The Lab closes the server.
type ConnServer struct {
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	open map[net.Conn]bool
}

// ServeEcho listens on addr in the host's namespace (with IP_FREEBIND, as
// ServeBanner) and echoes what each connection sends until its client
// closes it: a long-lived session.
func (h *Host) ServeEcho(addr netip.AddrPort) (*ConnServer, error) {
	return h.ServeConns(addr, func(c net.Conn) { _, _ = io.Copy(c, c) })
}

// ServeConns listens on addr in the host's namespace (with IP_FREEBIND, as
// ServeBanner) and serves each connection with handle, which must return
// once the connection is closed (Close closes them).
func (h *Host) ServeConns(addr netip.AddrPort, handle func(net.Conn)) (*ConnServer, error) {
	ln, err := h.listenFreebind(addr)
	if err != nil {
		return nil, err
	}
	s := &ConnServer{ln: ln, open: map[net.Conn]bool{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			s.mu.Lock()
			s.open[c] = true
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				handle(c)
				_ = c.Close()
				s.mu.Lock()
				delete(s.open, c)
				s.mu.Unlock()
			}()
		}
	}()
	h.lab.t.Cleanup(s.Close)
	return s, nil
}

// Close stops the server, closes its connections and waits for them.
func (s *ConnServer) Close() {
	_ = s.ln.Close()
	s.mu.Lock()
	for c := range s.open {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

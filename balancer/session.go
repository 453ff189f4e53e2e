package balancer

import (
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/rmqlb/rmqlb/proxyproto"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// Session states.
const (
	stateConnecting uint8 = iota + 1
	stateEstablished
	stateClosed
)

// sock is one side of a session: its socket, its epoll registration and
// the readiness learnt from edge-triggered events. It is owned by the
// session's loop; dispatch sets the readiness flags, the halves clear them.
type sock struct {
	fd  int    // -1 while the side has no socket (server side before a connect)
	tok uint32 // registration token of fd (epoll data), tells stale events apart

	// readable: a read may return data, EOF or an error; cleared on EAGAIN
	// or on a short read (recv copied everything queued).
	readable bool
	// writable: a write may make progress; cleared on EAGAIN.
	writable bool
	// hup: the peer's FIN or a hang-up was announced (EPOLLRDHUP,
	// EPOLLHUP); reads then go on until EOF, short reads do not clear
	// readable.
	hup bool
}

// note records the readiness reported by one epoll event on k.
func (k *sock) note(events uint32) {
	if events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP) != 0 {
		k.readable = true
	}
	if events&(unix.EPOLLRDHUP|unix.EPOLLHUP) != 0 {
		k.hup = true
	}
	if events&(unix.EPOLLOUT|unix.EPOLLHUP) != 0 {
		k.writable = true
	}
}

// half is one direction of a session: bytes read from src are written to
// dst, either straight from the loop's scratch buffer or spliced through a
// pipe borrowed from the loop's pool. The pipe and the stash buffer are
// held only while they have bytes in them.
type half struct {
	src, dst *sock
	counter  *atomic.Uint64 // the backend's byte counter of this direction

	p        *pipe
	buf      *stash // borrowed; buf[off:end] waits for dst
	n        int32  // bytes in p
	off, end int32
	bulk     bool // the last read filled the scratch buffer: splice
	eof      bool // src reached EOF
	shut     bool // dst was shut down for writing (direction done)
}

// session is one proxied client connection. It is owned by its loop and
// costs, while idle, this struct and two sockets: no goroutine, no pipe.
type session struct {
	lp         *loop
	prev, next *session

	cli, srv sock // client side, server (backend) side
	state    uint8
	queued   bool  // in lp.ready
	tidx     int32 // index in lp.timers, -1 if not scheduled

	client netip.AddrPort
	be     *backend     // holds one active count of be while non-nil
	sticky *stickyEntry // persistence reference, nil when off
	tried  []*backend
	proxy  string

	c2s, s2c half

	deadline   time.Time
	lastActive time.Time
}

// newSession starts proxying the accepted client socket fd.
func (lp *loop) newSession(fd int, client netip.AddrPort) {
	l := lp.l
	p := l.params.Load()
	if p.maxConn > 0 && l.active.Load() >= p.maxConn {
		l.refused.Add(1)
		unix.Close(fd)
		return
	}
	if p.keepAlive != lp.lnKeepAlive { // changed by Apply since listen
		if err := setConnOptions(fd, p.keepAlive); err != nil {
			l.log.Debug("setting client socket options", zap.Error(err))
		}
	}
	s := &session{lp: lp, client: client, tidx: -1, lastActive: lp.now}
	s.cli.fd, s.srv.fd = fd, -1
	s.c2s.src, s.c2s.dst = &s.cli, &s.srv
	s.s2c.src, s.s2c.dst = &s.srv, &s.cli
	tok, err := lp.register(fd, s)
	if err != nil {
		l.log.Warn("registering client connection", zap.Error(err))
		unix.Close(fd)
		return
	}
	s.cli.tok = tok
	l.active.Add(1)
	l.total.Add(1)
	lp.link(s)
	s.state = stateConnecting
	s.connectNext()
}

// connectNext starts a connect to the next backend, or closes the session
// if every attempt is used up or no backend is usable.
func (s *session) connectNext() {
	lp, l := s.lp, s.lp.l
	p := l.params.Load()
	for {
		if len(s.tried) > p.retries {
			l.noBackend.Add(1)
			l.log.Debug("giving up on client: every connect attempt failed",
				zap.Stringer("client", s.client), zap.Int("attempts", len(s.tried)))
			s.close()
			return
		}
		t, full := l.choose(s.client.Addr(), &s.sticky, s.tried)
		if t.be == nil {
			if full && len(s.tried) == 0 {
				l.refused.Add(1)
			} else {
				l.noBackend.Add(1)
			}
			s.close()
			return
		}
		s.tried = append(s.tried, t.be)
		s.be = t.be
		s.proxy = t.proxy
		fd, err := dialSocket(t.addr, p.keepAlive)
		if err != nil {
			s.be = nil
			l.attemptFailed(t.be)
			l.log.Debug("connecting to backend", zap.String("backend", t.be.name), zap.Error(err))
			continue
		}
		tok, err := lp.register(fd, s)
		if err != nil {
			unix.Close(fd)
			s.be = nil
			l.attemptFailed(t.be)
			l.log.Warn("registering backend connection", zap.Error(err))
			continue
		}
		s.srv = sock{fd: fd, tok: tok}
		lp.timers.set(s, lp.now.Add(p.connectTimeout))
		return
	}
}

// attemptFailed ends the current connect attempt and tries the next backend.
func (s *session) attemptFailed(err error) {
	lp := s.lp
	lp.timers.stop(s)
	if s.srv.fd >= 0 {
		lp.release(s.srv.fd)
		s.srv = sock{fd: -1}
	}
	if b := s.be; b != nil {
		s.be = nil
		lp.l.attemptFailed(b)
		lp.l.log.Debug("connect to backend failed", zap.String("backend", b.name),
			zap.Stringer("client", s.client), zap.Error(err))
	}
	s.connectNext()
}

// connectDone handles the completion event of a non-blocking connect;
// events are those of the event that reported it.
func (s *session) connectDone(events uint32) {
	if err := socketError(s.srv.fd); err != nil {
		s.attemptFailed(err)
		return
	}
	lp := s.lp
	lp.timers.stop(s)
	if s.proxy != "" {
		if err := s.sendProxyHeader(); err != nil {
			s.attemptFailed(err)
			return
		}
	}
	s.be.total.Add(1)
	s.c2s.counter, s.s2c.counter = &s.be.bytesIn, &s.be.bytesOut
	s.state = stateEstablished
	s.tried = nil // not needed any more; keep idle sessions small
	// Data (even a FIN) may have come with the connect completion: with
	// edge-triggered events the read side must be tried once.
	s.srv.note(events)
	s.srv.readable, s.srv.writable = true, true
	s.lastActive = lp.now
	if d := lp.l.params.Load().idleTimeout; d > 0 {
		lp.timers.set(s, lp.now.Add(d))
	}
	s.pump()
}

// sendProxyHeader writes the PROXY protocol header on the fresh server
// socket; its send buffer is empty, so the write is complete or fails.
func (s *session) sendProxyHeader() error {
	local := s.lp.local
	if !local.IsValid() || local.Addr().IsUnspecified() {
		if sa, err := unix.Getsockname(s.cli.fd); err == nil {
			local = fromSockaddr(sa)
		}
	}
	var buf [proxyproto.V2HeaderLen + proxyproto.V2IPv6AddrLen + 64]byte
	var h []byte
	if s.proxy == ProxyV1 {
		h = proxyproto.AppendV1(buf[:0], s.client, local)
	} else {
		h = proxyproto.AppendV2(buf[:0], s.client, local)
	}
	n, err := unix.Write(s.srv.fd, h)
	if err != nil {
		return fmt.Errorf("writing PROXY header: %w", err)
	}
	if n != len(h) {
		return fmt.Errorf("writing PROXY header: short write %d of %d bytes", n, len(h))
	}
	return nil
}

// timerFired handles the session's deadline: connect timeout or idle.
func (s *session) timerFired() {
	lp := s.lp
	switch s.state {
	case stateConnecting:
		s.attemptFailed(errors.New("connect timeout"))
	case stateEstablished:
		d := lp.l.params.Load().idleTimeout
		if d <= 0 {
			return
		}
		if next := s.lastActive.Add(d); lp.now.Before(next) {
			lp.timers.set(s, next)
			return
		}
		lp.l.log.Debug("closing idle session", zap.Stringer("client", s.client))
		s.close()
	}
}

// pump moves data both ways as far as readiness allows, propagates
// half-closes, and closes the session when both directions are done.
func (s *session) pump() {
	if s.state != stateEstablished {
		return
	}
	more1, err := s.move(&s.c2s)
	if err != nil {
		s.abort(fmt.Errorf("client to server: %w", err))
		return
	}
	more2, err := s.move(&s.s2c)
	if err != nil {
		s.abort(fmt.Errorf("server to client: %w", err))
		return
	}
	if s.c2s.shut && s.s2c.shut {
		s.close()
		return
	}
	if (more1 || more2) && !s.queued {
		s.queued = true
		s.lp.ready = append(s.lp.ready, s)
	}
}

// move runs one direction until its source or destination would block, or
// the budget is spent (more is then true). On EOF with nothing left in
// flight it shuts the destination down for writing.
//
// Reads start with recv(2) into the loop's scratch buffer and are written
// on at once: for the small messages of AMQP this is two syscalls and no
// pipe. A short read means the socket is drained (recv copies everything
// queued), unless a FIN was announced (hup), so no extra read for EAGAIN
// is needed. A read that fills the scratch buffer switches the direction to
// splice(2) through a borrowed pipe until the socket is drained. Bytes the
// destination does not take at once wait in a stash buffer (scratch copy)
// or the pipe (splice) borrowed only until they are written.
func (s *session) move(h *half) (more bool, err error) {
	lp := s.lp
	src, dst := h.src, h.dst
	for range chunkBudget {
		if h.end > h.off {
			if !dst.writable {
				return false, nil
			}
			n, err := write(dst.fd, h.buf[h.off:h.end])
			if err != nil {
				if err == unix.EAGAIN {
					dst.writable = false
					return false, nil
				}
				return false, err
			}
			h.off += int32(n)
			h.counter.Add(uint64(n))
			s.lastActive = lp.now
			if h.off < h.end {
				continue
			}
			lp.putBuf(h.buf)
			h.buf, h.off, h.end = nil, 0, 0
		}
		if h.n > 0 {
			if !dst.writable {
				return false, nil
			}
			n, err := splice(h.p.r, dst.fd, int(h.n))
			if err != nil {
				if err == unix.EAGAIN {
					dst.writable = false
					return false, nil
				}
				return false, err
			}
			h.n -= int32(n)
			h.counter.Add(uint64(n))
			s.lastActive = lp.now
			if h.n > 0 {
				continue
			}
		}
		if h.p != nil {
			lp.pipes.put(h.p)
			h.p = nil
		}
		if h.eof {
			if !h.shut {
				h.shut = true
				if err := unix.Shutdown(dst.fd, unix.SHUT_WR); err != nil && err != unix.ENOTCONN {
					return false, fmt.Errorf("shutting down for writing: %w", err)
				}
			}
			return false, nil
		}
		if !src.readable {
			return false, nil
		}
		if h.bulk {
			p, err := lp.pipes.get()
			if err != nil {
				return false, err
			}
			n, err := splice(src.fd, p.w, p.size)
			if err != nil {
				lp.pipes.put(p) // nothing was moved into it
				if err == unix.EAGAIN {
					src.readable = false
					h.bulk = false
					return false, nil
				}
				return false, err
			}
			if n == 0 {
				lp.pipes.put(p)
				h.eof = true
				continue
			}
			h.p, h.n = p, int32(n)
			s.lastActive = lp.now
			continue
		}
		buf := lp.scratch[:]
		n, err := read(src.fd, buf)
		if err != nil {
			if err == unix.EAGAIN {
				src.readable = false
				return false, nil
			}
			return false, err
		}
		if n == 0 {
			h.eof = true
			continue
		}
		s.lastActive = lp.now
		if n == len(buf) {
			h.bulk = true
		} else if !src.hup {
			src.readable = false // drained; the next arrival raises a new edge
		}
		m := 0
		if dst.writable {
			m, err = write(dst.fd, buf[:n])
			if err != nil {
				if err != unix.EAGAIN {
					return false, err
				}
				m = 0
				dst.writable = false
			}
			h.counter.Add(uint64(m))
		}
		if m < n {
			h.buf = lp.getBuf()
			h.off, h.end = 0, int32(copy(h.buf[:], buf[m:n]))
		}
	}
	return true, nil
}

// read is read(2) retried on EINTR.
func read(fd int, b []byte) (int, error) {
	for {
		n, err := unix.Read(fd, b)
		if err == unix.EINTR {
			continue
		}
		return n, err
	}
}

// write is write(2) retried on EINTR.
func write(fd int, b []byte) (int, error) {
	for {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		return n, err
	}
}

// splice moves up to n bytes from fd in to fd out without blocking.
func splice(in, out, n int) (int, error) {
	for {
		m, err := unix.Splice(in, nil, out, nil, n, unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
		if err == unix.EINTR {
			continue
		}
		return int(m), err
	}
}

// abort closes the session after an I/O error.
func (s *session) abort(err error) {
	s.lp.l.log.Debug("closing session after error", zap.Stringer("client", s.client), zap.Error(err))
	s.close()
}

// close releases everything the session holds: timer, fds, pipes, backend
// and persistence counts.
func (s *session) close() {
	if s.state == stateClosed {
		return
	}
	lp := s.lp
	s.state = stateClosed
	lp.timers.stop(s)
	lp.release(s.cli.fd)
	if s.srv.fd >= 0 {
		lp.release(s.srv.fd)
	}
	for _, h := range [...]*half{&s.c2s, &s.s2c} {
		if h.p != nil {
			if h.n > 0 {
				lp.pipes.discard(h.p)
			} else {
				lp.pipes.put(h.p)
			}
			h.p = nil
		}
		if h.buf != nil {
			lp.putBuf(h.buf)
			h.buf = nil
		}
	}
	lp.unlink(s)
	lp.l.sessionEnded(s.be, s.sticky)
	s.be, s.sticky = nil, nil
	lp.l.sessionClosed()
}

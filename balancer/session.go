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

// session is one proxied client connection. It is owned by its loop and
// costs, while idle, this struct and two sockets: no goroutine, no pipe.
type session struct {
	lp         *loop
	prev, next *session // the loop's live sessions; next also links free ones (sessionPool)

	cli, srv sock // client side, server (backend) side
	state    uint8
	queued   bool // in lp.ready
	// endSeen: schedule saw the session ending and moved lastActive to
	// that moment, from which its FIN timeout counts.
	endSeen bool
	// srvKeepAlive: TCP keepalive was set on the server side (see
	// armKeepAlive); the client side inherits it from the listening socket.
	srvKeepAlive bool
	proxy        proxyproto.Version
	// ends is how the session began to end: the side that closed or
	// failed first (see noteEnd); EndUnknown while neither has.
	ends EndReason
	// noPort counts the attempts in tried that failed for want of a
	// local port (EADDRNOTAVAIL): not the backends' failures.
	noPort uint8
	// fins has a bit per direction (finBit) whose end went out to its
	// destination as a FIN: that destination is then never reset, since a
	// reset would drop the bytes and the FIN its kernel has not sent yet.
	fins uint8
	tidx int32 // index in lp.timers, -1 if not scheduled
	// idx is the session's index in lp.sessions: the epoll data of its
	// sockets' registrations, with their tokens.
	idx uint32

	client netip.AddrPort
	be     *backend     // holds one active count of be while non-nil
	sticky *stickyEntry // persistence reference, nil when off
	tried  []*backend   // backends of the failed connect attempts (nil while none failed)

	c2s, s2c half

	// Times of the loop (loop.now).
	deadline    time.Duration // in lp.timers: see timeout.go
	established time.Duration // when the backend connection was established
	lastActive  time.Duration // when a byte last moved (or established, or it began to end)
	accepted    time.Duration // when the client was accepted
}

// newSession starts proxying the accepted client socket fd.
func (lp *loop) newSession(fd int, client netip.AddrPort) {
	l := lp.l
	p := l.params.Load()
	if why := p.lists.refuses(client.Addr()); why != EndUnknown {
		lp.refuseByList(p, fd, client, why)
		return
	}
	// The session's place is taken before the limit is looked at, so that
	// loops accepting at the same moment cannot pass maxconn together.
	if n := l.active.Add(1); p.maxConn > 0 && n > p.maxConn {
		l.refuseAccepted(p, fd, client, &l.refused, EndRefused)
		return
	}
	if held, ok := l.clients.add(client.Addr(), p.maxConnClient); !ok {
		l.refuseAccepted(p, fd, client, &l.refusedClient, EndRefusedClient)
		if n, log := l.clients.refused(l.epoch.Add(lp.now)); log {
			l.log.Warn("refused connections: the client address holds maxconn_per_client sessions (logged at most every 10s)",
				zap.Stringer("client", client.Addr()), zap.Int64("sessions", held), zap.Int("refused", n))
		}
		return
	}
	if opts := p.connOpts(); opts != lp.lnOpts { // changed by Apply since listen
		if err := resetConnOptions(fd, opts); err != nil {
			l.log.Debug("setting client socket options", zap.Error(err))
		}
	}
	s := lp.sessions.get()
	s.lp, s.client, s.tidx, s.lastActive, s.accepted = lp, client, -1, lp.now, lp.now
	s.cli.fd, s.srv.fd = fd, -1
	tok, err := lp.register(fd, s)
	if err != nil {
		lp.sessions.put(s)
		unix.Close(fd)
		l.clients.done(client.Addr())
		l.sessionClosed()
		why := EndError
		if localError(err) {
			// The host's shortage (no kernel memory, no room in
			// epoll), as for a backend connection: counted apart and
			// logged at Debug, so that a flood of clients cannot
			// flood the log.
			why = EndLocalResources
			l.refusedLocal.Add(1)
			l.log.Debug("refusing client: no socket memory or room in epoll for its connection",
				zap.Stringer("client", client), zap.Error(err))
		} else {
			l.log.Warn("registering client connection", zap.Error(err))
		}
		if p.logSessions {
			l.logSession(sessionEnd{client: client, why: why})
		}
		return
	}
	s.cli.tok = tok
	l.total.Add(1)
	lp.link(s)
	s.state = stateConnecting
	s.connectNext()
}

// refuseAccepted closes the accepted client socket fd at a limit, before
// it has a session: it gives back the place newSession took, counts the
// client in refused and logs it as ending for why.
func (l *Listener) refuseAccepted(p *params, fd int, client netip.AddrPort, refused *atomic.Uint64, why EndReason) {
	l.sessionClosed()
	refused.Add(1)
	unix.Close(fd)
	if p.logSessions {
		l.logSession(sessionEnd{client: client, why: why})
	}
}

// refuseByList closes the accepted client socket fd of a client that
// Config.AllowedClients leaves out or Config.DeniedClients holds (why
// says which), before it has a session or a place under maxconn, and
// counts and logs it (see Listener.notAllowedLog).
func (lp *loop) refuseByList(p *params, fd int, client netip.AddrPort, why EndReason) {
	l := lp.l
	list := "not in allowed_clients"
	if why == EndDenied {
		l.refusedDenied.Add(1)
		list = "in denied_clients"
	} else {
		l.refusedNotAllowed.Add(1)
	}
	defer unix.Close(fd) // once counted and logged, for the client to see
	if p.logSessions {
		l.logSession(sessionEnd{client: client, why: why})
	}
	n, log := l.notAllowedLog.Count(l.epoch.Add(lp.now))
	if log {
		l.log.Warn("refused connections: the client address is "+list+" (logged at most every 10s)",
			zap.Stringer("client", client.Addr()), zap.Int("refused", n))
	}
}

// connectNext starts a connect to the next backend, or closes the session
// if every attempt is used up or no backend is usable.
func (s *session) connectNext() {
	lp, l := s.lp, s.lp.l
	p := l.params.Load()
	for {
		if len(s.tried) > p.retries {
			s.everyAttemptFailed()
			return
		}
		t, full := l.choose(s.client.Addr(), &s.sticky, s.tried)
		if t.be == nil {
			switch {
			case full && len(s.tried) == 0:
				l.refused.Add(1)
				s.close(EndRefused)
			case len(s.tried) > 0:
				s.everyAttemptFailed()
			default:
				l.noBackend.Add(1)
				s.close(EndNoBackend)
			}
			return
		}
		s.be = t.be
		s.proxy = t.proxy
		loops, unsure := SelfAddress(lp.local, t.addr)
		if loops {
			s.loopedBack(t.be)
			continue
		}
		fd, err := l.dial(t.addr)
		if errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) {
			// No fd for the backend socket: the proxy's limit, not the
			// backend's failure. close gives back s.be's count.
			l.refusedFdLimit.Add(1)
			l.log.Debug("refusing client: out of file descriptors",
				zap.Stringer("client", s.client), zap.Error(err))
			s.close(EndFdLimit)
			return
		}
		if errors.Is(err, unix.EADDRNOTAVAIL) {
			// No local port left for this destination (ephemeral
			// ports are per destination): another backend's address
			// may have one. Not the backend's failure: its active
			// count is given back without a connect failure.
			l.sessionEnded(s.be, nil)
			s.be = nil
			s.tried = append(s.tried, t.be)
			s.noPort = min(s.noPort+1, 255)
			l.log.Debug("no local port for a connection to backend", zap.String("backend", t.be.name), zap.Error(err))
			continue
		}
		if localError(err) {
			s.refuseLocal(err)
			return
		}
		if err != nil {
			s.be = nil
			s.tried = append(s.tried, t.be)
			l.attemptFailed(t.be, s.sticky)
			l.log.Debug("connecting to backend", zap.String("backend", t.be.name), zap.Error(err))
			continue
		}
		if unsure && sourceIs(fd, t.addr.Addr()) {
			resetClose(fd)
			s.loopedBack(t.be)
			continue
		}
		if p.userTimeout > 0 {
			// Set while the connect is under way, before a byte
			// can be sent, so that it holds from the first byte
			// on, as the client side's does.
			if err := setUserTimeout(fd, p.userTimeout); err != nil {
				l.log.Debug("setting backend socket options", zap.String("backend", t.be.name), zap.Error(err))
			}
		}
		tok, err := lp.register(fd, s)
		if localError(err) {
			unix.Close(fd)
			s.refuseLocal(err)
			return
		}
		if err != nil {
			unix.Close(fd)
			s.be = nil
			s.tried = append(s.tried, t.be)
			l.attemptFailed(t.be, s.sticky)
			l.log.Warn("registering backend connection", zap.Error(err))
			continue
		}
		s.srv = sock{fd: fd, tok: tok}
		lp.timers.set(s, later(lp.now, p.connectTimeout))
		return
	}
}

// everyAttemptFailed closes a session whose connect attempts all failed:
// refused as the host's shortage when each failed for want of a local
// port, else counted as no backend.
func (s *session) everyAttemptFailed() {
	if int(s.noPort) == len(s.tried) {
		s.refuseLocal(unix.EADDRNOTAVAIL)
		return
	}
	l := s.lp.l
	l.noBackend.Add(1)
	l.log.Debug("giving up on client: every connect attempt failed",
		zap.Stringer("client", s.client), zap.Int("attempts", len(s.tried)))
	s.close(EndConnectFailed)
}

// localError reports whether err, from starting a backend connection,
// is the host's own shortage rather than the backend's failure: no socket
// memory (ENOBUFS, ENOMEM), or no room in epoll (ENOSPC:
// fs.epoll.max_user_watches). No local port (EADDRNOTAVAIL) is the
// host's too, but only for that destination: connectNext tries the next
// backend.
func localError(err error) bool {
	return errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.ENOMEM) || errors.Is(err, unix.ENOSPC)
}

// refuseLocal closes the client of a session whose backend connection the
// host could not make (localError, or no local port for any backend
// tried): counted apart, the backend not blamed. close gives back s.be's
// count.
func (s *session) refuseLocal(err error) {
	l := s.lp.l
	l.refusedLocal.Add(1)
	l.log.Debug("refusing client: no local port or socket memory for the backend connection",
		zap.Stringer("client", s.client), zap.Error(err))
	s.close(EndLocalResources)
}

// dropAttempt stops the connect attempt in progress: its timer, and its
// socket, which goes back to the loop. It returns the session's loop.
func (s *session) dropAttempt() *loop {
	lp := s.lp
	lp.timers.stop(s)
	if s.srv.fd >= 0 {
		lp.release(s.srv.fd, false)
		s.srv = sock{fd: -1}
	}
	return lp
}

// attemptFailed ends the current connect attempt and tries the next backend.
func (s *session) attemptFailed(err error) {
	lp := s.dropAttempt()
	if b := s.be; b != nil {
		s.be = nil
		s.tried = append(s.tried, b)
		lp.l.attemptFailed(b, s.sticky)
		lp.l.log.Debug("connect to backend failed", zap.String("backend", b.name),
			zap.Stringer("client", s.client), zap.Error(err))
	}
	s.connectNext()
}

// redispatch abandons the connect in progress to a backend taken out of
// service (marked down or removed: why) and starts one to another. That
// is not the backend's failure, nor the client's: no connect failure is
// counted and no retry used, so that a client is not closed for it even
// with no retry configured.
func (s *session) redispatch(why EndReason) {
	lp := s.dropAttempt()
	if b := s.be; b != nil {
		s.be = nil
		lp.l.sessionEnded(b, nil)
		lp.l.log.Debug("connect to backend abandoned: redispatching", zap.String("backend", b.name),
			zap.Stringer("client", s.client), zap.Stringer("reason", why))
	}
	s.connectNext()
}

// connectDone handles the completion event of a non-blocking connect;
// events are those of the event that reported it. A TCP socket reports
// EPOLLOUT only once it is connected, and a failed connect EPOLLERR or
// EPOLLHUP, so SO_ERROR is read only then: a successful connect costs no
// syscall here.
func (s *session) connectDone(events uint32) {
	if events&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
		if err := socketError(s.srv.fd); err != nil {
			s.attemptFailed(err)
			return
		}
	}
	lp := s.lp
	lp.timers.stop(s)
	if s.proxy != proxyproto.None {
		if err := s.sendProxyHeader(); err != nil {
			s.attemptFailed(err)
			return
		}
	}
	s.be.total.Add(1)
	s.state = stateEstablished
	s.tried = nil // not needed any more; keep idle sessions small
	// Data (even a FIN) may have come with the connect completion: with
	// edge-triggered events the read side must be tried once.
	s.srv.note(events)
	if s.srv.failed {
		s.noteEnd(EndBrokerReset)
	}
	s.srv.readable, s.srv.writable = true, true
	s.established, s.lastActive = lp.now, lp.now
	s.schedule()
	s.pump()
}

// SelfAddress reports whether a connection to dst would reach a listener
// bound at local: dst is the bind, or the bind is unspecified (0.0.0.0,
// [::]) and dst a loopback address at its port. unsure is set when the
// bind is unspecified and dst another address at its port: the connection
// loops when dst is one of this host's (the listener tells, once its
// connect has started; the configuration when the file names the address
// as the host's). No other socket can listen there beside the listener's.
func SelfAddress(local, dst netip.AddrPort) (loops, unsure bool) {
	if dst.Port() != local.Port() {
		return false, false
	}
	la, da := local.Addr(), dst.Addr().Unmap()
	switch {
	case la.Unmap() == da:
		return true, false
	case !la.IsUnspecified() || (la.Is4() && !da.Is4()):
		return false, false
	case da.IsLoopback():
		return true, false
	}
	return false, true
}

// sourceIs reports whether the connection being made on fd goes out from
// addr: the kernel takes the destination itself as the source of a
// connection to an address of its own.
func sourceIs(fd int, addr netip.Addr) bool {
	sa, err := unix.Getsockname(fd)
	return err == nil && fromSockaddr(sa).Addr().Unmap() == addr.Unmap()
}

// loopedBack gives up b, whose address is this listener's own
// (SelfAddress): the session tries the next backend, and b takes no new
// connection until a reload configures it again. Each connection to it
// would be accepted and handed on to a backend again, and once pinned by
// persistence or picked again, to itself, until the file descriptors ran
// out.
func (s *session) loopedBack(b *backend) {
	l := s.lp.l
	if l.loopedBack(b) {
		l.log.Error("backend's address is this listener's own: not connecting to it until a reload configures it again; give it a broker's address",
			zap.String("backend", b.name), zap.Stringer("address", b.addr), zap.Stringer("bind", s.lp.local))
	}
	s.be = nil
	s.tried = append(s.tried, b)
	l.attemptFailed(b, s.sticky)
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
	h := s.proxy.Append(buf[:0], s.client, local)
	n, err := unix.Write(s.srv.fd, h)
	if err != nil {
		return fmt.Errorf("writing PROXY header: %w", err)
	}
	if n != len(h) {
		return fmt.Errorf("writing PROXY header: short write %d of %d bytes", n, len(h))
	}
	return nil
}

// pump moves data both ways as far as readiness allows, passes ends
// (half-closes and resets) on, and closes the session when both directions
// are finished.
func (s *session) pump() {
	if s.state != stateEstablished {
		return
	}
	more1 := s.move(&s.c2s)
	more2 := s.move(&s.s2c)
	if s.finished(&s.c2s) && s.finished(&s.s2c) {
		s.close(s.ends)
		return
	}
	if (more1 || more2) && !s.queued {
		s.queued = true
		s.lp.ready = append(s.lp.ready, s)
	}
}

// ending reports whether the session has begun to end: a direction's
// source ended, a side failed, or a side's FIN or hang-up was announced
// (hup), even if the bytes before it are still unread behind a peer that
// does not read.
func (s *session) ending() bool {
	return s.c2s.ended || s.s2c.ended || s.cli.failed || s.srv.failed || s.cli.hup || s.srv.hup
}

// abort closes the session after an error, for reason why.
func (s *session) abort(why EndReason, err error) {
	s.lp.l.log.Debug("closing session after error", zap.Stringer("client", s.client), zap.Error(err))
	s.close(why)
}

// noteEnd records that the session began to end for r, a side that
// closed or failed: the first such end is kept, except that a failure
// replaces a close seen before it.
func (s *session) noteEnd(r EndReason) {
	if s.ends == EndUnknown || (r.reset() && !s.ends.reset()) {
		s.ends = r
	}
}

// close releases everything the session holds: timer, fds, pipes, backend
// and persistence counts. why is the reason it ends, logged when the
// listener logs sessions.
func (s *session) close(why EndReason) {
	if s.state == stateClosed {
		return
	}
	lp := s.lp
	if p := lp.l.params.Load(); p.logSessions {
		s.logEnd(why)
	}
	connected := s.state == stateEstablished
	s.state = stateClosed
	lp.timers.stop(s)
	// A side whose peer's connection failed is reset, so that its own peer
	// sees the failure (HAProxy does the same); otherwise the kernel ends
	// it in order, after sending what is queued (see endInOrder). A side
	// that was already given its peer's FIN keeps it: the peer closed
	// before it failed, and a reset would drop what the side's kernel has
	// not sent yet. A client whose address left the host (EndVIPLeft) is
	// reset: nothing queued for it can be delivered from that address any
	// more, and an orderly close would keep retransmitting it from an
	// address that is gone.
	if why == EndVIPLeft || (s.srv.failed && !s.cli.failed && !s.finSent(&s.s2c)) {
		lp.release(s.cli.fd, true)
	} else {
		s.endInOrder(&s.cli, &s.c2s)
	}
	if s.srv.fd >= 0 {
		switch {
		case s.cli.failed && !s.srv.failed && !s.finSent(&s.c2s):
			lp.release(s.srv.fd, true)
		case connected:
			s.endInOrder(&s.srv, &s.s2c)
		default: // a connect in progress: nothing was received
			lp.release(s.srv.fd, false)
		}
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
	if connected && s.be != nil && why < numEndReasons {
		s.be.ended[why].Add(1)
	}
	lp.l.sessionEnded(s.be, s.sticky)
	s.be, s.sticky = nil, nil
	lp.l.clients.done(s.client.Addr())
	lp.l.sessionClosed()
	// Reused once the loop's turn is over (see loop.recycle): until then
	// the session stays closed for whatever still refers to it this turn.
	lp.closed = append(lp.closed, s)
}

// endInOrder closes side k, the source of direction h, with a FIN after
// the bytes its kernel still holds for its peer. Bytes the peer sent that
// were never read (a frame that came in the turn the session ended, or
// that waited behind a destination that did not take more) are dropped
// first: close(2) with unread bytes would send a reset instead, and the
// reset would drop what the peer has not received yet. A side read to its
// end (EOF, or the error of its failure) has nothing left to drop, which
// spares the syscall to the sessions that end the ordinary way. Bytes that
// arrive after the close are the peer's to lose: its kernel gets a reset
// for them, as it would from a broker or client that had closed. Bytes
// that arrive between the discard and the close (microseconds: the peer
// sent them in that moment) still make the close a reset.
func (s *session) endInOrder(k *sock, h *half) {
	if !h.ended && !k.failed {
		discardInput(k.fd)
	}
	s.lp.release(k.fd, false)
}

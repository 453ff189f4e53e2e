package balancer

import (
	"fmt"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
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
	// EPOLLHUP, EPOLLERR); reads then go on until EOF or an error, short
	// reads do not clear readable.
	hup bool
	// failed: the connection was reset or failed (EPOLLERR, or an error
	// from a read or write). The bytes it received before are still read
	// and passed on (the kernel keeps them readable after a reset); nothing
	// more is written to it; and the other side is closed with a reset once
	// it has sent them, so that its peer sees the failure too.
	failed bool
}

// note records the readiness reported by one epoll event on k.
func (k *sock) note(events uint32) {
	if events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		k.readable = true
	}
	if events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		k.hup = true
	}
	if events&(unix.EPOLLOUT|unix.EPOLLHUP) != 0 {
		k.writable = true
	}
	if events&unix.EPOLLERR != 0 {
		k.failed = true
	}
}

// half is one direction of a session: bytes read from its source (src)
// are written to its destination (dst), either straight from the loop's
// scratch buffer or spliced through a pipe borrowed from the loop's pool.
// The pipe and the stash buffer are held only while they have bytes in
// them. The sockets and the backend's byte counter of a direction follow
// from which of the session's two halves it is (session.sides, count).
type half struct {
	p        *pipe
	buf      *stash // borrowed; buf[off:end] waits for dst
	bytes    uint64 // written to dst: the session's share of the backend's counter
	n        int32  // bytes in p
	off, end int32
	bulk     bool // the last read filled the scratch buffer: splice
	seen     bool // a byte was read from src
	// ended: nothing more will be read from src (EOF, or src failed and
	// was read to its end).
	ended bool
	// done: everything read from src was written and its end passed on to
	// dst: shutdown(SHUT_WR) after EOF; after a failure of src, dst's
	// kernel has sent every byte, so dst may now be reset.
	done bool
}

// sides returns the source and destination sockets of h, a direction of
// s (a half does not keep them: that keeps idle sessions small).
func (s *session) sides(h *half) (src, dst *sock) {
	if h == &s.c2s {
		return &s.cli, &s.srv
	}
	return &s.srv, &s.cli
}

// count records n bytes written to h's destination, in the backend's
// counter of that direction and the session's.
func (s *session) count(h *half, n int) {
	if h == &s.c2s {
		s.be.bytesIn.Add(uint64(n))
	} else {
		s.be.bytesOut.Add(uint64(n))
		if now := int64(s.lp.now); s.be.sentAt.Load() != now {
			s.be.sentAt.Store(now)
		}
	}
	h.bytes += uint64(n)
}

// finished reports whether h has nothing more to do: its end was passed
// on, or its destination failed (what was in flight for it is dropped).
func (s *session) finished(h *half) bool {
	_, dst := s.sides(h)
	return h.done || dst.failed
}

// move runs one direction until its source or destination would block, or
// the budget is spent (more is then true; it is also true when a side
// failed, so that the other direction gets another turn to drain it).
//
// Reads start with recv(2) into the loop's scratch buffer and are written
// on at once: for the small messages of AMQP this is two syscalls and no
// pipe. A short read means the socket is drained (recv copies everything
// queued), unless a FIN was announced (hup), so no extra read for EAGAIN
// is needed. A read that fills the scratch buffer switches the direction to
// splice(2) through a borrowed pipe until the socket is drained. Bytes the
// destination does not take at once wait in a stash buffer (scratch copy)
// or the pipe (splice) borrowed only until they are written. Once src has
// ended and everything is written, the end is passed on (see passEnd).
func (s *session) move(h *half) (more bool) {
	lp := s.lp
	src, dst := s.sides(h)
	if s.finished(h) {
		return false
	}
	for range chunkBudget {
		if h.end > h.off {
			if !dst.writable {
				return false
			}
			n, err := write(dst.fd, h.buf[h.off:h.end])
			if err != nil {
				return s.writeFailed(dst, err)
			}
			h.off += int32(n)
			s.count(h, n)
			s.lastActive = lp.now
			if h.off < h.end {
				continue
			}
			lp.putBuf(h.buf)
			h.buf, h.off, h.end = nil, 0, 0
		}
		if h.n > 0 {
			if !dst.writable {
				return false
			}
			n, err := splice(h.p.r, dst.fd, int(h.n))
			if err != nil {
				return s.writeFailed(dst, err)
			}
			h.n -= int32(n)
			s.count(h, n)
			s.lastActive = lp.now
			if h.n > 0 {
				continue
			}
		}
		if h.p != nil {
			lp.pipes.put(h.p)
			h.p = nil
		}
		if h.ended {
			return s.passEnd(h)
		}
		if !src.readable {
			return false
		}
		if p := s.bulkPipe(h); p != nil {
			n, err := splice(src.fd, p.w, p.size)
			if err != nil {
				lp.pipes.put(p) // nothing was moved into it
				if err == unix.EAGAIN {
					src.readable = false
					h.bulk = false
					return false
				}
				s.readFailed(h, err)
				continue
			}
			if n == 0 {
				lp.pipes.put(p)
				s.srcEnded(h)
				continue
			}
			h.p, h.n = p, int32(n)
			h.seen = true
			s.lastActive = lp.now
			continue
		}
		buf := lp.scratch[:]
		n, err := read(src.fd, buf)
		if err != nil {
			if err == unix.EAGAIN {
				src.readable = false
				return false
			}
			s.readFailed(h, err)
			continue
		}
		if n == 0 {
			s.srcEnded(h)
			continue
		}
		h.seen = true
		s.lastActive = lp.now
		if n == len(buf) {
			h.bulk = true
		} else if !src.hup {
			src.readable = false // drained; the next arrival raises a new edge
		}
		m := 0
		if dst.writable {
			m, err = write(dst.fd, buf[:n])
			if err == unix.EAGAIN {
				m = 0
				dst.writable = false
			} else if err != nil {
				return s.writeFailed(dst, err)
			}
			s.count(h, m)
		}
		if m < n {
			h.buf = lp.getBuf()
			h.off, h.end = 0, int32(copy(h.buf[:], buf[m:n]))
		}
	}
	return true
}

// passEnd passes the end of h's source on to its destination, everything
// read having been written. After EOF that is shutdown(SHUT_WR): the peer
// reads the bytes, then EOF. After a failure of the source the destination
// is reset instead, when the session closes; first its kernel must have
// sent every byte, since a reset drops what it has not sent yet: while it
// has not, dst is asked (TCP_NOTSENT_LOWAT 1) to report writability only
// once it has, and the next EPOLLOUT brings h here again. The FIN timeout
// bounds that wait. It reports whether another turn is needed.
func (s *session) passEnd(h *half) (more bool) {
	src, dst := s.sides(h)
	if !src.failed {
		if s.other(h).done {
			// The other direction has ended too, so the session closes
			// now, and close(2) sends the FIN after the queued bytes as
			// shutdown would (dst was read to EOF: no unread byte turns
			// it into a reset).
			h.done = true
			s.fins |= s.finBit(h)
			return false
		}
		if err := unix.Shutdown(dst.fd, unix.SHUT_WR); err != nil && err != unix.ENOTCONN {
			return s.writeFailed(dst, fmt.Errorf("shutting down for writing: %w", err))
		}
		h.done = true
		s.fins |= s.finBit(h)
		return false
	}
	unsent, err := unix.IoctlGetInt(dst.fd, unix.SIOCOUTQNSD)
	if err != nil || unsent == 0 {
		h.done = true
		return false
	}
	if err := unix.SetsockoptInt(dst.fd, unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT, 1); err != nil {
		h.done = true // cannot wait for it: reset now
		return false
	}
	// Re-arm: the poll this makes lets the kernel wake the loop once the
	// unsent bytes are gone.
	dst.writable = false
	if err := s.lp.ctlSession(unix.EPOLL_CTL_MOD, dst.fd, s, dst.tok); err != nil {
		h.done = true
	}
	return false
}

// finBit returns the bit of direction h in s.fins.
func (s *session) finBit(h *half) uint8 {
	if h == &s.c2s {
		return 1
	}
	return 2
}

// finSent reports whether h's end went out to its destination as a FIN
// (shutdown, or close without a reset): the destination is not reset
// when the session closes, even if h's source fails afterwards.
func (s *session) finSent(h *half) bool {
	return s.fins&s.finBit(h) != 0
}

// other returns the session's direction opposite to h.
func (s *session) other(h *half) *half {
	if h == &s.c2s {
		return &s.s2c
	}
	return &s.c2s
}

// readFailed records that reading h's source failed (a reset): h has
// ended, and the source has failed.
func (s *session) readFailed(h *half, err error) {
	src, _ := s.sides(h)
	s.failed(src, err)
	s.srcEnded(h)
}

// writeFailed handles a failed write to dst: EAGAIN only clears dst's
// writability; anything else means dst failed. It reports whether another
// turn is needed (the other direction must drain dst).
func (s *session) writeFailed(dst *sock, err error) (more bool) {
	if err == unix.EAGAIN {
		dst.writable = false
		return false
	}
	s.failed(dst, err)
	return true
}

// failed records that k failed: it is read to its end, never written
// again, and the session is ending (FIN timeout).
func (s *session) failed(k *sock, err error) {
	if k.failed {
		return // already known (from EPOLLERR, or an earlier call)
	}
	side := "server"
	if k == &s.cli {
		side = "client"
	}
	s.lp.l.log.Debug("connection failed", zap.String("side", side),
		zap.Stringer("client", s.client), zap.Error(err))
	k.failed, k.hup, k.readable = true, true, true
	s.noteEnd(s.resetOf(k))
	s.schedule()
}

// resetOf returns the end reason of a failure of side k.
func (s *session) resetOf(k *sock) EndReason {
	if k == &s.cli {
		return EndClientReset
	}
	return EndBrokerReset
}

// bulkPipe returns a pipe for a splice(2) read if h is in bulk mode, nil to
// read with recv(2) instead: when h is not, or when no pipe can be made
// (pipe2 failing with EMFILE or ENFILE at the fd limit): the bytes are then
// copied through the scratch buffer, a little slower, rather than lost.
func (s *session) bulkPipe(h *half) *pipe {
	if !h.bulk {
		return nil
	}
	p, err := s.lp.pipes.get()
	if err != nil {
		s.lp.l.log.Debug("no pipe for splice; copying instead", zap.Error(err))
		return nil
	}
	return p
}

// srcEnded records that h's source has ended: the session is ending,
// which starts its FIN timeout.
func (s *session) srcEnded(h *half) {
	h.ended = true
	if h == &s.c2s {
		s.noteEnd(EndClientClosed)
	} else {
		s.noteEnd(EndBrokerClosed)
	}
	s.schedule()
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

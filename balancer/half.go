package balancer

import (
	"fmt"
	"sync/atomic"

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
	seen     bool // a byte was read from src
	eof      bool // src reached EOF
	shut     bool // dst was shut down for writing (direction done)
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
		if p := s.bulkPipe(h); p != nil {
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
				return false, nil
			}
			return false, err
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

// srcEnded records that h's source reached EOF: the session is ending,
// which starts its FIN timeout.
func (s *session) srcEnded(h *half) {
	h.eof = true
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

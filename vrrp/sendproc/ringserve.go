package sendproc

import (
	"errors"
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/rmqlb/rmqlb/internal/uring"
	"github.com/rmqlb/rmqlb/vrrp/sendwire"
)

// serveRing serves with the adverts queued in the kernel (see ringQueue):
// one goroutine, on a thread of its own, waits in the ring for markers,
// failed sends and the daemon's requests, and at each wake-up reads the
// liveness messages, counts what went out, handles the requests and
// queues the adverts the next refill periods hold. It returns nil when
// the daemon closes ctrl; the ring (closed by Serve) takes with it what
// is still queued.
func (s *server) serveRing(sched string) error {
	// The kernel runs the ring's chains on the thread that created it,
	// while it waits in the ring: this one (locked by Serve already).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	k := s.kq
	if err := s.write(&sendwire.Message{Type: sendwire.TypeReady, Text: sched}); err != nil {
		return err
	}
	if err := s.pollCtrl(); err != nil {
		return err
	}
	for {
		if err := k.flush(); err != nil {
			return fmt.Errorf("queueing adverts: %w", err)
		}
		if err := k.r.Wait(); err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("waiting in io_uring: %w", err)
		}
		s.mu.Lock()
		done, err := s.wake()
		s.mu.Unlock()
		if done || err != nil {
			return err
		}
	}
}

// wake is serveRing's work at each return from its wait. done: the
// daemon closed ctrl. Called with s.mu held.
func (s *server) wake() (done bool, err error) {
	now := s.now()
	s.ctrlReady = false
	s.kq.r.Completions(s.completion)
	s.readAlive(now)
	if s.ctrlReady {
		if done, err = s.receive(); done || err != nil {
			return done, err
		}
		if err := s.pollCtrl(); err != nil {
			return false, err
		}
	}
	return false, s.sched.plan(s.now(), &s.kq.seq, s.kq.queue, s.report, &s.rep)
}

// completion handles one completion of the ring. Called with s.mu held.
func (s *server) completion(c uring.CQE) {
	kind, id, seq := splitUserData(c.UserData)
	if kind == udCtrl {
		s.ctrlReady = true
		return
	}
	e := s.sched.find(id)
	if e == nil {
		return
	}
	switch {
	case kind == udMarker && c.Res == 0:
		e.chainDone(seq, s.kq.sinceTick(e))
	case kind == udMarker, kind == udRead && c.Res != -int32(unix.ECANCELED):
		// The chain broke (a read of the timer failed); ECANCELED is
		// forget's doing, which counts the chain itself.
		if e.chain.seq == seq {
			e.chainCut(s.now())
		}
	case kind == udSend:
		e.failedSend(seq)
	}
}

// pollCtrl asks the ring to wake serveRing when the daemon writes (or
// closes its end).
func (s *server) pollCtrl() error {
	sqe, err := s.kq.r.Next()
	if err != nil {
		if err := s.kq.flush(); err != nil {
			return err
		}
		if sqe, err = s.kq.r.Next(); err != nil {
			return err
		}
	}
	uring.PrepPollAdd(sqe, s.ctrl, unix.POLLIN)
	sqe.UserData = userData(udCtrl, 0, 0)
	return nil
}

// forget takes instance id's adverts out of the kernel's queue, if the
// process queues them there, before a request changes or stops them
// (stop: it also closes the instance's timer). Called with s.mu held.
func (s *server) forget(id uint16, stop bool) error {
	if s.kq == nil {
		return nil
	}
	e := s.sched.find(id)
	if e == nil {
		return nil
	}
	if err := s.kq.forget(e, s.now(), stop, s.completion); err != nil {
		return fmt.Errorf("taking adverts out of io_uring: %w", err)
	}
	return nil
}

// retime makes instance id's timer tick on its grid (after a start or an
// update), if the process queues its adverts in the kernel. Called with
// s.mu held.
func (s *server) retime(id uint16) error {
	if s.kq == nil {
		return nil
	}
	if e := s.sched.find(id); e != nil {
		return s.kq.startTimer(e)
	}
	return nil
}

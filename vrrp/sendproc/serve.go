package sendproc

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/rmqlb/rmqlb/internal/rawio"
	"github.com/rmqlb/rmqlb/vrrp/sendwire"
)

// ServeConfig configures Serve.
type ServeConfig struct {
	// RealTimePriority, when 1..99, puts every thread of the process in
	// the SCHED_FIFO class at that priority (it needs CAP_SYS_NICE or an
	// RLIMIT_RTPRIO that allows it; without, the process runs at normal
	// priority and says why in its Ready message). Zero: normal priority.
	RealTimePriority int
	// MemoryLimit is the Go runtime's memory limit; zero means
	// DefaultMemoryLimit.
	MemoryLimit int64
}

// DefaultMemoryLimit is the sender process's memory limit: it allocates
// nothing per advert, so its garbage collector (off) runs only if this is
// reached.
const DefaultMemoryLimit = 16 << 20

// Serve is the sender process: it serves the daemon on ctrl, its end of
// the socket pair of requests and acknowledgements, and reads the
// daemon's liveness messages from alive, its end of the second socket
// pair, until the daemon closes ctrl (then nil) or ctrl fails. It tunes
// the process first (see Tune): call it from main, once.
//
// Two goroutines serve: this one waits for ctrl in the runtime's poller
// and handles the daemon's requests at once (a Stop is acknowledged only
// once no advert of the instance will go out); the other waits for the
// advert timer and sends what is due. The liveness messages wake neither:
// the timer's goroutine reads them when it wakes (see readAlive).
func Serve(ctrl, alive int, cfg ServeConfig) error {
	sched := Tune(cfg)
	for _, fd := range []int{ctrl, alive} {
		if err := unix.SetNonblock(fd, true); err != nil {
			return fmt.Errorf("serving the daemon: %w", err)
		}
	}
	// CLOCK_MONOTONIC (the runtime's monotonic clock) at or after the
	// origin of now: the timer then never expires before the time it is
	// set for.
	epoch, mono, err := clockOrigin(time.Now, readMonotonic)
	if err != nil {
		return fmt.Errorf("serving the daemon: %w", err)
	}
	t, err := newAdvertTimer(mono)
	if err != nil {
		return fmt.Errorf("serving the daemon: %w", err)
	}
	defer t.close()
	cf := os.NewFile(uintptr(ctrl), "sendproc-ctrl")
	defer cf.Close()
	crc, err := cf.SyscallConn()
	if err != nil {
		return fmt.Errorf("serving the daemon: %w", err)
	}
	s := &server{ctrl: ctrl, alive: alive, t: t, epoch: epoch, buf: make([]byte, sendwire.MaxMessage), out: make([]byte, 0, 512),
		oob: make([]byte, unix.CmsgSpace(4*4)), aliveBuf: make([]byte, sendwire.HeaderLen)}
	s.msg.Packets = make([]sendwire.Packet, 0, sendwire.MaxPackets)
	s.msg.Delays = make([]time.Duration, 0, sendwire.MaxDelays)
	defer func() {
		for _, fd := range s.sched.closeAll() {
			unix.Close(fd)
		}
	}()
	if err := s.write(&sendwire.Message{Type: sendwire.TypeReady, Text: sched}); err != nil {
		if daemonGone(err) {
			return nil // the daemon stopped before this process was ready
		}
		return err
	}
	// The timer's goroutine ends when this one closes its timer, or on
	// an error: then it closes ctrl, which ends this one, and its error
	// is Serve's.
	timerDone := make(chan error, 1)
	go func() {
		err := t.wait(s.expired)
		if s.closing.Load() {
			err = nil
		} else {
			cf.Close()
		}
		timerDone <- err
	}()
	err = s.serveCtrl(crc)
	s.closing.Store(true)
	t.close()
	if terr := <-timerDone; terr != nil {
		return terr
	}
	if daemonGone(err) {
		return nil // the daemon closed ctrl while this process answered it
	}
	return err // nil only when the daemon closed ctrl (serveCtrl)
}

// daemonGone reports whether err, from writing to the daemon, is its end
// of the socket pair closed: the daemon ended (or gave this process up),
// which ends Serve as its closing ctrl does.
func daemonGone(err error) bool {
	return errors.Is(err, unix.EPIPE) || errors.Is(err, unix.ECONNRESET)
}

// server is Serve's state. Its two goroutines hold mu while they run.
type server struct {
	ctrl  int // the socket pair of requests
	alive int // the socket pair of liveness messages
	t     *advertTimer
	epoch time.Time // the origin of now

	// ctrlDone: the daemon closed ctrl (Serve returns nil). Set by the
	// goroutine serving ctrl.
	ctrlDone atomic.Bool
	// closing: Serve closes the timer (its goroutine's end is no error).
	closing atomic.Bool

	mu       sync.Mutex // guards the fields below
	sched    schedule
	buf      []byte // a message received
	oob      []byte // its SCM_RIGHTS
	out      []byte // a message to send
	msg      sendwire.Message
	rep      sendwire.Message
	aliveBuf []byte // a liveness message received
	aliveMsg sendwire.Message
	// Reused by recv: recvmsg(2)'s arguments.
	iov unix.Iovec
	hdr unix.Msghdr
}

// serveCtrl handles the daemon's requests as they come (its RawConn
// parks this goroutine in the poller in between), until the daemon
// closes ctrl (nil) or an error.
func (s *server) serveCtrl(rc syscall.RawConn) error {
	var err error
	rerr := rc.Read(func(uintptr) bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		var done bool
		if done, err = s.receive(); done || err != nil {
			return true
		}
		err = s.schedule(s.now())
		return err != nil
	})
	if err != nil {
		return err
	}
	if s.ctrlDone.Load() {
		return nil
	}
	return fmt.Errorf("waiting for the daemon: %w", rerr)
}

// expired is the timer's goroutine's work at each expiry: it reads the
// liveness messages, sends the adverts due and sets the timer for the
// next.
func (s *server) expired() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.readAlive(now)
	s.sched.run(now, sendAdvert, s.report, &s.rep)
	return s.schedule(s.now())
}

// schedule sets the timer for what is due next. Called with s.mu held.
func (s *server) schedule(now int64) error {
	at, ok := s.sched.nextDue()
	return s.t.arm(now, at, s.sched.period(at), ok)
}

// receive handles the messages waiting on the socket pair; done: the
// daemon closed it.
func (s *server) receive() (done bool, err error) {
	for {
		n, oobn, err := s.recv()
		switch {
		case err == unix.EAGAIN:
			return false, nil
		case err == unix.EINTR:
			continue
		case err == unix.ECONNRESET:
			s.ctrlDone.Store(true) // the daemon closed its end with messages unread
			return true, nil
		case err != nil:
			return true, fmt.Errorf("reading from the daemon: %w", err)
		case n == 0:
			s.ctrlDone.Store(true)
			return true, nil
		}
		fd := -1
		if oobn > 0 {
			fd = takeFD(s.oob[:oobn])
		}
		if err := s.handle(s.buf[:n], fd); err != nil {
			return true, err
		}
	}
}

// handle handles one message, and fd, the socket it carried (-1: none).
func (s *server) handle(b []byte, fd int) error {
	if err := sendwire.Decode(b, &s.msg); err != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		return fmt.Errorf("reading from the daemon: %w", err)
	}
	m := &s.msg
	now := s.now()
	switch m.Type {
	case sendwire.TypeStart:
		if fd < 0 {
			return errors.New("reading from the daemon: a start without a socket")
		}
		if old := s.sched.start(now, m, fd); old >= 0 {
			unix.Close(old)
		}
		return s.ack(m)
	case sendwire.TypeUpdate:
		s.sched.update(now, m)
		return s.ack(m)
	case sendwire.TypeStop:
		if old := s.sched.stop(m.Instance); old >= 0 {
			unix.Close(old)
		}
		return s.ack(m)
	case sendwire.TypeAlive:
		// The daemon sends them on the liveness socket pair; one here
		// counts as well.
		s.sched.alive(now, m.Instance)
	}
	if fd >= 0 {
		unix.Close(fd)
	}
	return nil
}

func (s *server) ack(m *sendwire.Message) error {
	return s.write(&sendwire.Message{Type: sendwire.TypeAck, Instance: m.Instance, Seq: m.Seq})
}

// report sends a report; one the socket pair has no room for is dropped
// (the daemon's counters miss it, the adverts went out).
func (s *server) report(m *sendwire.Message) {
	_ = s.write(m)
}

func (s *server) write(m *sendwire.Message) error {
	b, err := m.Append(s.out[:0])
	if err != nil {
		return fmt.Errorf("writing to the daemon: %w", err)
	}
	s.out = b[:0]
	// The socket does not block: a raw system call, which needs no
	// processor hand-off and allocates nothing; the daemon's end closing
	// is EPIPE, no signal.
	err = rawio.Send(s.ctrl, b)
	if err != nil {
		return fmt.Errorf("writing to the daemon: %w", err)
	}
	return nil
}

// recv reads one message with recvmsg(2), without blocking (a raw system
// call: the runtime needs no hand-off of the processor around it) and without allocating (unix.Recvmsg would, for the
// sender's address).
func (s *server) recv() (n, oobn int, err error) {
	s.iov.Base, s.iov.Len = &s.buf[0], uint64(len(s.buf))
	s.hdr = unix.Msghdr{Iov: &s.iov, Iovlen: 1, Control: &s.oob[0], Controllen: uint64(len(s.oob))}
	r, _, e := unix.RawSyscall(unix.SYS_RECVMSG, uintptr(s.ctrl), uintptr(unsafe.Pointer(&s.hdr)), unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
	if e != 0 {
		return 0, 0, e
	}
	return int(r), int(s.hdr.Controllen), nil
}

// takeFD returns the first descriptor of the SCM_RIGHTS in oob and closes
// any other (-1: none).
func takeFD(oob []byte) int {
	cms, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return -1
	}
	fd := -1
	for _, cm := range cms {
		fds, err := unix.ParseUnixRights(&cm)
		if err != nil {
			continue
		}
		for _, f := range fds {
			if fd < 0 {
				fd = f
			} else {
				unix.Close(f)
			}
		}
	}
	return fd
}

// sendAdvert sends one advert on a raw socket, without blocking. It is a
// raw system call: an ordinary one that the kernel makes wait (a busy
// machine) would have the runtime hand the processor to another thread
// and wake it.
func sendAdvert(fd int, pkt []byte, sa *unix.RawSockaddrInet4) error {
	_, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&pkt[0])), uintptr(len(pkt)),
		unix.MSG_DONTWAIT, uintptr(unsafe.Pointer(sa)), unix.SizeofSockaddrInet4)
	if e != 0 {
		return e
	}
	return nil
}

// now returns the time since Serve started in nanoseconds, from the
// runtime's monotonic clock (CLOCK_MONOTONIC, read through the vDSO: no
// system call).
func (s *server) now() int64 {
	return int64(time.Since(s.epoch))
}

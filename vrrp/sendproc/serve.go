package sendproc

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

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
// the socket pair, until the daemon closes it (then nil) or ctrl fails.
// It tunes the process first (see Tune): call it from main, once.
func Serve(ctrl int, cfg ServeConfig) error {
	sched := Tune(cfg)
	if err := unix.SetNonblock(ctrl, true); err != nil {
		return fmt.Errorf("serving the daemon: %w", err)
	}
	// CLOCK_MONOTONIC (the runtime's monotonic clock) before the origin
	// of now: the timer then never expires before the time it is set for.
	var mono unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono); err != nil {
		return fmt.Errorf("serving the daemon: %w", err)
	}
	epoch := time.Now()
	w, err := newWaiter(ctrl, mono.Nano())
	if err != nil {
		return fmt.Errorf("serving the daemon: %w", err)
	}
	defer w.close()
	s := &server{ctrl: ctrl, w: w, epoch: epoch, buf: make([]byte, sendwire.MaxMessage), out: make([]byte, 0, 512),
		oob: make([]byte, unix.CmsgSpace(4*4))}
	s.msg.Packets = make([]sendwire.Packet, 0, sendwire.MaxPackets)
	s.msg.Delays = make([]time.Duration, 0, sendwire.MaxDelays)
	defer func() {
		for _, fd := range s.sched.closeAll() {
			unix.Close(fd)
		}
	}()
	if err := s.write(&sendwire.Message{Type: sendwire.TypeReady, Text: sched}); err != nil {
		return err
	}
	return s.loop()
}

// server is Serve's state, owned by its one goroutine.
type server struct {
	ctrl  int
	w     *waiter
	epoch time.Time // the origin of now
	sched schedule
	buf   []byte // a message received
	oob   []byte // its SCM_RIGHTS
	out   []byte // a message to send
	msg   sendwire.Message
	rep   sendwire.Message
	// Reused by recv: recvmsg(2)'s arguments.
	iov unix.Iovec
	hdr unix.Msghdr
}

func (s *server) loop() error {
	return s.w.run(func() (bool, error) {
		if s.w.ctrlReady {
			if done, err := s.receive(); done || err != nil {
				return true, err
			}
		}
		now := s.now()
		s.sched.run(now, sendAdvert, s.report, &s.rep)
		at, ok := s.sched.nextDue()
		return false, s.w.arm(s.now(), at, s.sched.period(at), ok)
	})
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
			return true, nil // the daemon closed its end with messages unread
		case err != nil:
			return true, fmt.Errorf("reading from the daemon: %w", err)
		case n == 0:
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
	for {
		// write(2), unlike unix.SendmsgN, allocates nothing; the socket
		// does not block (a raw system call: it needs no processor hand-off), and the daemon's
		// end closing is no signal (the runtime ignores SIGPIPE on
		// descriptors other than 1 and 2).
		_, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(s.ctrl), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		if e != unix.EINTR {
			if e != 0 {
				err = e
			}
			break
		}
	}
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

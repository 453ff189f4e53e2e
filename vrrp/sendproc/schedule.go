package sendproc

import (
	"errors"
	"net/netip"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rmqlb/rmqlb/vrrp/sendwire"
)

// schedule is the sender process's state: the adverts of each instance
// and when they are due, in nanoseconds of CLOCK_MONOTONIC. It is a step
// function over the time it is given (tests give it a fake one) and a
// send function; it does no I/O itself. Owned by one goroutine.
type schedule struct {
	entries []*entry
}

// entry is one instance's adverts.
type entry struct {
	id       uint16
	fd       int // the instance's raw socket, owned by the entry; -1 once closed
	pkts     [][]byte
	sas      []unix.RawSockaddrInet4
	interval int64
	timeout  int64  // stop when not heard from for this long
	next     int64  // when the next advert is due
	heard    int64  // when the daemon last said the instance is alive
	expired  bool   // stopped because not heard from; reported once
	asked    uint32 // the Check the daemon asked for a report with; 0: none
	// What was sent since the last report, and the last send that
	// failed: its destination and errno (0: none).
	sent, failed uint32
	delays       []time.Duration
	lastReport   int64
	failedTo     [4]byte
	errno        uint32
}

// reportEvery bounds how long sends go unreported.
const reportEvery = int64(time.Second)

// start starts (or restarts) the adverts of m's instance on socket fd,
// the first due m.First after now. It returns the socket the instance
// had before (-1: none), for the caller to close.
func (s *schedule) start(now int64, m *sendwire.Message, fd int) (old int) {
	e := s.find(m.Instance)
	old = -1
	if e == nil {
		e = &entry{id: m.Instance, delays: make([]time.Duration, 0, sendwire.MaxDelays)}
		s.entries = append(s.entries, e)
	} else {
		old = e.fd
	}
	e.fd, e.expired, e.asked = fd, false, 0
	e.set(m)
	e.next, e.heard, e.lastReport = now+int64(m.First), now, now
	return old
}

// update changes the packets, interval and timeout of m's instance,
// keeping when its next advert is due; false: no such instance.
func (s *schedule) update(now int64, m *sendwire.Message) bool {
	e := s.find(m.Instance)
	if e == nil {
		return false
	}
	e.set(m)
	e.heard = now
	return true
}

func (e *entry) set(m *sendwire.Message) {
	e.pkts, e.sas = e.pkts[:0], e.sas[:0]
	for _, p := range m.Packets {
		e.pkts = append(e.pkts, slices.Clone(p.Data))
		e.sas = append(e.sas, unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: p.Dst.As4()})
	}
	e.interval, e.timeout = int64(m.Interval), int64(m.Timeout)
}

// stop removes instance id and returns its socket for the caller to
// close (-1: none).
func (s *schedule) stop(id uint16) int {
	for k, e := range s.entries {
		if e.id == id {
			s.entries = slices.Delete(s.entries, k, k+1)
			return e.fd
		}
	}
	return -1
}

// alive records that the daemon said instance id is alive.
func (s *schedule) alive(now int64, id uint16) {
	if e := s.find(id); e != nil {
		e.heard = now
	}
}

// check records that the daemon said instance id is alive and asked for
// a report of it with Check seq (Sender.Check): run sends one, also when
// nothing was sent since the last, to show that the adverts' timer runs,
// and it carries seq.
func (s *schedule) check(now int64, id uint16, seq uint32) {
	if e := s.find(id); e != nil {
		e.heard, e.asked = now, seq
	}
}

func (s *schedule) find(id uint16) *entry {
	for _, e := range s.entries {
		if e.id == id {
			return e
		}
	}
	return nil
}

// next returns when run must next be called: the earliest advert due, or
// report owed; false when nothing is scheduled.
func (s *schedule) nextDue() (int64, bool) {
	var at int64
	ok := false
	for _, e := range s.entries {
		if e.expired {
			continue
		}
		t := e.next
		if e.sent+e.failed > 0 {
			t = min(t, e.lastReport+reportEvery)
		}
		if !ok || t < at {
			at, ok = t, true
		}
	}
	return at, ok
}

// period returns the interval of the grid that at, nextDue's answer, is
// on, when the timer may repeat at it: when one instance alone sends and
// at is its next advert. Zero otherwise (a one-off deadline).
func (s *schedule) period(at int64) int64 {
	var only *entry
	for _, e := range s.entries {
		if e.expired {
			continue
		}
		if only != nil {
			return 0
		}
		only = e
	}
	if only == nil || only.next != at {
		return 0
	}
	return only.interval
}

// run sends every advert due at now with send, and hands every report
// owed, or asked for, to report (whose message is reused: it must encode
// it at once).
// An instance whose daemon side was not heard from within its timeout
// stops sending and is reported expired, once.
//
// A sender that fell behind (a stopped process) skips the adverts it
// missed and sends one at once: the next ones are due on the original
// grid.
func (s *schedule) run(now int64, send func(fd int, pkt []byte, sa *unix.RawSockaddrInet4) error, report func(*sendwire.Message), msg *sendwire.Message) {
	for _, e := range s.entries {
		if e.expired {
			continue
		}
		if now >= e.next && now-e.heard > e.timeout {
			e.expired = true
			s.report(now, e, report, msg)
			continue
		}
		if now >= e.next {
			for k, pkt := range e.pkts {
				if err := send(e.fd, pkt, &e.sas[k]); err != nil {
					e.failed++
					e.failedTo, e.errno = e.sas[k].Addr, errnoOf(err)
				} else {
					e.sent++
				}
			}
			if len(e.delays) < cap(e.delays) {
				e.delays = append(e.delays, time.Duration(now-e.next))
			}
			e.next += e.interval
			if e.next <= now {
				e.next += (now - e.next + e.interval) / e.interval * e.interval
			}
		}
		if e.asked != 0 || e.sent+e.failed > 0 && (len(e.delays) == cap(e.delays) || now-e.lastReport >= reportEvery) {
			s.report(now, e, report, msg)
		}
	}
}

func (s *schedule) report(now int64, e *entry, report func(*sendwire.Message), msg *sendwire.Message) {
	*msg = sendwire.Message{Type: sendwire.TypeReport, Instance: e.id, Seq: e.asked, Sent: e.sent, Failed: e.failed,
		Expired: e.expired, Delays: e.delays, Packets: msg.Packets}
	if e.errno != 0 {
		msg.FailedTo, msg.Errno = netip.AddrFrom4(e.failedTo), e.errno
	}
	report(msg)
	e.sent, e.failed, e.delays, e.lastReport, e.asked, e.errno = 0, 0, e.delays[:0], now, 0, 0
}

// errnoOf is the errno of a failed send (EIO when err is not one).
func errnoOf(err error) uint32 {
	no, ok := err.(unix.Errno) // what the send returns: no allocation
	if !ok {
		errors.As(err, &no)
	}
	if no != 0 {
		return uint32(no)
	}
	return uint32(unix.EIO)
}

// closeAll removes every instance and returns their sockets.
func (s *schedule) closeAll() []int {
	var fds []int
	for _, e := range s.entries {
		if e.fd >= 0 {
			fds = append(fds, e.fd)
		}
	}
	s.entries = nil
	return fds
}

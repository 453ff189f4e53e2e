package sendproc

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rmqlb/rmqlb/vrrp/sendwire"
)

// aliveServer returns a server with instances 1 and 2 started at 10 ms,
// reading liveness messages from fds[1] of a socket pair (fds[0] is the
// daemon's end), closed at the test's end.
func aliveServer(t *testing.T) (*server, [2]int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.Close(fds[0])
		unix.Close(fds[1])
	})
	s := &server{alive: fds[1], aliveBuf: make([]byte, sendwire.HeaderLen)}
	s.sched.start(0, startMsg(1, 10*time.Millisecond, 0, time.Second, "a"), 5)
	s.sched.start(0, startMsg(2, 10*time.Millisecond, 0, time.Second, "b"), 6)
	return s, [2]int(fds)
}

// TestReadAlive: the liveness messages waiting are all read, each counts
// its instance heard from at the read, anything else is dropped, and a
// read allocates nothing (it runs at every advert).
func TestReadAlive(t *testing.T) {
	s, fds := aliveServer(t)
	send := func(m sendwire.Message) {
		b, err := m.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := unix.Write(fds[0], b); err != nil {
			t.Fatal(err)
		}
	}
	send(sendwire.Message{Type: sendwire.TypeAlive, Instance: 2})
	send(sendwire.Message{Type: sendwire.TypeStop, Instance: 1})   // not a liveness message: dropped
	send(sendwire.Message{Type: sendwire.TypeAlive, Instance: 9})  // no such instance
	if _, err := unix.Write(fds[0], []byte{1, 2, 3}); err != nil { // cut short
		t.Fatal(err)
	}
	s.readAlive(500 * ms)
	if h1, h2 := s.sched.entries[0].heard, s.sched.entries[1].heard; h1 != 0 || h2 != 500*ms {
		t.Fatalf("heard from at %v and %v, want 0 and 500ms", time.Duration(h1), time.Duration(h2))
	}
	if n, err := unix.Read(fds[1], s.aliveBuf); err != unix.EAGAIN {
		t.Fatalf("left unread: %d bytes, %v", n, err)
	}
	b, _ := (&sendwire.Message{Type: sendwire.TypeAlive, Instance: 1}).Append(nil)
	now := int64(time.Second)
	allocs := testing.AllocsPerRun(100, func() {
		now += 10 * ms
		_, _ = unix.Write(fds[0], b)
		s.readAlive(now)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per read", allocs)
	}
	if h := s.sched.entries[0].heard; h != now {
		t.Fatalf("heard from at %v, want %v", time.Duration(h), time.Duration(now))
	}
}

// TestReadCheck: a Check on the liveness socket pair counts its instance
// heard from, like an Alive, and asks for its report with the Check's
// number; an Alive does not.
func TestReadCheck(t *testing.T) {
	s, fds := aliveServer(t)
	for _, m := range []sendwire.Message{{Type: sendwire.TypeAlive, Instance: 1}, {Type: sendwire.TypeCheck, Instance: 2, Seq: 41}} {
		b, err := m.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := unix.Write(fds[0], b); err != nil {
			t.Fatal(err)
		}
	}
	s.readAlive(300 * ms)
	e1, e2 := s.sched.find(1), s.sched.find(2)
	if e1.heard != 300*ms || e2.heard != 300*ms {
		t.Fatalf("heard from at %v and %v, want 300ms", time.Duration(e1.heard), time.Duration(e2.heard))
	}
	if e1.asked != 0 || e2.asked != 41 {
		t.Fatalf("asked for a report: instance 1 by Check %d, 2 by Check %d; want only 2, by Check 41", e1.asked, e2.asked)
	}
}

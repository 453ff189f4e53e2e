package sendproc

import (
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sys/unix"

	"github.com/rmqlb/rmqlb/vrrp"
	"github.com/rmqlb/rmqlb/vrrp/sendwire"
)

// loopbackConn is the "raw" socket of these tests, which need no root: a
// UDP socket on loopback, closed at the test's end.
func loopbackConn(t *testing.T) syscall.RawConn {
	t.Helper()
	uc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { uc.Close() })
	conn, err := uc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// A sender process that stops running without dying (SIGSTOP here; a
// frozen cgroup, a stuck process) sends no adverts and no reports. The
// instance's loop, saying it is alive as usual, notices within
// silenceLimit: Sending turns false and the instance is woken to send its
// adverts itself; the process is killed, and the next one takes the
// adverts back. No root: the "raw" socket is a UDP socket.
func TestSilentProcessKilled(t *testing.T) {
	p, _ := startProcess(t)
	conn := loopbackConn(t)
	s := p.Sender("vi")
	var woken atomic.Int32
	s.Start(vrrp.AdvertSchedule{Conn: conn, Packets: loopbackAdvert(0xe1), Interval: 10 * time.Millisecond,
		Wake: func() { woken.Add(1) }})
	waitFor(t, "Sending", s.Sending)
	pid, _ := p.Running()
	if err := unix.Kill(pid, unix.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer unix.Kill(pid, unix.SIGCONT)
	limit := silenceLimit(10 * time.Millisecond)
	wait := min(3*limit, 30*time.Second)
	deadline := time.Now().Add(wait)
	for woken.Load() == 0 && time.Now().Before(deadline) {
		s.Alive() // the instance's loop, every AliveWithin
		time.Sleep(s.AliveWithin())
	}
	if woken.Load() == 0 {
		t.Fatalf("the process is frozen, yet after %v the instance was not woken to send its adverts: Sending %v (%s)", wait, s.Sending(), s.Describe())
	}
	waitFor(t, "a new process sending", func() bool {
		s.Alive()
		np, ok := p.Running()
		return ok && np != pid && s.Sending()
	})
}

// A Check (the instance, MASTER, heard a router of lower priority
// advertise as MASTER) is answered by a running process with a report,
// and the process is kept; a frozen one is found stuck within CheckWithin
// of the Check, long before silenceLimit (2.5 s), killed, and the next
// process takes the adverts back, also when a report of the process's own
// (sent before it froze, read after the Check was sent) came in between:
// that is not the answer. While a Check is pending Sending is false: the
// instance sends its adverts too, and calls Alive at each.
func TestCheckFindsStuckProcess(t *testing.T) {
	core, logs := observer.New(zap.ErrorLevel)
	p := runProcess(t, ProcessConfig{Command: helperCommand, Registerer: prometheus.NewRegistry(),
		RestartDelay: 50 * time.Millisecond, Logger: zap.New(core)})
	waitFor(t, "the process to run", func() bool { _, ok := p.Running(); return ok })
	conn := loopbackConn(t)
	const interval = 10 * time.Millisecond
	s := p.Sender("vi")
	var woken atomic.Int32
	s.Start(vrrp.AdvertSchedule{Conn: conn, Packets: loopbackAdvert(0xe1), Interval: interval,
		Wake: func() { woken.Add(1) }})
	waitFor(t, "Sending", s.Sending)
	pid, _ := p.Running()
	loop := func(until func() bool, limit time.Duration) {
		end := time.Now().Add(limit)
		for !until() && time.Now().Before(end) {
			s.Alive() // the instance's loop: at each advert while not Sending, else every AliveWithin
			wait := s.AliveWithin()
			if !s.Sending() {
				wait = interval
			}
			time.Sleep(wait)
		}
	}

	// Running: the Check is answered and nothing happens.
	s.Alive()
	s.Check()
	if s.Sending() {
		t.Fatal("Sending with a Check pending: the instance would not send its adverts itself too, nor wake at each")
	}
	loop(func() bool { return s.checkAt.IsZero() }, 5*time.Second)
	if !s.checkAt.IsZero() {
		t.Fatal("a Check of a running process still pending after 5 s")
	}
	if np, _ := p.Running(); np != pid || woken.Load() != 0 || !s.Sending() {
		t.Fatalf("a running process answering a Check: pid %d, now %d, instance woken %d times, Sending %v; logged %v",
			pid, np, woken.Load(), s.Sending(), logs.All())
	}

	// Frozen: found by the Check, not by the silence, though a report
	// of the process's own was on its way when the Check was sent.
	if err := unix.Kill(pid, unix.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer unix.Kill(pid, unix.SIGCONT)
	s.Check()
	s.handle(p.current(), &sendwire.Message{Type: sendwire.TypeReport, Instance: s.id, Sent: 100})
	s.Alive()
	if s.Sending() {
		t.Fatal("Sending after a report that does not answer the Check")
	}
	loop(func() bool { return woken.Load() > 0 }, 30*time.Second)
	if woken.Load() == 0 {
		t.Fatalf("the process is frozen, yet 30 s after a Check the instance was not woken: Sending %v (%s)", s.Sending(), s.Describe())
	}
	killed := logs.FilterMessageSnippet("stopped reporting").All()
	if len(killed) != 1 || !strings.Contains(killed[0].ContextMap()["error"].(string), "no report within") {
		t.Fatalf("the frozen process was not found by the Check: logged %v", logs.All())
	}
	waitFor(t, "a new process sending", func() bool {
		s.Alive()
		np, ok := p.Running()
		return ok && np != pid && s.Sending()
	})
}

// unread tells a message waiting on the daemon's end of the socket pair
// (the process is alive; the daemon's reader is late) from none.
func TestChildUnread(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	c := &child{fd: fds[0]}
	if c.unread() {
		t.Fatal("unread with nothing sent")
	}
	if _, err := unix.Write(fds[1], []byte("report")); err != nil {
		t.Fatal(err)
	}
	if !c.unread() {
		t.Fatal("not unread with a message waiting")
	}
	if _, err := unix.Read(fds[0], make([]byte, 64)); err != nil {
		t.Fatal(err)
	}
	if c.unread() {
		t.Fatal("unread after the message was read")
	}
}

// An Update to a shorter interval keeps the timing of the next advert:
// until that advert is reported, the silence is judged by the longer
// interval, and the healthy process is not killed.
func TestUpdateShorterIntervalNotSilent(t *testing.T) {
	p, _ := startProcess(t)
	conn := loopbackConn(t)
	s := p.Sender("vi")
	var woken atomic.Int32
	const long = 4 * time.Second
	s.Start(vrrp.AdvertSchedule{Conn: conn, Packets: loopbackAdvert(0xe1), Interval: long, First: long,
		Wake: func() { woken.Add(1) }})
	waitFor(t, "Sending", s.Sending)
	pid, _ := p.Running()
	s.Update(vrrp.AdvertSchedule{Packets: loopbackAdvert(0xe2), Interval: 100 * time.Millisecond})
	end := time.Now().Add(silenceLimit(100*time.Millisecond) + time.Second)
	for time.Now().Before(end) {
		s.Alive()
		time.Sleep(100 * time.Millisecond)
	}
	if np, _ := p.Running(); np != pid || woken.Load() != 0 {
		t.Fatalf("the process (pid %d, now %d) was taken for silent after an Update to 100 ms while its next advert was still %v away; instance woken %d times",
			pid, np, long, woken.Load())
	}
}

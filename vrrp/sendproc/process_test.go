package sendproc

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/rmqlb/rmqlb/internal/clock"
	"github.com/rmqlb/rmqlb/vrrp"
)

// TestMain runs Serve instead of the tests when the test binary is
// started as the sender process (by helperCommand).
func TestMain(m *testing.M) {
	if os.Getenv("RMQLB_SENDPROC_SERVE") == "1" {
		prio, _ := strconv.Atoi(os.Getenv("RMQLB_SENDPROC_RT"))
		if err := Serve(3, 4, ServeConfig{RealTimePriority: prio}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func helperCommand() *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "RMQLB_SENDPROC_SERVE=1")
	cmd.Stderr = os.Stderr
	return cmd
}

// rawPair is a raw socket to send VRRP on and one that receives it, on
// the loopback of a network namespace of their own (anonymous: it goes
// away with the sockets).
type rawPair struct {
	send *os.File
	recv int
	conn syscall.RawConn
}

func newRawPair(t *testing.T) *rawPair {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for raw sockets in a network namespace of its own")
	}
	type result struct {
		p   *rawPair
		err error
	}
	done := make(chan result)
	go func() {
		// This thread enters a new namespace and is never unlocked:
		// the runtime ends it with the goroutine.
		runtime.LockOSThread()
		p, err := func() (*rawPair, error) {
			if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
				return nil, err
			}
			lo, err := netlink.LinkByName("lo")
			if err != nil {
				return nil, err
			}
			if err := netlink.LinkSetUp(lo); err != nil {
				return nil, err
			}
			sfd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, vrrp.ProtocolNumber)
			if err != nil {
				return nil, err
			}
			if err := unix.SetsockoptInt(sfd, unix.IPPROTO_IP, unix.IP_HDRINCL, 1); err != nil {
				return nil, err
			}
			rfd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, vrrp.ProtocolNumber)
			if err != nil {
				return nil, err
			}
			f := os.NewFile(uintptr(sfd), "vrrp-raw")
			conn, err := f.SyscallConn()
			if err != nil {
				return nil, err
			}
			return &rawPair{send: f, recv: rfd, conn: conn}, nil
		}()
		done <- result{p, err}
	}()
	r := <-done
	if r.err != nil {
		t.Fatalf("setting up raw sockets in a namespace: %v", r.err)
	}
	t.Cleanup(func() { r.p.send.Close(); unix.Close(r.p.recv) })
	tv := unix.NsecToTimeval(int64(50 * time.Millisecond))
	if err := unix.SetsockoptTimeval(r.p.recv, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	return r.p
}

// count counts the packets received with payload byte tag until stop.
func (p *rawPair) count(tag byte, stop <-chan struct{}) *atomic.Int64 {
	var n atomic.Int64
	go func() {
		buf := make([]byte, 1500)
		for {
			select {
			case <-stop:
				return
			default:
			}
			k, err := unix.Read(p.recv, buf)
			if err == nil && k > 20 && buf[20] == tag {
				n.Add(1)
			}
		}
	}()
	return &n
}

func loopbackAdvert(tag byte) []vrrp.RawAdvert {
	lo := netip.MustParseAddr("127.0.0.1")
	pkt := []byte{0x45, 0xc0, 0, 21, 0, 0, 0, 0, 255, vrrp.ProtocolNumber, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1, tag}
	return []vrrp.RawAdvert{{Dst: lo, Packet: pkt}}
}

// waitFor waits (bounded, in real time: a process runs) for cond.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func startProcess(t *testing.T) (*Process, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	p := runProcess(t, ProcessConfig{Command: helperCommand, Registerer: reg, RestartDelay: 50 * time.Millisecond})
	waitFor(t, "the process to run", func() bool { _, ok := p.Running(); return ok })
	return p, reg
}

// runProcess runs a Process of cfg until the test's end, and checks that
// Run returned without a process left running.
func runProcess(t *testing.T, cfg ProcessConfig) *Process {
	t.Helper()
	p, err := NewProcess(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if _, ok := p.Running(); ok {
			t.Error("Run returned with the process running")
		}
	})
	return p
}

// TestProcessSendsAndStops: the process sends an instance's adverts on its
// raw socket once it acknowledged the start, reports them, and sends none
// once Stop returned.
func TestProcessSendsAndStops(t *testing.T) {
	raw := newRawPair(t)
	p, _ := startProcess(t)
	stop := make(chan struct{})
	defer close(stop)
	got := raw.count(0xa1, stop)
	s := p.Sender("vi")
	var mu sync.Mutex
	var reported int
	s.Start(vrrp.AdvertSchedule{Conn: raw.conn, Packets: loopbackAdvert(0xa1), Interval: 10 * time.Millisecond,
		Report: func(r vrrp.SendReport) { mu.Lock(); reported += r.Sent; mu.Unlock() }})
	waitFor(t, "Sending", s.Sending)
	waitFor(t, "20 adverts", func() bool { return got.Load() >= 20 })
	if d := s.Describe(); !strings.HasPrefix(d, "process (") {
		t.Fatalf("Describe %q", d)
	}
	// Keep it alive for longer than its liveness timeout, the way a loop
	// does that wakes every AliveWithin, each time half of it late.
	within := s.AliveWithin()
	if within <= 0 || within > LivenessTimeout(10*time.Millisecond)/2 {
		t.Fatalf("AliveWithin %v leaves a late loop no margin in a liveness timeout of %v", within, LivenessTimeout(10*time.Millisecond))
	}
	for start := time.Now(); time.Since(start) < 5*LivenessTimeout(10*time.Millisecond)/2; {
		s.Alive()
		time.Sleep(within * 3 / 2)
	}
	if !s.Sending() {
		t.Fatal("stopped sending although the instance said it is alive")
	}
	s.Update(vrrp.AdvertSchedule{Packets: loopbackAdvert(0xa2), Interval: 10 * time.Millisecond})
	got2 := raw.count(0xa2, stop)
	waitFor(t, "adverts after the update", func() bool { return got2.Load() >= 5 })
	s.Stop()
	if s.Sending() {
		t.Fatal("Sending after Stop")
	}
	time.Sleep(30 * time.Millisecond) // adverts sent before Stop may still be in flight
	before := got2.Load()
	time.Sleep(200 * time.Millisecond)
	if after := got2.Load(); after != before {
		t.Fatalf("%d adverts after Stop returned", after-before)
	}
	waitFor(t, "the reports", func() bool { mu.Lock(); defer mu.Unlock(); return reported >= 20 })
}

// TestProcessExpires: without Alive the process stops the adverts after
// the liveness timeout, and the instance sends them itself (Sending false).
func TestProcessExpires(t *testing.T) {
	raw := newRawPair(t)
	p, _ := startProcess(t)
	stop := make(chan struct{})
	defer close(stop)
	got := raw.count(0xb1, stop)
	s := p.Sender("vi")
	var woken atomic.Int32
	s.Start(vrrp.AdvertSchedule{Conn: raw.conn, Packets: loopbackAdvert(0xb1), Interval: 10 * time.Millisecond,
		Wake: func() { woken.Add(1) }})
	waitFor(t, "Sending", s.Sending)
	start := time.Now()
	waitFor(t, "the sender to stop on its own", func() bool { return !s.Sending() })
	waitFor(t, "Wake", func() bool { return woken.Load() == 1 })
	if el := time.Since(start); el < LivenessTimeout(10*time.Millisecond)-100*time.Millisecond {
		t.Fatalf("stopped after %v, before the liveness timeout", el)
	}
	before := got.Load()
	time.Sleep(200 * time.Millisecond)
	if after := got.Load(); after != before {
		t.Fatalf("%d adverts after it expired", after-before)
	}
	if d := s.Describe(); !strings.Contains(d, "not heard from") {
		t.Fatalf("Describe %q", d)
	}
	// The instance's loop runs again: it takes the adverts back.
	s.lastAlive = time.Time{}
	s.Alive()
	waitFor(t, "Sending again", s.Sending)
	s.Stop()
}

// TestProcessRestarts: a killed process is counted and started again, and
// takes the adverts of the started instances back; meanwhile Sending is
// false (the instances send themselves).
func TestProcessRestarts(t *testing.T) {
	raw := newRawPair(t)
	p, reg := startProcess(t)
	stop := make(chan struct{})
	defer close(stop)
	got := raw.count(0xc1, stop)
	s := p.Sender("vi")
	var woken atomic.Int32
	s.Start(vrrp.AdvertSchedule{Conn: raw.conn, Packets: loopbackAdvert(0xc1), Interval: 10 * time.Millisecond,
		Wake: func() { woken.Add(1) }})
	waitFor(t, "Sending", s.Sending)
	pid, _ := p.Running()
	if err := unix.Kill(pid, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Sending false", func() bool { return !s.Sending() })
	// The instance's loop is woken to send the adverts itself.
	waitFor(t, "Wake", func() bool { return woken.Load() == 1 })
	waitFor(t, "a new process", func() bool { n, ok := p.Running(); return ok && n != pid })
	waitFor(t, "Sending again", s.Sending)
	before := got.Load()
	waitFor(t, "adverts from the new process", func() bool { return got.Load() >= before+5 })
	if n := p.Restarts(); n != 1 {
		t.Fatalf("%d restarts", n)
	}
	if !strings.Contains(s.Describe(), "1 restarts") {
		t.Fatalf("Describe %q", s.Describe())
	}
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 || mfs[0].GetMetric()[0].GetCounter().GetValue() != 1 {
		t.Fatalf("metrics %v %v", mfs, err)
	}
	s.Stop()
}

// TestProcessExitsWithDaemon: the process exits when the daemon's end of
// the socket pair closes (the daemon died), and sends nothing any more.
func TestProcessExitsWithDaemon(t *testing.T) {
	raw := newRawPair(t)
	fds, live, err := socketPairs()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(live[0])
	cmd := helperCommand()
	exited := startHelper(t, cmd, fds[1], live[1])
	// Start an instance by hand, as Process would.
	p := &Process{log: nopLogger(), cfg: ProcessConfig{AckTimeout: time.Second}}
	c := &child{gen: 1, cmd: cmd, fd: fds[0], alive: live[0], exited: make(chan struct{})}
	p.cur, p.gen = c, 1
	s := p.Sender("vi")
	stop := make(chan struct{})
	defer close(stop)
	got := raw.count(0xd1, stop)
	s.Start(vrrp.AdvertSchedule{Conn: raw.conn, Packets: loopbackAdvert(0xd1), Interval: 10 * time.Millisecond})
	waitFor(t, "adverts", func() bool { return got.Load() >= 5 })
	unix.Close(fds[0])
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("process ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the process did not exit when the daemon's end closed")
	}
	before := got.Load()
	time.Sleep(100 * time.Millisecond)
	if after := got.Load(); after != before {
		t.Fatalf("%d adverts after the process exited", after-before)
	}
}

// TestProcessDaemonGoneBeforeReady: a daemon that closed its end before
// the process said it was ready (a start that failed at once) ends the
// process cleanly, without an error of its own on stderr.
func TestProcessDaemonGoneBeforeReady(t *testing.T) {
	fds, live, err := socketPairs()
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fds[0])
	unix.Close(live[0])
	cmd := helperCommand()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	exited := startHelper(t, cmd, fds[1], live[1])
	select {
	case err := <-exited:
		if err != nil || stderr.Len() != 0 {
			t.Fatalf("process ended with %v, stderr %q; want a clean exit", err, stderr.String())
		}
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the process did not exit")
	}
}

// startHelper starts cmd, a helperCommand, as the sender process with
// the process's ends of the request and liveness socket pairs (closed
// here once it has them), and returns its exit.
func startHelper(t *testing.T, cmd *exec.Cmd, pair, alive int) <-chan error {
	t.Helper()
	theirs := []*os.File{os.NewFile(uintptr(pair), "pair"), os.NewFile(uintptr(alive), "alive")}
	cmd.ExtraFiles = theirs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for _, f := range theirs {
		f.Close()
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	return exited
}

func nopLogger() *zap.Logger { return zap.NewNop() }

// TestProcessRealTime: with a real-time priority every thread of the
// sender process is in SCHED_FIFO at it, and Describe says so.
func TestProcessRealTime(t *testing.T) {
	raw := newRawPair(t) // root, as SCHED_FIFO needs here
	p := runProcess(t, ProcessConfig{Command: func() *exec.Cmd {
		cmd := helperCommand()
		cmd.Env = append(cmd.Env, "RMQLB_SENDPROC_RT=7")
		return cmd
	}})
	waitFor(t, "the process to run", func() bool { _, ok := p.Running(); return ok })
	s := p.Sender("vi")
	s.Start(vrrp.AdvertSchedule{Conn: raw.conn, Packets: loopbackAdvert(0xe1), Interval: 10 * time.Millisecond})
	waitFor(t, "Sending", s.Sending)
	if d := s.Describe(); !strings.Contains(d, "SCHED_FIFO priority 7") {
		t.Fatalf("Describe %q", d)
	}
	pid, _ := p.Running()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	if err != nil || len(tasks) == 0 {
		t.Fatalf("threads of %d: %v", pid, err)
	}
	for _, task := range tasks {
		tid, _ := strconv.Atoi(filepath.Base(task))
		attr, err := unix.SchedGetAttr(tid, 0)
		if err != nil {
			continue // the thread ended
		}
		if attr.Policy != unix.SCHED_FIFO || attr.Priority != 7 {
			t.Errorf("thread %d: policy %d priority %d, want SCHED_FIFO 7", tid, attr.Policy, attr.Priority)
		}
	}
	s.Stop()
}

// TestProcessThatCannotRunBacksOff: a sender program that cannot run is
// started again after twice the last delay each time, and counted.
func TestProcessThatCannotRunBacksOff(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	p := runProcess(t, ProcessConfig{Command: func() *exec.Cmd { return exec.Command("/bin/false") },
		RestartDelay: 20 * time.Millisecond, Clock: clk})
	delay := 20 * time.Millisecond
	for n := 1; n <= 6; n++ {
		delay = min(2*delay, maxRestartDelay)
		clk.WaitArmed(t, clk.Now().Add(delay))
		if got := p.Restarts(); got != n {
			t.Fatalf("%d restarts, want %d", got, n)
		}
		clk.Advance(delay)
	}
	if _, ok := p.Running(); ok {
		t.Fatal("running")
	}
	if d := p.Sender("vi").Describe(); !strings.HasPrefix(d, "inline: the sender process is not running") {
		t.Fatalf("Describe %q", d)
	}
}

// TestProcessWakesOncePerAdvert: between adverts no thread of the sender
// process runs: over two seconds of adverts every 10 ms its threads
// together go to sleep (voluntary context switches) about once per
// advert. A process whose goroutine waits in a system call of its own
// keeps the runtime's monitor thread waking every 10 ms beside it (and
// signalling the waiting thread): twice or more per advert.
func TestProcessWakesOncePerAdvert(t *testing.T) {
	raw := newRawPair(t)
	p, _ := startProcess(t)
	stop := make(chan struct{})
	defer close(stop)
	got := raw.count(0xf1, stop)
	s := p.Sender("vi")
	s.Start(vrrp.AdvertSchedule{Conn: raw.conn, Packets: loopbackAdvert(0xf1), Interval: 10 * time.Millisecond})
	waitFor(t, "Sending", s.Sending)
	pid, _ := p.Running()
	// Past the runtime's start-up (its monitor thread's first backing off).
	time.Sleep(500 * time.Millisecond)
	sw0, sent0, run0 := voluntarySwitches(t, pid), got.Load(), runTime(t, pid)
	for range 40 {
		s.Alive()
		time.Sleep(50 * time.Millisecond)
	}
	sw, sent, run := voluntarySwitches(t, pid)-sw0, got.Load()-sent0, runTime(t, pid)-run0
	if sent < 100 {
		t.Fatalf("only %d adverts in 2 s at 10 ms", sent)
	}
	perAdvert := float64(sw) / float64(sent)
	t.Logf("%d voluntary context switches for %d adverts: %.2f per advert; %v on a CPU per advert (its loopback delivery included)",
		sw, sent, perAdvert, run/time.Duration(sent))
	if perAdvert > 1.5 {
		t.Fatalf("%.2f voluntary context switches per advert, want about 1", perAdvert)
	}
	s.Stop()
}

// TestProcessAliveWakesNoThread: the daemon saying that an instance is
// alive wakes no thread of the sender process (it reads those messages
// when it sends); a message on the socket pair of requests would wake it
// each time.
func TestProcessAliveWakesNoThread(t *testing.T) {
	raw := newRawPair(t)
	p, _ := startProcess(t)
	s := p.Sender("vi")
	// No advert falls due while the test runs.
	s.Start(vrrp.AdvertSchedule{Conn: raw.conn, Packets: loopbackAdvert(0x91), Interval: time.Minute, First: time.Minute})
	waitFor(t, "Sending", s.Sending)
	pid, _ := p.Running()
	time.Sleep(500 * time.Millisecond) // past the runtime's start-up
	sw0 := voluntarySwitches(t, pid)
	const n = 50
	for range n {
		s.lastAlive = time.Time{} // past Alive's own rate limit
		s.Alive()
		time.Sleep(5 * time.Millisecond)
	}
	sw := voluntarySwitches(t, pid) - sw0
	t.Logf("%d voluntary context switches of the process for %d liveness messages", sw, n)
	if sw > n/10 {
		t.Fatalf("%d voluntary context switches for %d liveness messages, want next to none", sw, n)
	}
	if !s.Sending() {
		t.Fatal("not sending")
	}
	s.Stop()
}

// voluntarySwitches sums the voluntary context switches of every thread
// of process pid.
func voluntarySwitches(t *testing.T, pid int) int {
	return int(sumOverThreads(t, pid, "status", func(content string) int64 {
		for line := range strings.Lines(content) {
			if v, ok := strings.CutPrefix(line, "voluntary_ctxt_switches:"); ok {
				n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				return n
			}
		}
		return 0
	}))
}

// runTime sums the time every thread of process pid ran on a CPU
// (schedstat's first field).
func runTime(t *testing.T, pid int) time.Duration {
	return time.Duration(sumOverThreads(t, pid, "schedstat", func(content string) int64 {
		if f := strings.Fields(content); len(f) > 0 {
			n, _ := strconv.ParseInt(f[0], 10, 64)
			return n
		}
		return 0
	}))
}

// sumOverThreads sums value of the file /proc/PID/task/*/name of every
// thread of process pid; a thread that ended meanwhile counts nothing.
func sumOverThreads(t *testing.T, pid int, name string, value func(content string) int64) int64 {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/%s", pid, name))
	if err != nil || len(tasks) == 0 {
		t.Fatalf("threads of %d: %v", pid, err)
	}
	var total int64
	for _, task := range tasks {
		if b, err := os.ReadFile(task); err == nil {
			total += value(string(b))
		}
	}
	return total
}

// TestProcessReadWaitsInPoller: the goroutine reading the process's
// messages waits in the runtime's poller, not in a read(2) of its own
// (which holds a thread in a system call and keeps the runtime's monitor
// thread waking), and the descriptor it reads is closed once Run
// returned.
func TestProcessReadWaitsInPoller(t *testing.T) {
	// The runtime's poller has its own descriptors, made at its first use:
	// make sure they exist before counting.
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	fds0 := openFDs(t)
	p, err := NewProcess(ProcessConfig{Command: helperCommand, RestartDelay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	stop := func() {
		cancel()
		<-done
	}
	defer stop()
	waitFor(t, "the process to run", func() bool { _, ok := p.Running(); return ok })
	// Between two messages the loop waits; a read in progress shows as in
	// a system call for a moment either way.
	var state string
	deadline := time.Now().Add(5 * time.Second)
	for state != "IO wait" && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		state = goroutineState("sendproc.(*Process).read(")
	}
	if state != "IO wait" {
		t.Errorf("the read loop waits in state %q, want IO wait (the poller)", state)
	}
	stop()
	if n := openFDs(t); n != fds0 {
		t.Fatalf("%d descriptors open after Run returned, %d before", n, fds0)
	}
}

// goroutineState returns the state of the first goroutine whose stack
// has fn ("" if none): "IO wait", "syscall", ...
func goroutineState(fn string) string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if !strings.Contains(g, fn) {
			continue
		}
		head, _, _ := strings.Cut(g, "\n")
		_, st, ok := strings.Cut(head, "[")
		if !ok {
			return ""
		}
		st, _, _ = strings.Cut(st, "]")
		st, _, _ = strings.Cut(st, ",") // "IO wait, 2 minutes"
		return st
	}
	return ""
}

// openFDs counts the test process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

package daemon

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/internal/clock"
	"github.com/rmqlb/rmqlb/vrrp"
)

// The hand-over of an upgrade in place, step by step (O is the running
// daemon, N the process it starts), and who owns what after each:
//
//  1. `rmqlb upgrade` asks O ("upgrade"). O checks the program, refuses
//     while a reload, another upgrade or a VIP hand-over runs, and starts
//     N with --takeover-from SOCKET (phase started). O owns everything.
//  2. N loads its file. One that does not load: N sends "takeover-abort"
//     and exits 1. O owns everything.
//  3. N asks "takeover"; O answers N's pid only, with copies of the lock,
//     the control, metrics and listening sockets, and the backends' states
//     (phase offered). Both hold the sockets; only O accepts, serves the
//     control socket and advertises.
//  4. N checks the offer (protocol, files, control_socket) and builds on
//     it (New: the listeners inherit their sockets, the checks are seeded).
//     An error: "takeover-abort", exit. O owns everything.
//  5. N's Run takes its copy of the lock, holds the control socket without
//     serving it, serves the metrics socket beside O, binds its new
//     listeners and starts its checks. An error or a stop gives up
//     ("takeover-abort", what it bound closed). O owns everything.
//  6. N sends "takeover-ready". O (phase committing) stops serving the
//     control and metrics sockets (the socket file stays), stops its VRRP
//     instances quietly (the VIPs stay, no priority 0), gives every
//     listener its graceful_timeout, moves MAINPID, drops its copy of the
//     lock and answers with the instances' states (phase committed). From
//     here N owns the lock, the sockets and the VIPs; O owns only its
//     established sessions. Refused (O gave up or stops): N gives up. Not
//     sent: N gives up (O committed nothing). Answer lost, or O killed
//     while N waits: N removes the VIPs left and starts VRRP afresh.
//  7. N adopts each instance's state (a MASTER advertises at once, its
//     VIPs adopted), removes the VIPs no instance of its carries on, starts
//     its listeners and serves the control socket.
//  8. O answers "upgrade" once N serves the control socket, drains its
//     sessions, up to graceful_timeout, and exits 0. Should N exit before
//     it serves (the upgrade then fails), or while O drains with no daemon
//     answering the control socket, O removes the VIPs so that a backup
//     takes over.
//
// O gives up (kills N, serves on) on N's exit, N's "takeover-abort",
// takeoverTimeout, the request's end or its own stop, unless N's
// "takeover-ready" came first.

// upgradeOutcome is what must hold once a fault at a step of the upgrade
// has played out.
type upgradeOutcome int

const (
	// oldServesOn: the upgrade fails and the running daemon serves as
	// before; the new process is gone and took nothing.
	oldServesOn upgradeOutcome = iota
	// newAdopts: the new process carries the MASTER on without a
	// transition; the old one is quiet.
	newAdopts
	// newAfresh: the new process serves but starts VRRP afresh after
	// removing the VIPs left: the old one's answer never came.
	newAfresh
	// bothStop: the running daemon was stopped (SIGTERM) before the
	// hand-over: it hands its VIPs over with priority 0, and the new
	// process is gone.
	bothStop
	// oldReleases: the new process died after the hand-over, before it
	// served: the old one removes the VIPs, and the upgrade fails.
	oldReleases
)

// relayFault is what a controlRelay does to the daemon's answer.
type relayFault int

const (
	relayLose   relayFault = iota // the connection closes: no answer
	relayGarble                   // an answer that does not decode
)

// controlRelay listens on a socket of its own and passes each request
// line on to the control socket at target, then does fault to the
// answer; it returns its socket. The daemon sees the test's pid as the
// peer, as it would the new process's. Files sent with an answer are
// dropped by the kernel, as a reader that takes none drops them.
func controlRelay(t *testing.T, target string, fault relayFault) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "relay.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				req, err := bufio.NewReader(c).ReadBytes('\n')
				if err != nil {
					return
				}
				up, err := net.Dial("unix", target)
				if err != nil {
					return
				}
				defer up.Close()
				if _, err := up.Write(req); err != nil {
					return
				}
				_, _ = bufio.NewReader(up).ReadBytes('\n')
				if fault == relayGarble {
					_, _ = c.Write([]byte("{\"result\": {\"vrrp\": [garbled\n"))
				}
			}()
		}
	}()
	return path
}

// upgradeFault is one fault at one step of the upgrade.
type upgradeFault struct {
	step, fault string
	// run is the new process; old is the running daemon's harness.
	run func(t *testing.T, old *harness, s *inProcSuccessor) error
	// drive, when set, acts on the running daemon once the new process
	// has started (the upgrade runs meanwhile).
	drive func(t *testing.T, old *harness, s *inProcSuccessor)
	want  upgradeOutcome
	// err is in the error of the failed upgrade.
	err string
}

// offered is the new process up to the offer checked (step 4), its
// configuration changed by change (nil: none).
func offered(s *inProcSuccessor, change func(*config.Config)) (*Takeover, error) {
	cfg, err := config.Load(s.h.path)
	if err != nil {
		return nil, err
	}
	if change != nil {
		change(cfg)
	}
	return TakeOver(cfg, s.args[len(s.args)-1])
}

// takeOverThrough is a new process that asks for the offer through a
// relay of the control socket that fault spoils.
func takeOverThrough(fault relayFault) func(*testing.T, *harness, *inProcSuccessor) error {
	return func(t *testing.T, old *harness, s *inProcSuccessor) error {
		cfg, err := config.Load(s.h.path)
		if err != nil {
			return err
		}
		_, err = TakeOver(cfg, controlRelay(t, old.socket(), fault))
		return err
	}
}

// upgradeFaults are the faults TestUpgradeFaultAtEveryStep injects. The
// ones other tests cover are named there (see the table in its comment).
func upgradeFaults() []upgradeFault {
	killed := errors.New("signal: killed")
	return []upgradeFault{
		{step: "2 file", fault: "does not load", want: oldServesOn, err: "gave up: invalid configuration",
			run: func(_ *testing.T, _ *harness, s *inProcSuccessor) error {
				err := errors.New("invalid configuration: listeners[0]: bind missing")
				AbortTakeOver(s.args[len(s.args)-1], err)
				return err
			}},
		{step: "2 file", fault: "crash (SIGKILL) before asking", want: oldServesOn, err: "exited before it took over",
			run: func(*testing.T, *harness, *inProcSuccessor) error { return killed }},
		{step: "3 takeover", fault: "answer lost", want: oldServesOn, err: "exited before it took over",
			run: takeOverThrough(relayLose)},
		{step: "3 takeover", fault: "answer garbled", want: oldServesOn, err: "exited before it took over",
			run: takeOverThrough(relayGarble)},
		{step: "4 offer", fault: "control_socket differs", want: oldServesOn, err: "gave up: control_socket is",
			run: func(_ *testing.T, _ *harness, s *inProcSuccessor) error {
				_, err := offered(s, func(c *config.Config) { c.ControlSocket += ".moved" })
				return err
			}},
		{step: "4 offer", fault: "crash (SIGKILL) holding the sockets", want: oldServesOn, err: "exited before it took over",
			run: func(_ *testing.T, _ *harness, s *inProcSuccessor) error {
				tk, err := offered(s, nil)
				if err != nil {
					return err
				}
				tk.close() // the kernel closes a killed process's files
				return killed
			}},
		{step: "5 run", fault: "hangs until takeoverTimeout", want: oldServesOn, err: "did not take over within",
			run: func(_ *testing.T, _ *harness, s *inProcSuccessor) error {
				return takeOverWith(s, func(*Takeover) { <-s.ctx.Done() }) // SIGKILL ends it
			},
			drive: func(t *testing.T, old *harness, _ *inProcSuccessor) {
				var at time.Time
				old.clk.WaitArmedWhere(t, func(a clock.Arm) bool {
					if !a.Context && a.D == takeoverTimeout {
						at = a.At
						return true
					}
					return false
				})
				old.clk.Set(at)
			}},
		{step: "5 run", fault: "running daemon stopped (SIGTERM)", want: bothStop, err: "the daemon is stopping",
			run: func(_ *testing.T, old *harness, s *inProcSuccessor) error {
				return takeOverWith(s, func(*Takeover) {
					old.cancel()
					<-s.ctx.Done() // the running daemon gave up and kills this one
				})
			}},
		{step: "6 takeover-ready", fault: "not sent", want: oldServesOn, err: "exited before it took over",
			run: func(_ *testing.T, _ *harness, s *inProcSuccessor) error {
				return takeOverWith(s, func(tk *Takeover) { tk.socket = s.h.dir + "/no-such-socket" })
			}},
		{step: "6 takeover-ready", fault: "answer lost", want: newAfresh,
			run: func(t *testing.T, old *harness, s *inProcSuccessor) error {
				relay := controlRelay(t, old.socket(), relayLose)
				return takeOverWith(s, func(tk *Takeover) { tk.socket = relay })
			}},
		{step: "6 takeover-ready", fault: "answer garbled", want: newAfresh,
			run: func(t *testing.T, old *harness, s *inProcSuccessor) error {
				relay := controlRelay(t, old.socket(), relayGarble)
				return takeOverWith(s, func(tk *Takeover) { tk.socket = relay })
			}},
		{step: "7 carry on", fault: "none", want: newAdopts,
			run: func(_ *testing.T, _ *harness, s *inProcSuccessor) error { return takeOverWith(s, nil) }},
		{step: "7 carry on", fault: "crash (SIGKILL) before adopting", want: oldReleases, err: "after the hand-over, before it served",
			run: func(_ *testing.T, _ *harness, s *inProcSuccessor) error {
				tk, err := offered(s, nil)
				if err != nil {
					return err
				}
				_, err = tk.ready([]string{"test-new"})
				tk.close()
				return errors.Join(err, killed)
			}},
	}
}

// TestUpgradeFaultAtEveryStep injects a fault at each step of the
// hand-over (see the steps above) with the running daemon a MASTER
// serving a session, and checks afterwards that (a) the VIP is held by
// the one process that advertises for it, or given up with priority 0, or
// removed for a backup to take over, never left behind a process that
// thinks it is MASTER; (b) the listener is served by one live daemon
// (none after a stop); (c) the old daemon's session is served on or ends
// with it; (d) the upgrade's answer and both daemons' ends say what
// happened; (e) once both have ended, neither the lock nor the listening
// socket is held by a file left open.
//
// Step x fault covered elsewhere: 1 program refused or upgrade during a
// reload (TestUpgradeRefused, TestTakeoverOnlyForTheSuccessor); 2 exits
// at once, 4 gives up, 1 request ends (TestUpgradeFails); 5 cannot bind a
// new listener (TestUpgradeSuccessorCannotBind); 5 new process stopped
// (TestUpgradeSuccessorStopsBeforeHandover); 6 not sent
// (TestTakeoverReadyNotSentGivesUp); 6 running daemon killed while the
// new one waits (TestTakeoverReadyPredecessorGone); 7 a BACKUP carried on
// (TestUpgradeBackup), VIPs not carried on
// (TestUpgradeRemovesVIPsNotCarriedOn), new process dies before it
// serves with no session to drain
// (TestUpgradeSuccessorDiesAfterHandoverNoSessions); 8 new process dies
// while the old drains (TestUpgradeSuccessorDiesAfterHandover) or is
// upgraded in turn (TestUpgradeTwiceWhileDraining), running daemon
// stopped while draining (TestUpgradeOldStoppedWhileDraining).
func TestUpgradeFaultAtEveryStep(t *testing.T) {
	for _, c := range upgradeFaults() {
		t.Run(c.step+"/"+c.fault, func(t *testing.T) {
			l := newLab(t)
			h := newHarness(t, l.file())
			startMaster(t, h)
			oldF := h.vrrp.get("v")
			sess := openSession(t, l)
			started := startSuccessors(t, h, func(s *inProcSuccessor) error { return c.run(t, h, s) })
			type result struct {
				res control.Upgrade
				err error
			}
			upgraded := make(chan result, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				res, err := h.d.Upgrade(ctx, os.Args[0])
				upgraded <- result{res, err}
			}()
			s := <-started
			if c.drive != nil {
				c.drive(t, h, s)
			}
			var r result
			select {
			case r = <-upgraded:
			case <-time.After(20 * time.Second):
				t.Fatal("the upgrade did not end")
			}
			switch c.want {
			case oldServesOn:
				if r.err == nil || !strings.Contains(r.err.Error(), c.err) || !strings.Contains(r.err.Error(), "serves on as before") {
					t.Fatalf("Upgrade: %v, want %q", r.err, c.err)
				}
				waitDone(t, s)
				servesOnVRRP(t, h)
				openSession(t, l).Close()
				if err := roundTrip(sess, []byte("on")); err != nil {
					t.Errorf("the session after the failed upgrade: %v", err)
				}
				if h.d.upgradePID() != 0 {
					t.Error("the failed upgrade is still under way")
				}
				quietSuccessor(t, s)
			case bothStop:
				if r.err == nil || !strings.Contains(r.err.Error(), c.err) {
					t.Fatalf("Upgrade: %v, want %q", r.err, c.err)
				}
				waitDone(t, s)
				sess.Close() // it drains until its client ends it
				select {
				case err := <-h.done:
					h.cancel = nil
					if err != nil {
						t.Errorf("the stopped daemon: %v", err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("the stopped daemon did not return")
				}
				oldF.mu.Lock()
				released, held := oldF.released, oldF.held
				oldF.mu.Unlock()
				if p := oldF.sentPriorities(); released == 0 || held || !slices.Contains(p, 0) {
					t.Errorf("the stopped MASTER: released %d, held %v, adverts %v; want the VIPs handed over with priority 0", released, held, p)
				}
				quietSuccessor(t, s)
			case newAdopts, newAfresh:
				if r.err != nil {
					t.Fatalf("Upgrade: %v", r.err)
				}
				if len(r.res.VRRP) != 1 || r.res.VRRP[0].State != "MASTER" || r.res.Sessions != 1 {
					t.Errorf("answer %+v", r.res)
				}
				nd := waitReady(t, s)
				nv := s.h.vrrp.get("v")
				stale := len(s.h.staleRemovals())
				if c.want == newAdopts && stale != 0 {
					t.Errorf("the new process removed VIPs %d times", stale)
				}
				if c.want == newAfresh {
					if stale == 0 {
						t.Error("the new process starts VRRP afresh without removing the VIPs left")
					}
					if st := nd.Status().VRRP[0].State; st == vrrp.StateMaster {
						t.Errorf("the new instance is %v at once, after no answer", st)
					}
				}
				h.eventually("the new process MASTER with the VIPs", func() bool {
					s.h.clk.Advance(20 * time.Millisecond)
					nv.mu.Lock()
					held := nv.held
					nv.mu.Unlock()
					return held && nd.Status().VRRP[0].State == vrrp.StateMaster
				})
				select {
				case <-oldF.closed:
				default:
					t.Error("the old instance still runs beside the new MASTER")
				}
				oldF.mu.Lock()
				released := oldF.released
				oldF.mu.Unlock()
				if p := oldF.sentPriorities(); released != 0 || slices.Contains(p, 0) {
					t.Errorf("the old daemon released (%d) or advertised priority 0 (%v)", released, p)
				}
				newSess := openSession(t, l)
				var cs control.Status
				if err := control.Call(h.socket(), control.Request{Command: "status"}, &cs, 5*time.Second); err != nil || cs.Version != "test-new" {
					t.Errorf("status over the socket: version %q, %v", cs.Version, err)
				}
				if err := roundTrip(sess, []byte("drained")); err != nil {
					t.Errorf("the old daemon's session after the hand-over: %v", err)
				}
				sess.Close()
				// The old daemon may have accepted newSess too: both
				// accept on the listening socket until it has stopped
				// accepting, just after the new one serves. Its last
				// session is then newSess, which it would otherwise
				// keep for its graceful_timeout (10 s).
				newSess.Close()
				select {
				case err := <-h.done:
					h.cancel = nil
					if err != nil {
						t.Errorf("the old daemon: %v", err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("the old daemon did not return after its last session")
				}
				s.cancel()
				waitDone(t, s)
			case oldReleases:
				if r.err == nil || !strings.Contains(r.err.Error(), c.err) {
					t.Fatalf("Upgrade: %v, want %q", r.err, c.err)
				}
				h.eventually("the VIPs removed", func() bool {
					oldF.mu.Lock()
					defer oldF.mu.Unlock()
					return oldF.released > 0 && !oldF.held
				})
				if p := oldF.sentPriorities(); slices.Contains(p, 0) {
					t.Errorf("adverts %v: the stopped instance advertised", p)
				}
				if err := roundTrip(sess, []byte("drained")); err != nil {
					t.Errorf("the old daemon's session: %v", err)
				}
			}
			sess.Close()
			if err := h.stop(); err != nil {
				t.Errorf("the old daemon: %v", err)
			}
			nothingLeft(t, h, l)
		})
	}
}

// waitDone waits for the new process s to end.
func waitDone(t *testing.T, s *inProcSuccessor) {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the new process did not end")
	}
}

// waitReady waits for the new process s to serve, and returns its daemon.
func waitReady(t *testing.T, s *inProcSuccessor) *Daemon {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.daemon() == nil {
		if time.Now().After(deadline) {
			t.Fatal("the new process built no daemon")
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case <-s.daemon().Ready():
	case <-s.done:
		t.Fatalf("the new process ended: %v", s.err)
	case <-time.After(10 * time.Second):
		t.Fatal("the new process is not ready")
	}
	return s.daemon()
}

// quietSuccessor checks that the new process s, which did not take over,
// neither acquired a VIP nor advertised.
func quietSuccessor(t *testing.T, s *inProcSuccessor) {
	t.Helper()
	f := s.h.vrrp.get("v")
	if f == nil {
		return // it built no VRRP instance
	}
	f.mu.Lock()
	acquired, held := f.acquired, f.held
	f.mu.Unlock()
	if acquired != 0 || held || len(f.sentPriorities()) != 0 {
		t.Errorf("the new process that did not take over acquired %d, holds %v, advertised %v", acquired, held, f.sentPriorities())
	}
}

// nothingLeft checks, once every daemon of the test has ended, that no
// file of theirs is left open: the lock is free and the listener's
// address refuses connections.
func nothingLeft(t *testing.T, h *harness, l *lab) {
	t.Helper()
	lk, err := takeLock(LockPath(h.socket()))
	if err != nil {
		t.Errorf("the single-instance lock after both daemons ended: %v", err)
	} else {
		lk.release()
	}
	if c, err := net.DialTimeout("tcp", l.bind, time.Second); err == nil {
		c.Close()
		t.Error("the listener's address accepts after both daemons ended: a socket was left open")
	}
}

// A running daemon stopped (SIGTERM) after the hand-over, while it drains
// a session, neither hands the VIPs over nor cuts the session short: the
// new process owns the VIPs, and the old one drains on, as after any
// hand-over, and returns nil (exit 0) once the session ends.
func TestUpgradeOldStoppedWhileDraining(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startMaster(t, h)
	oldF := h.vrrp.get("v")
	sess := openSession(t, l)
	started := startSuccessors(t, h, takeOver)
	if _, err := upgradeNow(t, h); err != nil {
		t.Fatal(err)
	}
	s := <-started
	nd := waitReady(t, s)
	h.cancel()
	select {
	case err := <-h.done:
		t.Fatalf("the old daemon returned with a session open: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	if err := roundTrip(sess, []byte("drained")); err != nil {
		t.Errorf("the old daemon's session after its stop: %v", err)
	}
	oldF.mu.Lock()
	released := oldF.released
	oldF.mu.Unlock()
	if p := oldF.sentPriorities(); released != 0 || slices.Contains(p, 0) {
		t.Errorf("the stopped old daemon released (%d) or advertised priority 0 (%v)", released, p)
	}
	sess.Close()
	select {
	case err := <-h.done:
		h.cancel = nil
		if err != nil {
			t.Errorf("the old daemon: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the old daemon did not return after its last session")
	}
	nv := s.h.vrrp.get("v")
	h.eventually("the new process MASTER with the VIPs", func() bool {
		nv.mu.Lock()
		held := nv.held
		nv.mu.Unlock()
		return held && nd.Status().VRRP[0].State == vrrp.StateMaster
	})
	openSession(t, l).Close()
}

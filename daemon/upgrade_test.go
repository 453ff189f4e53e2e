package daemon

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/internal/clock"
	"github.com/rmqlb/rmqlb/vrrp"
)

// inProcSuccessor is the new process of an upgrade, run in the test's
// process: a daemon on the same files with fakes of its own. Its pid is
// the test's, which is the peer of its control requests.
type inProcSuccessor struct {
	h      *harness // its own fakes; h.d is set once it has taken over
	args   []string // its command line
	run    func(s *inProcSuccessor) error
	cancel context.CancelFunc
	ctx    context.Context
	done   chan struct{}
	err    error

	mu sync.Mutex
	d  *Daemon
}

func (s *inProcSuccessor) Pid() int    { return os.Getpid() }
func (s *inProcSuccessor) Wait() error { <-s.done; return s.err }
func (s *inProcSuccessor) Kill() error { s.cancel(); return nil }
func (s *inProcSuccessor) daemon() *Daemon {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.d
}

// successorHarness is a harness on old's files with fakes and a clock of
// its own, and no daemon yet. Its listeners run one event loop: fewer
// than old's (GOMAXPROCS) wherever there is more than one CPU, so the
// successor serves the sockets handed over with another number of loops.
func successorHarness(t *testing.T, old *harness) *harness {
	return &harness{
		t: t, dir: old.dir, path: old.path, loops: 1,
		clk:    clock.NewFake(old.clk.Now()),
		reg:    prometheus.NewRegistry(),
		checks: &checkers{byID: map[backend.ID]*fakeCheck{}},
		vrrp:   &vrrpFakes{byName: map[string]*fakeVRRP{}},
	}
}

// takeOver is what `rmqlb run --takeover` does: fetch the hand-over,
// build the daemon on it, run it.
func takeOver(s *inProcSuccessor) error { return takeOverWith(s, nil) }

// takeOverWith is takeOver with the hand-over changed by change (nil:
// none) before the daemon is built on it.
func takeOverWith(s *inProcSuccessor, change func(*Takeover)) error {
	cfg, err := config.Load(s.h.path)
	if err != nil {
		return err
	}
	tk, err := TakeOver(cfg, s.args[len(s.args)-1])
	if err != nil {
		return err
	}
	if change != nil {
		change(tk)
	}
	opt := s.h.options("test-new")
	opt.Takeover = tk
	d, err := New(cfg, opt)
	if err != nil {
		tk.Abort(err)
		return err
	}
	s.mu.Lock()
	s.d = d
	s.mu.Unlock()
	return d.Run(s.ctx)
}

// startSuccessors makes old's upgrades start in-process successors that
// do run; the returned channel gives each one started.
func startSuccessors(t *testing.T, old *harness, run func(*inProcSuccessor) error) <-chan *inProcSuccessor {
	started := make(chan *inProcSuccessor, 4)
	old.d.opt.StartSuccessor = func(binary string, args []string) (Successor, error) {
		if !slices.Equal(args, []string{"run", "--config", old.path, "--takeover-from", old.socket()}) {
			t.Errorf("successor args %q", args)
		}
		ctx, cancel := context.WithCancel(context.Background())
		s := &inProcSuccessor{h: successorHarness(t, old), args: args, run: run, ctx: ctx, cancel: cancel, done: make(chan struct{})}
		go func() {
			defer close(s.done)
			s.err = s.run(s)
		}()
		t.Cleanup(func() {
			cancel()
			select {
			case <-s.done:
			case <-time.After(30 * time.Second):
				t.Error("the successor did not stop")
			}
		})
		started <- s
		return s, nil
	}
	return started
}

// TestUpgrade: the new daemon takes over the sockets, the backends' and
// the operator's states, the weights, the persistence entries and the
// VRRP mastership without a transition; the old one keeps its session
// until the client ends it, then returns; a client is never refused.
func TestUpgrade(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file("policy: roundrobin", "policy: roundrobin\n    persistence_timeout: 10m"))
	startMaster(t, h)
	oldVRRP := h.vrrp.get("v")
	if _, err := h.d.SetAdmin("amqp/b", "drain"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.d.SetWeight("amqp/a", 7); err != nil {
		t.Fatal(err)
	}
	// An established session: it must outlive the hand-over, in the old
	// daemon, and end only when its client ends it.
	sess := openSession(t, l)
	// A reloaded graceful_timeout is what the old daemon gives its
	// sessions after the hand-over.
	running := l.file("policy: roundrobin", "policy: roundrobin\n    persistence_timeout: 10m\n    graceful_timeout: 45s")
	if r := h.reload(running); !r.OK() || len(r.Applied) != 1 {
		t.Fatalf("reload: %+v", r)
	}
	// An edit nobody loaded (a comment): the new process runs it, and the
	// answer says so.
	h.write(running + "# edited, not loaded\n")
	started := startSuccessors(t, h, takeOver)

	// A client connecting all along is never refused.
	stopProbe := make(chan struct{})
	var probeMu sync.Mutex
	var probeErrs []error
	probes := 0
	probeCount := func() int { probeMu.Lock(); defer probeMu.Unlock(); return probes }
	probeDone := make(chan struct{})
	go func() {
		defer close(probeDone)
		for {
			select {
			case <-stopProbe:
				return
			default:
			}
			c, err := net.Dial("tcp", l.bind)
			if err == nil {
				err = roundTrip(c, []byte("probe"))
				c.Close()
			}
			probeMu.Lock()
			probes++
			if err != nil {
				probeErrs = append(probeErrs, err)
			}
			probeMu.Unlock()
			time.Sleep(2 * time.Millisecond)
		}
	}()
	h.eventually("probes before", func() bool { return probeCount() >= 3 })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := h.d.Upgrade(ctx, os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	succ := <-started
	if res.NewPID != os.Getpid() || res.Binary != os.Args[0] || res.NewVersion != "test-new" || !slices.Equal(res.Listeners, []string{"amqp"}) ||
		len(res.VRRP) != 1 || res.VRRP[0].State != "MASTER" || res.Sessions < 1 || res.GracefulTimeout != 45*time.Second ||
		res.ConfigChange == nil || res.ConfigChange.Modified.IsZero() {
		t.Errorf("answer %+v", res)
	}

	// The old daemon: no priority 0, no release, its session served on.
	oldVRRP.mu.Lock()
	released := oldVRRP.released
	oldVRRP.mu.Unlock()
	if p := oldVRRP.sentPriorities(); released != 0 || slices.Contains(p, 0) {
		t.Errorf("the old daemon released (%d) or advertised priority 0 (%v)", released, p)
	}
	if err := roundTrip(sess, []byte("after")); err != nil {
		t.Fatalf("the established session after the hand-over: %v", err)
	}

	// The new daemon: MASTER at once (nothing moves its fake clock, so it
	// never waited for a master down interval), the VIPs acquired, the
	// states carried on.
	nd := succ.daemon()
	select {
	case <-nd.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("the new daemon is not ready")
	}
	nv := succ.h.vrrp.get("v")
	h.eventually("the new daemon acquired the VIPs", func() bool {
		nv.mu.Lock()
		defer nv.mu.Unlock()
		return nv.acquired > 0
	})
	nv.mu.Lock()
	acquired := nv.acquired
	nv.mu.Unlock()
	if s := nd.Status().VRRP[0]; s.State != vrrp.StateMaster || acquired != 1 || !slices.Equal(nv.sentPriorities()[:1], []uint8{150}) {
		t.Errorf("the new daemon's VRRP: %v, acquired %d, adverts %v", s.State, acquired, nv.sentPriorities())
	}
	st := nd.Status()
	for _, b := range st.Listeners[0].Backends {
		switch b.Name {
		case "a":
			if b.State != backend.Up || b.Weight != 7 || !b.WeightOverride {
				t.Errorf("a carried on as %v weight %d override %v", b.State, b.Weight, b.WeightOverride)
			}
		case "b":
			if b.State != backend.Drain {
				t.Errorf("b carried on as %v, want DRAIN", b.State)
			}
		}
	}
	if st.Listeners[0].StickyEntries < 1 {
		t.Errorf("the persistence entries were not carried on: %d", st.Listeners[0].StickyEntries)
	}
	// Its status names the old process and what it finishes.
	if p := st.Previous; p == nil || p.PID != os.Getpid() || p.Sessions != res.Sessions ||
		!p.Until.Equal(h.clk.Now().Add(45*time.Second)) || p.CloseSpread != 36*time.Second || res.CloseSpread != 36*time.Second {
		t.Errorf("the new daemon's status shows the old process as %+v, want pid %d finishing %d sessions until %v, "+
			"closing them over the default close_spread of that graceful_timeout, 36s (the answer said %v)",
			p, os.Getpid(), res.Sessions, h.clk.Now().Add(45*time.Second), res.CloseSpread)
	}

	// The control socket answers from the new daemon; the lock is held.
	var cs control.Status
	if err := control.Call(h.socket(), control.Request{Command: "status"}, &cs, 5*time.Second); err != nil || cs.Version != "test-new" {
		t.Errorf("status over the socket: version %q, %v", cs.Version, err)
	}
	if _, err := takeLock(LockPath(h.socket())); !errors.Is(err, ErrLocked) {
		t.Errorf("the single-instance lock is not held: %v", err)
	}

	// The new daemon serves on: ten probes after the hand-over.
	after := probeCount()
	h.eventually("probes after", func() bool { return probeCount() >= after+10 })
	close(stopProbe)
	<-probeDone
	if len(probeErrs) > 0 {
		t.Errorf("%d of %d probes failed: %v", len(probeErrs), probes, probeErrs)
	}

	// The old daemon reports what it still finishes, once the probes it
	// held have ended: the one session, which the new daemon's status
	// shows beside the count at the hand-over.
	h.eventually("the new daemon shows the old one's session left", func() bool {
		p := nd.Status().Previous
		return p != nil && p.SessionsLeft != nil && *p.SessionsLeft == 1
	})
	// The old daemon waits for its session, and returns once it ends.
	select {
	case err := <-h.done:
		t.Fatalf("the old daemon returned with a session open: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	sess.Close()
	select {
	case err := <-h.done:
		if err != nil {
			t.Errorf("the old daemon: %v", err)
		}
		h.cancel = nil
	case <-time.After(10 * time.Second):
		t.Fatal("the old daemon did not return after its last session")
	}
	// Its end of the report closed: the new daemon forgets it, although
	// its pid (this test's) lives on.
	h.eventually("the new daemon forgets the old one once it returned", func() bool { return nd.Status().Previous == nil })
	if _, err := os.Lstat(h.socket()); err != nil {
		t.Errorf("the control socket file went with the old daemon: %v", err)
	}
	if err := control.Call(h.socket(), control.Request{Command: "status"}, &cs, 5*time.Second); err != nil || cs.Version != "test-new" {
		t.Errorf("status after the old daemon left: version %q, %v", cs.Version, err)
	}
}

// TestUpgradeFails: a new process that gives up, or exits without taking
// over, leaves the running daemon serving as it was.
func TestUpgradeFails(t *testing.T) {
	for _, c := range []struct {
		name string
		run  func(*inProcSuccessor) error
		want string
	}{
		{"gives up", func(s *inProcSuccessor) error {
			cfg, err := config.Load(s.h.path)
			if err != nil {
				return err
			}
			tk, err := TakeOver(cfg, s.args[len(s.args)-1])
			if err != nil {
				return err
			}
			err = errors.New("listener amqp: binding 10.0.0.1:5672: cannot assign requested address")
			tk.Abort(err)
			return err
		}, "gave up: listener amqp: binding"},
		{"exits", func(*inProcSuccessor) error { return errors.New("exit status 1") }, "exited before it took over (exit status 1)"},
		{"hangs", func(s *inProcSuccessor) error { <-s.ctx.Done(); return s.ctx.Err() }, "the request ended"},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLab(t)
			h := newHarness(t, l.file())
			startMaster(t, h)
			startSuccessors(t, h, c.run)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			if c.name != "hangs" {
				ctx = context.Background()
			}
			_, err := h.d.Upgrade(ctx, os.Args[0])
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "serves on as before") {
				t.Fatalf("Upgrade: %v, want %q", err, c.want)
			}
			servesOn(t, h, l)
			if h.d.upgradePID() != 0 {
				t.Error("the failed upgrade is still under way")
			}
			if r := h.reload(l.file()); r.Error != "" {
				t.Errorf("reload after the failed upgrade: %s", r.Error)
			}
		})
	}
}

// TestTakeoverOnlyForTheSuccessor: the take-over requests are refused to
// anybody but the process an upgrade started, and out of turn.
func TestTakeoverOnlyForTheSuccessor(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startChecked(t, h)
	for _, cmd := range []string{"takeover", "takeover-ready", "takeover-abort"} {
		err := control.Call(h.socket(), control.Request{Command: cmd}, nil, 5*time.Second)
		if err == nil || !strings.Contains(err.Error(), "only the process started by `rmqlb upgrade`") {
			t.Errorf("%s without an upgrade: %v", cmd, err)
		}
	}
	// An upgrade whose new process is another pid: this one is refused.
	h.d.opt.StartSuccessor = func(string, []string) (Successor, error) { return &otherPID{exit: make(chan struct{})}, nil }
	ctx, cancel := context.WithCancel(context.Background())
	upgraded := make(chan error, 1)
	go func() { _, err := h.d.Upgrade(ctx, os.Args[0]); upgraded <- err }()
	h.eventually("upgrade under way", func() bool { return h.d.upgradePID() != 0 })
	if _, err := control.CallWithFiles(h.socket(), control.Request{Command: "takeover"}, nil, 5*time.Second); err == nil ||
		!strings.Contains(err.Error(), "only the process") {
		t.Errorf("takeover from another process: %v", err)
	}
	if r := h.d.Reload(); !strings.Contains(r.Error, "an upgrade is under way") {
		t.Errorf("reload during an upgrade: %+v", r)
	}
	if p := h.d.PlanReload(); !strings.Contains(p.Blocked, "an upgrade is under way") || p.Error != "" {
		t.Errorf("dry run of a reload during an upgrade: %+v", p)
	}
	if _, err := h.vrrpCommand("release", "v"); err == nil || !strings.Contains(err.Error(), "an upgrade is under way") {
		t.Errorf("vrrp release during an upgrade: %v", err)
	}
	if _, err := h.d.Upgrade(context.Background(), os.Args[0]); err == nil || !strings.Contains(err.Error(), "under way") {
		t.Errorf("a second upgrade: %v", err)
	}
	cancel()
	if err := <-upgraded; err == nil {
		t.Error("the upgrade whose process never came succeeded")
	}
	if _, err := h.d.Upgrade(context.Background(), "/nonexistent/rmqlb"); err == nil {
		t.Error("upgrade to a missing program succeeded")
	}
	if _, err := h.d.Upgrade(context.Background(), h.path); err == nil || !strings.Contains(err.Error(), "not an executable") {
		t.Errorf("upgrade to a configuration file: %v", err)
	}
}

// otherPID is a new process that never asks: pid 1, which is not the
// test's.
type otherPID struct {
	exit chan struct{}
	once sync.Once
}

func (o *otherPID) Pid() int    { return 1 }
func (o *otherPID) Wait() error { <-o.exit; return errors.New("killed") }
func (o *otherPID) Kill() error { o.once.Do(func() { close(o.exit) }); return nil }

// TestSessionsOf: the sessions an old daemon finishes after a hand-over
// are those of its listeners' backends and of the backends a reload
// removed while keeping their sessions.
func TestSessionsOf(t *testing.T) {
	s := balancer.Snapshot{
		Backends: []balancer.BackendSnapshot{{Name: "a", Active: 2}, {Name: "b", Active: 0}},
		Removed:  []balancer.RemovedBackendSnapshot{{Name: "c", Active: 3}},
	}
	if n := sessionsOf(s); n != 5 {
		t.Errorf("sessionsOf = %d, want 5 (2 of a, 3 kept of the removed c)", n)
	}
}

// TestUpgradeSaysWhatBecameOfEachInstance: the answer to an upgrade whose
// new process runs a file edited since the last reload names what the new
// process did with each VRRP instance of the old one: carried on (the
// same virtual router), started afresh (its VRID changed), or stopped
// (no longer in the file); it does not call all of them carried on. The
// old process stops the MASTERs not carried on as at a stop, handing
// their VIPs over with a priority-0 advert, and the one carried on
// quietly.
func TestUpgradeSaysWhatBecameOfEachInstance(t *testing.T) {
	l := newLab(t)
	instance := func(name string, vrid int, vip string) string {
		return fmt.Sprintf("  - name: %s\n    interface: eth0\n    virtual_router_id: %d\n    version: 3\n    advert_interval: 100ms\n    priority: 100\n    virtual_ipaddress: [%s]\n",
			name, vrid, vip)
	}
	three := strings.Replace(l.file(), "listeners:\n", instance("w", 2, "192.0.2.200/32")+instance("x", 3, "192.0.2.201/32")+"listeners:\n", 1)
	h := newHarness(t, three)
	startChecked(t, h)
	h.eventually("the three instances MASTER", func() bool {
		h.clk.Advance(20 * time.Millisecond)
		vs := h.d.Status().VRRP
		return len(vs) == 3 && !slices.ContainsFunc(vs, func(s control.VRRP) bool { return s.State != vrrp.StateMaster })
	})
	old := map[string]*fakeVRRP{"v": h.vrrp.get("v"), "w": h.vrrp.get("w"), "x": h.vrrp.get("x")}
	h.write(strings.Replace(l.file(), "listeners:\n", instance("w", 4, "192.0.2.200/32")+"listeners:\n", 1))
	started := startSuccessors(t, h, takeOver)
	res, err := upgradeNow(t, h)
	if err != nil {
		t.Fatal(err)
	}
	<-started
	fates := map[string]string{}
	for _, v := range res.VRRP {
		fates[v.Name] = v.Fate
		if v.State != "MASTER" {
			t.Errorf("instance %s was %s at the upgrade, want MASTER", v.Name, v.State)
		}
	}
	if want := map[string]string{"v": control.FateCarried, "w": control.FateAfresh, "x": control.FateRemoved}; !maps.Equal(fates, want) {
		t.Errorf("fates %v, want %v (answer %+v)", fates, want, res.VRRP)
	}
	for name, f := range old {
		f.mu.Lock()
		released := f.released
		f.mu.Unlock()
		if handed := slices.Contains(f.sentPriorities(), 0) && released > 0; handed != (name != "v") {
			t.Errorf("old process's %s: priority 0 sent and VIPs released %v (%d releases, priorities %v)", name, handed, released, f.sentPriorities())
		}
	}
}

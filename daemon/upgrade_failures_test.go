package daemon

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/vrrp"
)

// upgradeNow runs an upgrade of h's daemon to the test binary.
func upgradeNow(t *testing.T, h *harness) (control.Upgrade, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return h.d.Upgrade(ctx, os.Args[0])
}

// upgradedInProc upgrades h's daemon to an in-process successor that
// takes over (takeOver), and returns it once it is ready.
func upgradedInProc(t *testing.T, h *harness) *inProcSuccessor {
	t.Helper()
	started := startSuccessors(t, h, takeOver)
	if _, err := upgradeNow(t, h); err != nil {
		t.Fatal(err)
	}
	succ := <-started
	select {
	case <-succ.daemon().Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("the new daemon is not ready")
	}
	return succ
}

// servesOn checks that h's daemon serves as before a failed upgrade: its
// control socket (the file in place), its VRRP master (no priority 0, no
// release), its listener (a session the test's cleanup closes).
func servesOn(t *testing.T, h *harness, l *lab) {
	t.Helper()
	servesOnVRRP(t, h)
	openSession(t, l)
}

// servesOnVRRP checks servesOn's control socket and VRRP master.
func servesOnVRRP(t *testing.T, h *harness) {
	t.Helper()
	if _, err := os.Lstat(h.socket()); err != nil {
		t.Errorf("the control socket file after the failed upgrade: %v", err)
	}
	var cs control.Status
	if err := control.Call(h.socket(), control.Request{Command: "status"}, &cs, 5*time.Second); err != nil || cs.Version != "test" {
		t.Errorf("status after the failed upgrade: version %q, %v", cs.Version, err)
	}
	f := h.vrrp.get("v")
	f.mu.Lock()
	released := f.released
	f.mu.Unlock()
	if s := h.vrrpSnapshot(); s.State != vrrp.StateMaster || released != 0 || slices.Contains(f.sentPriorities(), 0) {
		t.Errorf("VRRP after the failed upgrade: %v, released %d, adverts %v", s.State, released, f.sentPriorities())
	}
}

// openSession opens a session through the lab's listener and checks that
// it carries data; the test's cleanup closes it.
func openSession(t *testing.T, l *lab) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", l.bind)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := roundTrip(c, []byte("x")); err != nil {
		t.Fatal(err)
	}
	return c
}

// A new process whose file adds a listener on a taken address gives up
// before the running daemon stops anything; nothing was accepted by it.
func TestUpgradeSuccessorCannotBind(t *testing.T) {
	l := newLab(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	h := newHarness(t, l.file())
	startMaster(t, h)
	h.write(l.file() + "  - name: zz\n    bind: " + busy.Addr().String() + "\n    check: {type: none}\n    backends:\n      - {name: c, address: " + l.c.addr() + "}\n")
	startSuccessors(t, h, takeOver)
	_, err = upgradeNow(t, h)
	if err == nil || !strings.Contains(err.Error(), "gave up") || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("Upgrade: %v, want the new process's bind error", err)
	}
	servesOn(t, h, l)
}

// A new process stopped (SIGTERM) before the hand-over gives up: the
// running daemon keeps its VIPs and VRRP.
func TestUpgradeSuccessorStopsBeforeHandover(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startMaster(t, h)
	startSuccessors(t, h, func(s *inProcSuccessor) error {
		s.cancel() // the stop arrives as it starts
		return takeOver(s)
	})
	if _, err := upgradeNow(t, h); err == nil || !strings.Contains(err.Error(), "stopped before the hand-over") {
		t.Fatalf("Upgrade: %v", err)
	}
	servesOn(t, h, l)
}

// VIPs the running daemon holds that the new process does not carry on
// (its file names other ones) are removed; the new ones are acquired.
func TestUpgradeRemovesVIPsNotCarriedOn(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startMaster(t, h)
	h.write(l.file("192.0.2.100/32", "192.0.2.101/32"))
	succ := upgradedInProc(t, h)
	want := netip.MustParsePrefix("192.0.2.100/32")
	var removed []netip.Prefix
	for _, c := range succ.h.staleRemovals() {
		for _, in := range c.VRRP {
			removed = append(removed, in.VIPs...)
		}
	}
	if !slices.Equal(removed, []netip.Prefix{want}) {
		t.Errorf("the new process removed %v, want %v", removed, want)
	}
	nv := succ.h.vrrp.get("v")
	h.eventually("the new VIP acquired", func() bool {
		nv.mu.Lock()
		defer nv.mu.Unlock()
		return nv.held
	})
	nv.mu.Lock()
	vips := nv.vips
	nv.mu.Unlock()
	if !slices.Equal(vips, []netip.Prefix{netip.MustParsePrefix("192.0.2.101/32")}) {
		t.Errorf("the new process holds %v", vips)
	}
}

// A BACKUP carries on as BACKUP: the old process stops without a state
// change, the new one starts BACKUP, marked adopted.
func TestUpgradeBackup(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startChecked(t, h)
	f := h.vrrp.get("v")
	f.inject(t, 200, 100*time.Millisecond) // a higher-priority master
	h.eventually("BACKUP hearing the master", func() bool {
		s := h.vrrpSnapshot()
		return s.State == vrrp.StateBackup && s.Master != nil
	})
	started := startSuccessors(t, h, takeOver)
	res, err := upgradeNow(t, h)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.VRRP) != 1 || res.VRRP[0].State != "BACKUP" {
		t.Errorf("answer %+v", res.VRRP)
	}
	if s := h.d.units["v"].inst.Snapshot(); s.State != vrrp.StateBackup {
		t.Errorf("the old instance after the hand-over: %v, want BACKUP (no change)", s.State)
	}
	succ := <-started
	<-succ.daemon().Ready()
	h.eventually("the new instance started", func() bool { return succ.daemon().Status().VRRP[0].State != vrrp.StateInit })
	s := succ.daemon().Status().VRRP[0]
	if s.State != vrrp.StateBackup || !strings.Contains(s.Reason, "startup") {
		t.Errorf("the new instance: %v (%s)", s.State, s.Reason)
	}
	if n := len(succ.h.vrrp.get("v").sentPriorities()); n != 0 {
		t.Errorf("the new BACKUP advertised %d times", n)
	}
}

// An operator's release of a BACKUP goes on in the new process with its
// start, its end and its reason.
func TestUpgradeKeepsRelease(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startChecked(t, h)
	h.vrrp.get("v").inject(t, 200, 100*time.Millisecond) // a higher-priority master
	h.eventually("BACKUP hearing the master", func() bool {
		s := h.vrrpSnapshot()
		return s.State == vrrp.StateBackup && s.Master != nil
	})
	before, err := h.vrrpCommand("release", "v", "1h")
	if err != nil || !before.Released {
		t.Fatalf("release: %+v, %v", before, err)
	}
	// The release began before the upgrade: by less than its master down
	// interval, which, passed with no advert, would make it MASTER.
	h.clk.Advance(200 * time.Millisecond)
	succ := upgradedInProc(t, h)
	h.eventually("the new instance applied the release", func() bool { return succ.daemon().Status().VRRP[0].Released })
	s := succ.daemon().Status().VRRP[0]
	if !s.ReleasedSince.Equal(before.ReleasedSince) || !s.ReleasedUntil.Equal(before.ReleasedUntil) || s.ReleaseReason != before.ReleaseReason {
		t.Errorf("the new instance's release: since %v until %v (%q), want since %v until %v (%q)",
			s.ReleasedSince, s.ReleasedUntil, s.ReleaseReason, before.ReleasedSince, before.ReleasedUntil, before.ReleaseReason)
	}
}

// The new process of an upgrade writes the state file at its start, with
// the states it took over (a release of a BACKUP among them, before its
// instance applied it), as a start that is not an upgrade does: a state
// file that cannot be written is shown from the upgrade on, not from the
// operator's next command.
func TestUpgradeWritesStateFile(t *testing.T) {
	for _, broken := range []bool{false, true} {
		l := newLab(t)
		state := filepath.Join(t.TempDir(), "state.json")
		h := newHarness(t, l.file("control_socket: SOCKET", "control_socket: SOCKET\nstate_file: "+state))
		startChecked(t, h)
		h.vrrp.get("v").inject(t, 200, 100*time.Millisecond) // a higher-priority master
		h.eventually("BACKUP hearing the master", func() bool {
			s := h.vrrpSnapshot()
			return s.State == vrrp.StateBackup && s.Master != nil
		})
		if _, err := h.d.SetAdmin("amqp/a", "maint"); err != nil {
			t.Fatal(err)
		}
		if _, err := h.vrrpCommand("release", "v"); err != nil {
			t.Fatal(err)
		}
		// Gone before the upgrade, or a directory in its place, which
		// the new process cannot write over.
		if err := os.Remove(state); err != nil {
			t.Fatal(err)
		}
		if broken {
			if err := os.Mkdir(state, 0o700); err != nil {
				t.Fatal(err)
			}
		}
		succ := upgradedInProc(t, h)
		f := succ.daemon().Status().StateFile
		if broken {
			if f == nil || f.Op != control.StateFileWrite || f.Path != state {
				t.Errorf("status after an upgrade that could not write the state file: %+v, want a write error", f)
			}
			continue
		}
		if f != nil {
			t.Errorf("status after the upgrade: state file error %+v", f)
		}
		if s := mustReadOpState(t, state); len(s.Backends) != 1 || s.Backends[0].Admin != "maint" || len(s.VRRP) != 1 || s.VRRP[0].Name != "v" {
			t.Errorf("the state file after the upgrade: %+v", s)
		}
	}
}

// The fields of the state file that this version does not know (a newer
// version's, after a downgrade) outlive an upgrade in place: the new
// process, which takes the operator's states over from the old one, keeps
// them when it writes the file at its start.
func TestUpgradeKeepsUnknownStateFields(t *testing.T) {
	l := newLab(t)
	state := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(state, []byte(`{"version": 1, "saved": "2026-01-01T00:00:00Z", "hosts": ["h1"], "backends": [
		{"listener": "amqp", "backend": "a", "admin": "maint", "maint_until": "2026-01-02T00:00:00Z"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, l.file("control_socket: SOCKET", "control_socket: SOCKET\nstate_file: "+state))
	startChecked(t, h)
	h.eventually("a MAINT after the start", func() bool { return h.backendState(idA) == backend.Maint })
	want := []string{"hosts", "backends[0].maint_until"}
	if s := mustReadOpState(t, state); !slices.Equal(s.ignored, want) {
		t.Fatalf("the state file written at start keeps %q, want %q", s.ignored, want)
	}
	// As a newer version would have it, until the new process writes it.
	if err := os.WriteFile(state, []byte(`{"version": 1, "saved": "2025-06-01T00:00:00Z", "hosts": ["h1", "h2"], "backends": [
		{"listener": "amqp", "backend": "a", "admin": "maint", "maint_until": "2026-01-03T00:00:00Z"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	upgradedInProc(t, h)
	h.eventually("the new process wrote the state file", func() bool {
		b, err := os.ReadFile(state)
		return err == nil && !strings.Contains(string(b), "2025-06-01")
	})
	b, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	if s := mustReadOpState(t, state); !slices.Equal(s.ignored, want) || len(s.Backends) != 1 || s.Backends[0].Admin != "maint" ||
		!strings.Contains(string(b), `"2026-01-03T00:00:00Z"`) || !strings.Contains(string(b), `"h2"`) {
		t.Errorf("the state file written by the new process, keeping %q:\n%s", s.ignored, b)
	}
}

// A MASTER released while no backup takes its VIPs over (none runs, as
// here) keeps them: an upgrade, which would hand them to nobody, is
// refused with what to do; the release stays.
func TestUpgradeRefusedReleasedMaster(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startMaster(t, h)
	if _, err := h.vrrpCommand("release", "v"); err != nil {
		t.Fatal(err)
	}
	startSuccessors(t, h, func(*inProcSuccessor) error {
		t.Error("a successor started")
		return nil
	})
	_, err := upgradeNow(t, h)
	if err == nil || !strings.Contains(err.Error(), "VRRP instance v is released but still MASTER: no backup has taken its VIPs over yet; upgrade once one has, or end the release first (rmqlb vrrp ready v)") {
		t.Fatalf("upgrade of a released MASTER: %v", err)
	}
	if s := h.vrrpSnapshot(); s.State != vrrp.StateMaster || !s.Released {
		t.Errorf("after the refusal: %v, released %v", s.State, s.Released)
	}
}

// An upgrade is refused while a reload runs, and to a program that others
// may change.
func TestUpgradeRefused(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startChecked(t, h)
	startSuccessors(t, h, takeOver)
	h.d.reloadMu.Lock()
	_, err := upgradeNow(t, h)
	h.d.reloadMu.Unlock()
	if err == nil || !strings.Contains(err.Error(), "a reload is running") {
		t.Errorf("upgrade during a reload: %v", err)
	}

	dir := t.TempDir()
	write := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := map[string]string{
		write("ok", 0o755):             "",
		write("group-writable", 0o775): "may be written by others",
		write("not-executable", 0o644): "not an executable file",
		dir:                            "not an executable file",
	}
	if os.Getuid() == 0 {
		other := write("other-owner", 0o755)
		if err := os.Chown(other, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		cases[other] = "belongs to uid 65534"
	}
	for path, want := range cases {
		err := checkProgram(path)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("checkProgram(%s): %v, want %q", filepath.Base(path), err, want)
		}
	}
}

// A new process that dies right after the hand-over, while the old one
// still finishes a session: the old one removes the VIPs, which nothing
// else would advertise for, and the upgrade fails.
func TestUpgradeSuccessorDiesAfterHandover(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startMaster(t, h)
	openSession(t, l) // the old process drains it
	startSuccessors(t, h, func(s *inProcSuccessor) error {
		cfg, err := config.Load(s.h.path)
		if err != nil {
			return err
		}
		tk, err := TakeOver(cfg, s.args[len(s.args)-1])
		if err != nil {
			return err
		}
		_, err = tk.ready([]string{"test-new"})
		tk.close()
		return err // and exits, as if killed
	})
	if _, err := upgradeNow(t, h); err == nil || !strings.Contains(err.Error(), "after the hand-over, before it served") {
		t.Errorf("Upgrade: %v, want the new process's exit after the hand-over", err)
	}
	f := h.vrrp.get("v")
	h.eventually("the VIPs removed", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.released > 0 && !f.held
	})
	if p := f.sentPriorities(); slices.Contains(p, 0) {
		t.Errorf("adverts %v: the stopped instance advertised", p)
	}
}

// A new process upgraded in turn exits, and its own successor serves: the
// first process, still finishing a session, leaves the VIPs alone.
func TestUpgradeTwiceWhileDraining(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startMaster(t, h)
	sess := openSession(t, l)
	started := startSuccessors(t, h, takeOver)
	if _, err := upgradeNow(t, h); err != nil {
		t.Fatal(err)
	}
	a := <-started
	<-a.daemon().Ready()
	a.h.d = a.daemon()
	startSuccessors(t, a.h, takeOver)
	if _, err := upgradeNow(t, a.h); err != nil {
		t.Fatal(err)
	}
	select { // the first process looked at its successor's exit
	case <-h.d.upgrade.watched:
	case <-time.After(10 * time.Second):
		t.Fatal("the first process did not see its successor exit")
	}
	f := h.vrrp.get("v")
	f.mu.Lock()
	released := f.released
	f.mu.Unlock()
	if released != 0 {
		t.Error("the first process removed the VIPs its successor's successor holds")
	}
	if err := roundTrip(sess, []byte("still")); err != nil {
		t.Errorf("the first process's session: %v", err)
	}
}

// A new process that dies right after the hand-over, before it serves,
// while the old one has no session to finish: the old one does not exit
// before it knows the new one serves; it sees it exit, removes the VIPs
// (nothing else would advertise for them) and the upgrade fails.
func TestUpgradeSuccessorDiesAfterHandoverNoSessions(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startMaster(t, h)
	startSuccessors(t, h, func(s *inProcSuccessor) error {
		cfg, err := config.Load(s.h.path)
		if err != nil {
			return err
		}
		tk, err := TakeOver(cfg, s.args[len(s.args)-1])
		if err != nil {
			return err
		}
		_, err = tk.ready([]string{"test-new"})
		tk.close()
		select { // killed once the old process has left, or soon
		case <-h.d.runDone:
		case <-time.After(time.Second):
		}
		return errors.Join(err, errors.New("signal: killed"))
	})
	_, err := upgradeNow(t, h)
	if err == nil || !strings.Contains(err.Error(), "after the hand-over, before it served") || !strings.Contains(err.Error(), "removed the VIPs") {
		t.Errorf("Upgrade: %v, want the new process's exit after the hand-over", err)
	}
	f := h.vrrp.get("v")
	h.eventually("the VIPs removed", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.released > 0 && !f.held
	})
	if p := f.sentPriorities(); slices.Contains(p, 0) {
		t.Errorf("adverts %v: the stopped instance advertised", p)
	}
}

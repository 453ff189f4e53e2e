package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/internal/metricstest"
	"github.com/rmqlb/rmqlb/netsetup"
	"github.com/rmqlb/rmqlb/vrrp"
)

// TestFlappingBackend: a backend whose checks take it DOWN a third time
// within ten minutes makes the status degraded although it is UP again,
// each DOWN closes its sessions and is counted, the table shows them, and
// ten minutes after the first of them the status is healthy again.
func TestFlappingBackend(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startChecked(t, h)
	downs := flap(t, h, l)
	flapReason := func() string { return flapsReason(h.d.Status()) }
	s := h.d.Status()
	const want = "backend amqp/a flaps: its checks took it DOWN 3 times in the last 10m0s, the last 1s ago (last failure: waiting for Connection.Start: timeout)"
	if r := flapsReason(s); !s.Verdict.Degraded || !strings.HasPrefix(r, want) {
		t.Errorf("verdict %+v, want the reason %q", s.Verdict, want)
	}
	mfs := metricstest.Gather(t, h.reg)
	if v := metricstest.Value(t, mfs, "rmqlb_healthcheck_up_down_total", map[string]string{"listener": "amqp", "backend": "a"}); v != 3 {
		t.Errorf("rmqlb_healthcheck_up_down_total of a: %v, want 3", v)
	}
	if v := metricstest.Value(t, mfs, "rmqlb_healthcheck_up_down_total", map[string]string{"listener": "amqp", "backend": "b"}); v != 0 {
		t.Errorf("rmqlb_healthcheck_up_down_total of b: %v, want 0", v)
	}
	var out bytes.Buffer
	if err := control.Format(&out, s, control.FormatOptions{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "3 (3 in 10m)") {
		t.Errorf("the status's check table does not show a's DOWNs:\n%s", out.String())
	}
	out.Reset()
	if err := control.Format(&out, s, control.FormatOptions{Verbose: true}); err != nil {
		t.Fatal(err)
	}
	hist := 0
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(l, "amqp/a ") && strings.Contains(l, "DOWN") && strings.HasSuffix(l, "1 failure: waiting for Connection.Start: timeout") {
			hist++
		}
	}
	if hist != 3 {
		t.Errorf("the verbose status lists %d changes of a to DOWN with their reason, want 3:\n%s", hist, out.String())
	}

	// Ten minutes after the first DOWN only two are left within them.
	h.checks.get(idA).always(healthcheck.Result{})
	h.checks.get(idB).always(healthcheck.Result{})
	h.clk.Set(downs[0].Add(10*time.Minute - time.Millisecond))
	if flapReason() == "" {
		t.Error("not flapping any more just before ten minutes had passed since its first DOWN")
	}
	h.clk.Set(downs[0].Add(10 * time.Minute))
	if s := h.d.Status(); s.Verdict.Degraded {
		t.Errorf("ten minutes after the first of three DOWNs: %+v", s.Verdict)
	}
}

// flap takes backend a of the lab's daemon DOWN and UP again three times,
// checking that only the third DOWN makes it flap, and returns when each
// DOWN was.
func flap(t *testing.T, h *harness, l *lab) []time.Time {
	t.Helper()
	var downs []time.Time
	for i := range 3 {
		h.eventually("a UP", func() bool { return h.backendState(idA) == backend.Up })
		c := openSession(t, l) // round robin: the first to a, the others alternate
		h.nextChecks()
		h.checks.get(idA).answer(t, healthcheck.Result{Err: errors.New("waiting for Connection.Start: timeout")})
		h.checks.get(idB).answer(t, healthcheck.Result{})
		h.eventually("a DOWN", func() bool { return h.backendState(idA) == backend.Down })
		downs = append(downs, h.clk.Now())
		if i == 0 && !closedByPeer(c) {
			t.Error("a's session was not closed at its DOWN")
		}
		c.Close()
		h.nextChecks()
		h.checks.get(idA).answer(t, healthcheck.Result{})
		h.checks.get(idB).answer(t, healthcheck.Result{})
		h.eventually("a UP", func() bool { return h.backendState(idA) == backend.Up })
		if r := flapsReason(h.d.Status()); (r != "") != (i == 2) {
			t.Fatalf("after %d DOWNs of a, UP again: flapping reason %q", i+1, r)
		}
	}
	return downs
}

// flapsReason returns the reason of s's verdict that says backend a flaps,
// or "".
func flapsReason(s control.Status) string {
	for _, r := range s.Verdict.Reasons {
		if strings.HasPrefix(r, "backend amqp/a flaps") {
			return r
		}
	}
	return ""
}

// TestUpgradeKeepsFlapping: the new process of an upgrade in place knows
// the DOWNs its predecessor's checks took, and when: a backend that flaps
// still does.
func TestUpgradeKeepsFlapping(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startChecked(t, h)
	downs := flap(t, h, l)
	h.checks.get(idA).always(healthcheck.Result{})
	h.checks.get(idB).always(healthcheck.Result{})
	s := upgradedInProc(t, h).daemon().Status()
	const want = "backend amqp/a flaps: its checks took it DOWN 3 times in the last 10m0s"
	if r := flapsReason(s); !strings.HasPrefix(r, want) {
		t.Errorf("the new daemon's verdict %+v, want the reason %q", s.Verdict, want)
	}
	for _, c := range s.Checks {
		if c.Backend != idA {
			continue
		}
		if c.Downs != 3 || len(c.RecentDowns) != 3 {
			t.Fatalf("the new daemon's a: %d DOWNs at %v, want 3", c.Downs, c.RecentDowns)
		}
		// The ages are kept, to the time the hand-over took.
		for i, at := range c.RecentDowns {
			if d := s.Now.Sub(at) - h.clk.Now().Sub(downs[i]); d < 0 || d > 10*time.Second {
				t.Errorf("DOWN %d: %v ago in the new daemon, %v ago in the old one", i, s.Now.Sub(at), h.clk.Now().Sub(downs[i]))
			}
		}
	}
}

// TestCarryOnTransitions: the recent state changes of an instance, handed
// over with their ages (an upgrade in place, a restart of the VRRP
// instances in place), are the new instance's at the same ages, with their
// states and reasons: an instance that flaps still does, also one that
// starts afresh (INIT).
func TestCarryOnTransitions(t *testing.T) {
	oldNow := time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC)
	newNow := oldNow.Add(3 * time.Millisecond)
	var changes []vrrp.Transition
	for i, ago := range []time.Duration{20 * time.Minute, 11 * time.Minute, 9 * time.Minute, 7 * time.Minute, 5 * time.Minute, 3 * time.Minute, time.Minute, 2 * time.Second, time.Second} {
		c := vrrp.Transition{At: oldNow.Add(-ago), From: vrrp.StateBackup, To: vrrp.StateMaster, Reason: "master 10.77.0.1 silent for master down interval"}
		if i%2 == 1 {
			c.From, c.To, c.Reason = vrrp.StateMaster, vrrp.StateBackup, "higher priority master"
		}
		changes = append(changes, c)
	}
	cfg := vrrp.Config{Name: "v", Interface: "eth0", VRID: 1, Version: 3, Priority: 100,
		AdvertInterval: time.Second, VIPs: []netip.Prefix{netip.MustParsePrefix("192.0.2.100/32")}}
	in := &config.VRRPInstance{Name: "v", Interface: "eth0", VRID: 1, Version: 3}
	for _, st := range []vrrp.State{vrrp.StateMaster, vrrp.StateBackup, vrrp.StateInit} {
		hv := handedState(in, vrrp.Snapshot{State: st, RecentTransitions: changes}, netsetup.VIPSetSnapshot{}, oldNow)
		inst, err := vrrp.NewInstance(cfg, vrrp.Options{Owner: &fakeOwner{f: &fakeVRRP{}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := hv.carryOn(&vrrpUnit{inst: inst, vips: &fakeOwner{f: &fakeVRRP{}}}, newNow); err != nil {
			t.Fatal(err)
		}
		var want []vrrp.Transition
		for _, c := range changes[len(changes)-vrrp.RecentTransitionsKept:] {
			c.At = c.At.Add(newNow.Sub(oldNow))
			want = append(want, c)
		}
		if got := inst.Snapshot().RecentTransitions; !slices.Equal(got, want) {
			t.Errorf("carried on as %v: recent transitions %v, want %v", st, got, want)
		}
	}
}

// TestHandedStateOfBackup: a BACKUP hands over, as the successor process
// reads it, how long it has been BACKUP and why, and the master it heard
// with its age (the processes' clocks are not compared).
func TestHandedStateOfBackup(t *testing.T) {
	now := time.Date(2026, 12, 8, 1, 0, 0, 0, time.UTC)
	master := &vrrp.MasterInfo{Addr: netip.MustParseAddr("10.77.0.1"), Priority: 200, AdvertInterval: 3 * time.Second,
		Heard: now.Add(-1200 * time.Millisecond)}
	in := &config.VRRPInstance{Name: "v", Interface: "eth0", VRID: 1, Version: 3}
	hv := handedState(in, vrrp.Snapshot{State: vrrp.StateBackup, Since: now.Add(-2 * time.Hour),
		Reason: "higher priority master 10.77.0.1 (priority 200, ours 100)", Master: master}, netsetup.VIPSetSnapshot{}, now)
	b, err := json.Marshal(hv)
	if err != nil {
		t.Fatal(err)
	}
	var got handedVRRP
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := handedMaster{Addr: master.Addr, Priority: 200, AdvertInterval: 3 * time.Second, Ago: 1200 * time.Millisecond}
	if got.StateFor != 2*time.Hour || got.StateReason != "higher priority master 10.77.0.1 (priority 200, ours 100)" ||
		got.Master == nil || *got.Master != want {
		t.Errorf("handed over %s: state for %v (%s), master %+v", b, got.StateFor, got.StateReason, got.Master)
	}
}

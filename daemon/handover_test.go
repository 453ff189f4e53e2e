package daemon

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/internal/metricstest"
	"github.com/rmqlb/rmqlb/vrrp"
)

// startMaster starts the daemon with every check passing and lets the
// fake clock run until its instance is MASTER.
func startMaster(t *testing.T, h *harness) {
	t.Helper()
	startChecked(t, h)
	h.checks.get(idA).always(healthcheck.Result{})
	h.checks.get(idB).always(healthcheck.Result{})
	untilMaster(h)
}

// untilMaster lets the fake clock run until the instance is MASTER.
func untilMaster(h *harness) {
	h.t.Helper()
	h.eventually("MASTER", func() bool {
		h.clk.Advance(20 * time.Millisecond)
		return h.vrrpSnapshot().State == vrrp.StateMaster
	})
}

// vrrpCommand runs a vrrp control command as the socket would.
func (h *harness) vrrpCommand(args ...string) (vrrp.Snapshot, error) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := h.d.Handle(ctx, control.Request{Command: "vrrp", Args: args})
	if err != nil {
		return vrrp.Snapshot{}, err
	}
	return res.(control.VRRPAnswer).Snapshot, nil
}

// TestVRRPReleaseReady: `vrrp release` makes the master advertise
// priority 0 at once and status show the release; `vrrp ready` makes it
// advertise its priority again.
func TestVRRPReleaseReady(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startMaster(t, h)
	f := h.vrrp.get("v")

	s, err := h.vrrpCommand("release", "v")
	if err != nil {
		t.Fatal(err)
	}
	if !s.Released || s.State != vrrp.StateMaster || s.EffectivePriority != 0 || !s.ReleasedUntil.IsZero() ||
		!strings.Contains(s.ReleaseReason, "rmqlb vrrp release") {
		t.Fatalf("answer to release: %+v", s)
	}
	if p := f.sentPriorities(); p[len(p)-1] != 0 {
		t.Fatalf("adverts %v: the release was not advertised at once", p)
	}
	if st := h.d.Status().VRRP[0]; !st.Released || st.ReleasedSince.IsZero() {
		t.Fatalf("status after release: %+v", st.Snapshot)
	}
	priority := func() float64 {
		return metricstest.Value(t, metricstest.Gather(t, h.reg), "rmqlb_vrrp_effective_priority", map[string]string{"vrrp_instance": "v"})
	}
	if p := priority(); p != 0 {
		t.Errorf("rmqlb_vrrp_effective_priority while released: %v, want 0 (what the alert on a long release reads)", p)
	}
	// Nobody takes over here: it keeps the VIP, advertising 0.
	before := len(f.sentPriorities())
	h.eventually("adverts of priority 0", func() bool {
		h.clk.Advance(20 * time.Millisecond)
		return len(f.sentPriorities()) > before+2
	})
	if p := f.sentPriorities()[before:]; slices.ContainsFunc(p, func(p uint8) bool { return p != 0 }) {
		t.Fatalf("adverts while released: %v", p)
	}
	f.mu.Lock()
	released := f.released
	f.mu.Unlock()
	if h.vrrpSnapshot().State != vrrp.StateMaster || released != 0 {
		t.Fatalf("a released master with nobody to take over gave the VIP up: %+v", h.vrrpSnapshot())
	}

	s, err = h.vrrpCommand("ready", "v")
	if err != nil {
		t.Fatal(err)
	}
	if s.Released || s.EffectivePriority != 150 {
		t.Fatalf("answer to ready: %+v", s)
	}
	if p := f.sentPriorities(); p[len(p)-1] != 150 {
		t.Fatalf("adverts %v: ready was not advertised at once", p)
	}
	if p := priority(); p != 150 {
		t.Errorf("rmqlb_vrrp_effective_priority after ready: %v, want 150", p)
	}
}

// TestVRRPReleaseFor: a release with a duration ends by itself on the
// daemon's clock.
func TestVRRPReleaseFor(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startMaster(t, h)
	now := h.clk.Now()
	s, err := h.vrrpCommand("release", "v", "2s")
	if err != nil {
		t.Fatal(err)
	}
	if !s.ReleasedUntil.Equal(now.Add(2*time.Second)) || !strings.Contains(s.ReleaseReason, "for 2s") {
		t.Fatalf("answer to release for 2s: until %v (now %v), reason %q", s.ReleasedUntil, now, s.ReleaseReason)
	}
	h.eventually("release over", func() bool {
		h.clk.Advance(50 * time.Millisecond)
		return !h.vrrpSnapshot().Released
	})
	if d := h.clk.Now().Sub(now); d < 2*time.Second {
		t.Fatalf("release ended after %v, want 2s", d)
	}
}

// vrrpAllCommand runs a vrrp control command for every instance as the
// socket would.
func (h *harness) vrrpAllCommand(args ...string) ([]vrrp.Snapshot, error) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := h.d.Handle(ctx, control.Request{Command: "vrrp", Args: args})
	if err != nil {
		return nil, err
	}
	return res.(control.VRRPAllAnswer).Instances, nil
}

// startTwoMasters starts the daemon of a file with two VRRP instances with
// every check passing and lets the fake clock run until both are MASTER.
func startTwoMasters(t *testing.T, h *harness) {
	t.Helper()
	startChecked(t, h)
	h.checks.get(idA).always(healthcheck.Result{})
	h.checks.get(idB).always(healthcheck.Result{})
	h.eventually("two MASTERs", func() bool {
		h.clk.Advance(20 * time.Millisecond)
		s := h.d.Status()
		return len(s.VRRP) == 2 && s.VRRP[0].State == vrrp.StateMaster && s.VRRP[1].State == vrrp.StateMaster
	})
}

// TestVRRPReleaseAll: `vrrp release-all` releases every instance, for a
// period or until ready, and writes the state file; `vrrp ready-all` ends
// every release.
func TestVRRPReleaseAll(t *testing.T) {
	l := newLab(t)
	state := filepath.Join(t.TempDir(), "state.json")
	extra := "  - name: w\n    interface: eth1\n    virtual_router_id: 2\n    version: 3\n    advert_interval: 100ms\n    priority: 100\n    virtual_ipaddress: [192.0.2.200/32]\nlisteners:\n"
	h := newHarness(t, l.file("control_socket: SOCKET", "control_socket: SOCKET\nstate_file: "+state, "listeners:\n", extra))
	startTwoMasters(t, h)
	now := h.clk.Now()
	ss, err := h.vrrpAllCommand("release-all", "30m")
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 2 || ss[0].Name != "v" || ss[1].Name != "w" {
		t.Fatalf("answer to release-all: %+v, want v and w", ss)
	}
	for _, s := range ss {
		if !s.Released || !s.ReleasedUntil.Equal(now.Add(30*time.Minute)) || s.EffectivePriority != 0 {
			t.Errorf("%s after release-all: released %v until %v, priority %d", s.Name, s.Released, s.ReleasedUntil, s.EffectivePriority)
		}
	}
	if s := mustReadOpState(t, state); len(s.VRRP) != 2 {
		t.Errorf("the state file after release-all: %+v, want both releases", s.VRRP)
	}
	ss, err = h.vrrpAllCommand("ready-all")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ss {
		if s.Released {
			t.Errorf("%s after ready-all: released", s.Name)
		}
	}
	if s := mustReadOpState(t, state); len(s.VRRP) != 0 {
		t.Errorf("the state file after ready-all: %+v", s.VRRP)
	}
}

// TestRequestAllVRRP: a request of every instance asks each even when one
// fails, and its error names the failure and the instances it applied to.
func TestRequestAllVRRP(t *testing.T) {
	l := newLab(t)
	extra := "  - name: w\n    interface: eth1\n    virtual_router_id: 2\n    version: 3\n    priority: 100\n    virtual_ipaddress: [192.0.2.200/32]\n  - name: x\n    interface: eth2\n    virtual_router_id: 3\n    version: 3\n    priority: 100\n    virtual_ipaddress: [192.0.2.201/32]\nlisteners:\n"
	h := newHarness(t, l.file("listeners:\n", extra))
	var asked []string
	_, err := h.d.requestAllVRRP("releasing", func(name string) (vrrp.Snapshot, error) {
		asked = append(asked, name)
		if name == "w" {
			return vrrp.Snapshot{}, errors.New("releasing VRRP instance w: the instance stopped")
		}
		return vrrp.Snapshot{Name: name}, nil
	})
	if !slices.Equal(asked, []string{"v", "w", "x"}) {
		t.Errorf("asked %v, want every instance in file order", asked)
	}
	if err == nil || err.Error() != "releasing VRRP instance w: the instance stopped (applied to v, x)" {
		t.Errorf("error %v", err)
	}
	none := newHarness(t, "control_socket: SOCKET\ninert: true\n")
	if _, err := none.d.requestAllVRRP("releasing", nil); err == nil || !strings.Contains(err.Error(), "the configuration has none") {
		t.Errorf("without instances: %v", err)
	}
}

// TestVRRPCommandErrors: bad requests get clear errors and change nothing.
func TestVRRPCommandErrors(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startMaster(t, h)
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "usage: vrrp release NAME"},
		{[]string{"release"}, "usage"},
		{[]string{"flap", "v"}, "usage"},
		{[]string{"ready", "v", "5m"}, "usage"},
		{[]string{"release", "v", "5m", "x"}, "usage"},
		{[]string{"release", "nosuch"}, "releasing VRRP instance nosuch: no such instance"},
		{[]string{"ready", "nosuch"}, "readying VRRP instance nosuch: no such instance"},
		{[]string{"release", "v", "soon"}, `duration "soon"`},
		{[]string{"release", "v", "-5m"}, `duration "-5m"`},
		{[]string{"release", "v", "0s"}, `duration "0s"`},
		{[]string{"release-all", "soon"}, `vrrp release-all: duration "soon"`},
		{[]string{"release-all", "5m", "x"}, "usage"},
		{[]string{"ready-all", "v"}, "usage"},
	} {
		_, err := h.vrrpCommand(c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("vrrp %q: error %v, want one containing %q", c.args, err, c.want)
		}
	}
	if s := h.vrrpSnapshot(); s.Released || s.State != vrrp.StateMaster {
		t.Fatalf("after bad requests: %+v", s)
	}
}

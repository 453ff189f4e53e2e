package daemon

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/healthcheck"
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
	return res.(vrrp.Snapshot), nil
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

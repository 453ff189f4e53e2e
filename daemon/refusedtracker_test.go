package daemon

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/healthcheck"
)

// TestSetTracksRefusedKeepsTracker: new track rules that cannot be set up
// (one names a listener the model has not) are refused, and the instance
// keeps the tracker it had: its priority still follows its old rule (a
// down lowers it by 60), and status still lists that rule.
func TestSetTracksRefusedKeepsTracker(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startChecked(t, h)

	h.d.mu.Lock()
	u := h.d.units["v"]
	in := *u.cfg
	in.Track = []config.Track{{Backend: idB, Weight: -10}, {Listener: "gone", Weight: -20}}
	before := u.tracker
	err := h.d.setTracks(u, &in, h.d.cfg)
	after := u.tracker
	h.d.mu.Unlock()
	if err == nil || !strings.Contains(err.Error(), `"gone"`) {
		t.Fatalf("setTracks with a rule of a listener that does not exist: %v", err)
	}
	if after == nil || after != before {
		t.Fatalf("the instance's tracker after the refusal: %p, before %p", after, before)
	}
	var rules []string
	for _, tr := range h.d.Status().VRRP[0].Tracks {
		rules = append(rules, tr.Rule)
	}
	if !slices.Equal(rules, []string{idA.String()}) {
		t.Fatalf("status lists the rules %q, want the old one of %s", rules, idA)
	}
	h.nextChecks()
	h.checks.get(idA).answer(t, healthcheck.Result{Err: errors.New("connecting: connection refused")})
	h.checks.get(idB).answer(t, healthcheck.Result{})
	h.eventually("v's priority lowered by a's rule", func() bool {
		s := h.d.Status()
		return len(s.VRRP) == 1 && s.VRRP[0].Snapshot.EffectivePriority == 90
	})
}

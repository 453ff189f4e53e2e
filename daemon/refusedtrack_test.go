package daemon

import (
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/healthcheck"
)

// TestReloadTracksOfRefusedListener: a reload adds listener mgmt and track
// rules of v naming it and its backend, and mgmt cannot be bound. The
// rules name what does not run: the reload says so, and they count as
// failing (nothing of mgmt serves), lowering v's priority, until the same
// file, once the address is free, starts mgmt and its check.
func TestReloadTracksOfRefusedListener(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startChecked(t, h)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	file := l.file("track: [{check: amqp/a, weight: -60}]", "track: [{check: amqp/a, weight: -60}, {listener: mgmt, weight: -20}, {check: mgmt/x, weight: -30}]") +
		"  - name: mgmt\n    bind: " + taken.Addr().String() + "\n    backends: [{name: x, address: " + l.c.addr() + ", check: {type: tcp, interval: 1s, timeout: 500ms, rise: 1, fall: 1}}]\n"
	for i := range 2 {
		r := h.reload(file)
		refused := strings.Join(r.Refused, "\n")
		if !strings.Contains(refused, "listener mgmt: ") ||
			!strings.Contains(refused, "tracks of vrrp instance v: listener mgmt does not run; backend mgmt/x does not run (listener mgmt does not): counted as failing") {
			t.Fatalf("reload %d: %+v, want mgmt refused and v's rules naming it reported", i+1, r)
		}
		s := h.d.Status()
		if len(s.VRRP) != 1 || len(s.VRRP[0].Tracks) != 3 {
			t.Fatalf("reload %d: status %+v, want v with its 3 rules", i+1, s.VRRP)
		}
		for _, tr := range s.VRRP[0].Tracks[1:] {
			if !tr.Failing {
				t.Errorf("reload %d: rule %s of what does not run is not failing", i+1, tr.Rule)
			}
		}
		h.eventually("v's priority lowered by the failing rules of mgmt", func() bool {
			s := h.d.Status()
			return len(s.VRRP) == 1 && s.VRRP[0].Snapshot.EffectivePriority == 100
		})
	}
	taken.Close()
	r := h.reload(file)
	if !r.OK() {
		t.Fatalf("reload once mgmt's address is free: %+v", r)
	}
	h.checks.get(backend.ID{Listener: "mgmt", Name: "x"}).answer(t, healthcheck.Result{})
	h.eventually("v's rules of mgmt passing", func() bool {
		s := h.d.Status()
		return len(s.VRRP) == 1 && s.VRRP[0].Snapshot.EffectivePriority == 150
	})
}

// TestTracksChangedListener: an instance's tracker is rebuilt when a
// listener it tracks changes, by a listener rule or by a rule of one of
// its backends, whose check may have gone with the listener (a scheduler
// tells no tracker of a removed check: it would keep its last state).
func TestTracksChangedListener(t *testing.T) {
	old := mustParse(t, planBase) // v tracks amqp/a
	moved := mustParse(t, strings.Replace(planBase, "bind: 10.0.0.100:5672", "bind: 10.0.0.100:5673", 1))
	p := Diff(old, moved)
	if len(p.Listeners) != 1 || p.Listeners[0].Op != OpReplace {
		t.Fatalf("plan %s", planString(p))
	}
	if !tracksChangedListener(&old.VRRP[0], p) {
		t.Error("v tracks backend amqp/a of the moved listener amqp: its tracker is not rebuilt")
	}
	if tracksChangedListener(&old.VRRP[0], Diff(old, old)) {
		t.Error("nothing changes: the tracker is rebuilt")
	}
}

// TestTracksOfListenerRunningUnchecked: a listener whose move was refused
// runs as it was, here without a checked backend: a listener rule naming
// it is resolved against the file's version (whose backends' checks do
// not run: it fails) rather than against none, which a tracker refuses,
// and the reload reports it.
func TestTracksOfListenerRunningUnchecked(t *testing.T) {
	nc := mustParse(t, planBase)
	keep := nc.Listeners[0]
	keep.Backends = slices.Clone(keep.Backends)
	for i := range keep.Backends {
		keep.Backends[i].Check.Type = config.CheckNone
	}
	lo := noFailures().leftovers
	lo.listeners["amqp"] = &keep
	l, ok := trackModel(nc, lo).Listener("amqp")
	if !ok || len(backendIDs(l)) == 0 {
		t.Errorf("the rules resolve against amqp with the checked backends %v, want the file's", backendIDs(l))
	}
	in := &config.VRRPInstance{Name: "v", Track: []config.Track{{Listener: "amqp", Weight: -20}}}
	if got := absentTracks(in, lo); len(got) != 1 || !strings.Contains(got[0], "listener amqp runs as it was, without a checked backend") {
		t.Errorf("reported %q", got)
	}
}

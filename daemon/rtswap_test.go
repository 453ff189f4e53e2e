package daemon

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/vrrp"
)

// withRealTime returns the lab's file with vrrp_rt_priority prio.
func withRealTime(l *lab, prio string) string {
	return l.file("control_socket: SOCKET", "control_socket: SOCKET\nvrrp_rt_priority: "+prio)
}

// TestReloadRealTimePriority: a reload that changes vrrp_rt_priority
// restarts the running VRRP instances in place: a MASTER is stopped
// quietly (no priority 0, its VIPs never released) and the new instance
// carries on as MASTER at once, advertising its priority, its start its
// only transition; a master handing its VIPs over (released) is not
// restarted: the change is refused, as an upgrade is, and the same file
// applies it once the master is ready again; a BACKUP stays BACKUP
// without taking the VIPs; nothing needs a restart (reloadFile fails on
// a pending one).
func TestReloadRealTimePriority(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startMaster(t, h)
	old := h.vrrp.get("v")

	applied := h.reloadFile(withRealTime(l, "10"))
	if !slices.ContainsFunc(applied, func(s string) bool { return strings.HasPrefix(s, "vrrp_rt_priority 10 (1 VRRP instances restarted") }) {
		t.Fatalf("applied %q", applied)
	}
	cur := h.vrrp.get("v")
	if cur == old {
		t.Fatal("the instance was not restarted")
	}
	if p := old.sentPriorities(); slices.Contains(p, 0) {
		t.Errorf("the stopped instance advertised priority 0: %v", p)
	}
	old.mu.Lock()
	released := old.released
	old.mu.Unlock()
	if released != 0 {
		t.Errorf("the stopped MASTER released its VIPs %d times", released)
	}
	h.eventually("an advert of the restarted MASTER", func() bool {
		h.clk.Advance(20 * time.Millisecond)
		return slices.Contains(cur.sentPriorities(), 150)
	})
	// One transition, the new instance's start straight into MASTER
	// (a fresh start would go through BACKUP: two).
	if s := h.vrrpSnapshot(); s.State != vrrp.StateMaster || s.Counters.Transitions != 1 {
		t.Fatalf("after the restart: state %v, %d transitions; want MASTER carried on (1, its start)", s.State, s.Counters.Transitions)
	}
	if p := cur.sentPriorities(); slices.Contains(p, 0) {
		t.Errorf("the restarted instance advertised priority 0: %v", p)
	}

	// Released while MASTER (handing its VIPs over, nobody has taken
	// them yet): refused, as an upgrade is, and the running model keeps
	// the old priority, so the same file again applies it once ready.
	if _, err := h.vrrpCommand("release", "v"); err != nil {
		t.Fatal(err)
	}
	h.write(l.file())
	r := h.d.Reload()
	if r.OK() || len(r.Refused) != 1 || !strings.Contains(r.Refused[0], "vrrp_rt_priority") || !strings.Contains(r.Refused[0], "released but still MASTER: no backup has taken its VIPs over yet; reload once one has, or end the release first (rmqlb vrrp ready v)") {
		t.Fatalf("reload while handing over: %+v", r)
	}
	if h.vrrp.get("v") != cur {
		t.Fatal("the instance handing over was restarted")
	}
	if s, err := h.vrrpCommand("ready", "v"); err != nil || s.Released || s.EffectivePriority != 150 {
		t.Fatalf("ready: %+v, %v", s, err)
	}
	if applied := h.reloadFile(l.file()); !slices.ContainsFunc(applied, func(s string) bool { return strings.HasPrefix(s, "vrrp_rt_priority 0 ") }) {
		t.Fatalf("the same file again once ready: applied %q", applied)
	}
	cur = h.vrrp.get("v")
	h.eventually("the restarted MASTER advertising", func() bool {
		h.clk.Advance(20 * time.Millisecond)
		return slices.Contains(cur.sentPriorities(), 150)
	})

	// BACKUP to a higher-priority master: stays BACKUP, takes nothing.
	h.peerAdvert(cur, 200)
	h.eventually("BACKUP", func() bool { return h.vrrpSnapshot().State == vrrp.StateBackup })
	// It keeps the VIPs until the new master announces them, at most one
	// Master_Down_Interval: a restart waits for that too.
	h.eventually("the VIPs handed over", func() bool {
		h.peerAdvert(cur, 200)
		hv := h.vrrpSnapshot().Handover
		return hv != nil && !hv.Done.IsZero()
	})
	h.reloadFile(withRealTime(l, "20"))
	cur = h.vrrp.get("v")
	// Its start counted: the machine's state shows a step before the
	// instance has counted the step's transition.
	h.eventually("the restarted instance running", func() bool {
		s := h.vrrpSnapshot()
		return s.State != vrrp.StateInit && s.Counters.Transitions > 0
	})
	h.clk.Advance(50 * time.Millisecond) // less than Master_Down_Interval
	s := h.vrrpSnapshot()
	cur.mu.Lock()
	acquired := cur.acquired
	cur.mu.Unlock()
	if s.State != vrrp.StateBackup || s.Counters.Transitions != 1 || acquired != 0 {
		t.Fatalf("backup after the restart: state %v, %d transitions, VIPs acquired %d times; want BACKUP carried on (1 transition, its start), none", s.State, s.Counters.Transitions, acquired)
	}
}

// TestReloadAddInstanceWithRealTime: a reload that adds an instance and
// changes vrrp_rt_priority (or vrrp_sender) restarts the added instance
// too, after the advert sender process is replaced: made before that, it
// took its sender from the process the reload replaces.
func TestReloadAddInstanceWithRealTime(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startMaster(t, h)
	extra := "  - name: w\n    interface: eth0\n    virtual_router_id: 2\n    version: 3\n    advert_interval: 100ms\n    priority: 100\n    virtual_ipaddress: [192.0.2.200/32]\nlisteners:\n"
	applied := h.reloadFile(strings.Replace(withRealTime(l, "10"), "listeners:\n", extra, 1))
	if !slices.ContainsFunc(applied, func(s string) bool { return strings.HasPrefix(s, "vrrp_rt_priority 10 (2 VRRP instances restarted") }) ||
		!slices.Contains(applied, "vrrp instance w added") {
		t.Fatalf("applied %q, want w added and both instances restarted", applied)
	}
	if s := h.d.Status(); len(s.VRRP) != 2 {
		t.Fatalf("%d instances after the reload, want 2", len(s.VRRP))
	}
}

// TestReloadRestartFailureForgotten: an instance that a restart in place
// (here vrrp_rt_priority) cannot start again leaves the running model, so
// that the next reload of the same file, the cause gone, adds it again
// (before, it found nothing to do and no VRRP ran while status said
// healthy), and a reload that changes its settings adds it too (before,
// it updated a unit that did not exist and the daemon died).
func TestReloadRestartFailureForgotten(t *testing.T) {
	for _, c := range []struct {
		name   string
		second func(l *lab) string
	}{
		{"same file", func(l *lab) string { return withRealTime(l, "10") }},
		{"changed priority", func(l *lab) string {
			return strings.Replace(withRealTime(l, "10"), "priority: 150", "priority: 140", 1)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLab(t)
			h := newHarness(t, l.file())
			startMaster(t, h)
			orig := h.d.opt.NewVRRP
			h.d.opt.NewVRRP = func(*config.VRRPInstance, *zap.Logger, prometheus.Registerer) (vrrp.Transport, VIPOwner, error) {
				return nil, nil, errors.New("no such interface")
			}
			r := h.reload(withRealTime(l, "10"))
			if !slices.ContainsFunc(r.Refused, func(s string) bool { return strings.HasPrefix(s, "vrrp instance v: restarting it in place") }) {
				t.Fatalf("first reload refused %q, want v's restart", r.Refused)
			}
			if s := h.d.Status(); len(s.VRRP) != 0 || len(h.d.cfg.VRRP) != 0 {
				t.Fatalf("after the failed restart: %d instances in status, %d in the running model; want none", len(s.VRRP), len(h.d.cfg.VRRP))
			}
			h.d.opt.NewVRRP = orig
			r = h.reload(c.second(l))
			if !slices.Contains(r.Applied, "vrrp instance v added") || len(r.Refused) != 0 {
				t.Fatalf("second reload applied %q, refused %q; want v added", r.Applied, r.Refused)
			}
			if s := h.d.Status(); len(s.VRRP) != 1 {
				t.Fatalf("%d instances after the second reload, want 1", len(s.VRRP))
			}
		})
	}
}

// TestRestartedBackupKeepsItsMaster: a BACKUP restarted in place (as at
// an upgrade) goes on from the master it heard, whose adverts come less
// often than its own: its Master_Down_Timer runs on that master's
// interval, not its own (with which it would take over before the
// master's next advert), and its status goes on naming the master and
// the state's since and reason.
func TestRestartedBackupKeepsItsMaster(t *testing.T) {
	l := newLab(t)
	const adopted = "advert_interval: 100ms\n    max_adopted_advert_interval: 2s"
	h := newHarness(t, l.file("advert_interval: 100ms", adopted))
	startMaster(t, h)
	f := h.vrrp.get("v")
	injected := uint64(0)
	h.eventually("BACKUP, the VIPs handed over", func() bool {
		f.inject(h.t, 200, time.Second)
		injected++
		h.clk.Advance(100 * time.Millisecond)
		s := h.vrrpSnapshot()
		return s.State == vrrp.StateBackup && s.Handover != nil && !s.Handover.Done.IsZero()
	})
	// Every advert injected processed, the last one now: the master as
	// heard stays as it is until the restart.
	h.eventually("the adverts read", func() bool { return h.vrrpSnapshot().Counters.AdvertsReceived == injected })
	f.inject(h.t, 200, time.Second)
	h.eventually("the last advert read", func() bool { return h.vrrpSnapshot().Counters.AdvertsReceived == injected+1 })
	h.clk.Advance(300 * time.Millisecond)
	before := h.vrrpSnapshot()

	h.reloadFile(strings.Replace(withRealTime(l, "20"), "advert_interval: 100ms", adopted, 1))
	if h.vrrp.get("v") == f {
		t.Fatal("the instance was not restarted")
	}
	// Priority 150 and the master's 1s: 3s and a skew of 106/256 s.
	h.clk.WaitArmed(t, h.clk.Now().Add(3*time.Second+414062500*time.Nanosecond))
	s := h.vrrpSnapshot()
	if s.State != vrrp.StateBackup || s.Counters.Transitions != 1 {
		t.Fatalf("after the restart: %v, %d transitions; want BACKUP carried on", s.State, s.Counters.Transitions)
	}
	if s.Master == nil || *s.Master != *before.Master {
		t.Errorf("master heard %+v, before the restart %+v", s.Master, before.Master)
	}
	if !s.Since.Equal(before.Since) || s.Reason != before.Reason {
		t.Errorf("BACKUP since %v (%s), before the restart since %v (%s)", s.Since, s.Reason, before.Since, before.Reason)
	}
}

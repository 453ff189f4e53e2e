package vrrpsoak

import (
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/config"
)

// TestRmqlbConfigIsValid keeps the soak's configuration in step with
// package config.
func TestRmqlbConfigIsValid(t *testing.T) {
	cfg := Config{Interval: 10 * time.Millisecond, RmqlbInstance: "preempt_delay: 0s\n"}
	c, err := config.Parse([]byte(rmqlbConfig(cfg, 100, "/tmp/x.sock")))
	if err != nil {
		t.Fatalf("config.Parse: %v", err)
	}
	if len(c.VRRP) != 1 || len(c.Listeners) != 2 {
		t.Fatalf("want 1 VRRP instance and 2 listeners, got %d and %d", len(c.VRRP), len(c.Listeners))
	}
	in := c.VRRP[0]
	if in.Priority != 100 || in.Version != 3 || in.AdvertInterval != 10*time.Millisecond {
		t.Errorf("instance %+v", in)
	}
	if c.Listeners[0].Bind != soakListeners.BulkBind || c.Listeners[1].Bind != soakListeners.EchoBind {
		t.Errorf("binds %s, %s", c.Listeners[0].Bind, c.Listeners[1].Bind)
	}
}

// TestImplVariants: "rmqlb-lateN" is rmqlb with late_adverts_tolerated N,
// in a config the daemon accepts; bad names and repeats are refused.
func TestImplVariants(t *testing.T) {
	for _, c := range []struct {
		impl string
		late int
		ok   bool
	}{{"rmqlb", 0, true}, {"rmqlb-late1", 1, true}, {"rmqlb-late3", 3, true}, {"rmqlb-latex", -1, true}, {"rmqlb-proc", 0, true}, {"rmqlb-inline", 0, true}, {"keepalived", 0, false}} {
		if late, ok := rmqlbLate(c.impl); late != c.late || ok != c.ok {
			t.Errorf("rmqlbLate(%q) = %d, %v; want %d, %v", c.impl, late, ok, c.late, c.ok)
		}
	}
	for _, impls := range [][]string{{"rmqlb-latex"}, {"rmqlb-late11"}, {"rmqlb", "rmqlb"}, {"haproxy"}} {
		cfg := Config{Impls: impls, RmqlbBin: "/bin/true"}
		if err := cfg.defaults(); err == nil {
			t.Errorf("impls %q accepted", impls)
		}
	}
	cfg := Config{Impls: []string{"rmqlb", "rmqlb-late1", "keepalived"}, RmqlbBin: "/bin/true"}
	if err := cfg.defaults(); err != nil {
		t.Fatal(err)
	}
	cfg.RmqlbInstance = "preempt_delay: 0s\n"
	c, err := config.Parse([]byte(rmqlbConfig(withLate(cfg, 1), 100, "/tmp/x.sock")))
	if err != nil {
		t.Fatalf("config.Parse: %v", err)
	}
	if c.VRRP[0].LateAdvertsTolerated != 1 || c.VRRP[0].PreemptDelay != 0 {
		t.Errorf("late_adverts_tolerated %d, preempt_delay %v", c.VRRP[0].LateAdvertsTolerated, c.VRRP[0].PreemptDelay)
	}
	cfg.RmqlbInstance = ""
	if c, err := config.Parse([]byte(rmqlbConfig(withLate(cfg, 2), 100, "/tmp/x.sock"))); err != nil || c.VRRP[0].LateAdvertsTolerated != 2 {
		t.Errorf("late 2 alone: %v", err)
	}
	if got := withLate(cfg, 0); got.RmqlbInstance != "" {
		t.Errorf("withLate 0 changed the instance: %q", got.RmqlbInstance)
	}
}

// TestSenderVariants: "rmqlb-proc" and "rmqlb-inline" are rmqlb with
// vrrp_sender process and inline, in configs the daemon accepts.
func TestSenderVariants(t *testing.T) {
	for impl, want := range map[string]config.VRRPSender{"rmqlb-proc": config.SenderProcess, "rmqlb-inline": config.SenderInline} {
		cfg := Config{Impls: []string{impl}, RmqlbBin: "/bin/true", RmqlbGlobal: "vrrp_rt_priority: 50"}
		if err := cfg.defaults(); err != nil {
			t.Fatal(err)
		}
		c, err := config.Parse([]byte(rmqlbConfig(withSender(cfg, rmqlbSender(impl)), 100, "/tmp/x.sock")))
		if err != nil {
			t.Fatalf("%s: config.Parse: %v", impl, err)
		}
		if c.VRRPSender != want || c.VRRPRealTimePriority != 50 {
			t.Errorf("%s: vrrp_sender %v, vrrp_rt_priority %d", impl, c.VRRPSender, c.VRRPRealTimePriority)
		}
	}
	if rmqlbSender("rmqlb") != "" || rmqlbSender("keepalived") != "" {
		t.Error("a sender for rmqlb or keepalived")
	}
}

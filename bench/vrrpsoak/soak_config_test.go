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

package daemon

import (
	"testing"

	"github.com/rmqlb/rmqlb/config"
)

func TestGoProcs(t *testing.T) {
	vrrp := []config.VRRPInstance{{Name: "v"}}
	listeners := []config.Listener{{Name: "l"}}
	for _, c := range []struct {
		name              string
		cfg               config.Config
		fromEnv           bool
		wantProcs, wantLp int
	}{
		{"real-time VRRP and listeners: a processor more", config.Config{VRRPRealTimePriority: 10, VRRP: vrrp, Listeners: listeners}, false, 3, 2},
		{"GOMAXPROCS from the environment", config.Config{VRRPRealTimePriority: 10, VRRP: vrrp, Listeners: listeners}, true, 2, 0},
		{"no real-time priority", config.Config{VRRP: vrrp, Listeners: listeners}, false, 2, 0},
		{"no listener", config.Config{VRRPRealTimePriority: 10, VRRP: vrrp}, false, 2, 0},
		{"no VRRP", config.Config{VRRPRealTimePriority: 10, Listeners: listeners}, false, 2, 0},
	} {
		procs, loops := GoProcs(&c.cfg, 2, c.fromEnv)
		if procs != c.wantProcs || loops != c.wantLp {
			t.Errorf("%s: GoProcs = %d, %d; want %d, %d", c.name, procs, loops, c.wantProcs, c.wantLp)
		}
	}
}

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
		{"GOMAXPROCS 2 from the environment: one loop", config.Config{VRRPRealTimePriority: 10, VRRP: vrrp, Listeners: listeners}, true, 2, 1},
		{"no real-time priority: a processor more all the same", config.Config{VRRP: vrrp, Listeners: listeners}, false, 3, 2},
		{"no VRRP: a processor more", config.Config{VRRPRealTimePriority: 10, Listeners: listeners}, false, 3, 2},
		{"listeners alone, GOMAXPROCS 2 from the environment: one loop", config.Config{Listeners: listeners}, true, 2, 1},
		{"no listener: nothing changes", config.Config{VRRPRealTimePriority: 10, VRRP: vrrp}, false, 2, 0},
		{"no listener, from the environment", config.Config{VRRP: vrrp}, true, 2, 0},
	} {
		procs, loops := GoProcs(&c.cfg, 2, c.fromEnv, 2)
		if procs != c.wantProcs || loops != c.wantLp {
			t.Errorf("%s: GoProcs = %d, %d; want %d, %d", c.name, procs, loops, c.wantProcs, c.wantLp)
		}
	}
	rt := config.Config{VRRP: vrrp, Listeners: listeners}
	for _, c := range []struct{ env, ncpu, wantProcs, wantLoops int }{
		{5, 2, 5, 2}, // more room beside the loops, one loop per CPU
		{5, 8, 5, 4},
		{1, 2, 2, 1},
	} {
		if procs, loops := GoProcs(&rt, c.env, true, c.ncpu); procs != c.wantProcs || loops != c.wantLoops {
			t.Errorf("GOMAXPROCS=%d, %d CPUs: GoProcs = %d, %d; want %d, %d", c.env, c.ncpu, procs, loops, c.wantProcs, c.wantLoops)
		}
	}
}

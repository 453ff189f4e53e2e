package main

import (
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/bench/benchstat"
)

// TestCostFigures divides a window's readings by the messages moved: each
// process's CPU time in µs per message, the brokers summed, the machine's
// busy share of its CPUs (not per message), the proxy's context switches.
func TestCostFigures(t *testing.T) {
	c := &windowCost{
		Procs: map[string]benchstat.ThreadCost{
			"proxy":   {CPU: 200 * time.Millisecond, Wait: 20 * time.Millisecond, Voluntary: 4000, Involuntary: 1000},
			"rabbit1": {CPU: 1500 * time.Millisecond, Wait: 100 * time.Millisecond},
			"rabbit2": {CPU: 500 * time.Millisecond, Wait: 60 * time.Millisecond},
			"client":  {CPU: 400 * time.Millisecond, Wait: 40 * time.Millisecond},
		},
		Machine: &benchstat.MachineCPU{Busy: 3 * time.Second, Total: 4 * time.Second},
		Elapsed: 2 * time.Second,
	}
	got := costFigures(c, true, []string{"rabbit1", "rabbit2"}, 20000)
	want := map[string]float64{
		costProxyCPU: 10, costBrokersCPU: 100, costClientCPU: 20, costMachineCPU: 150, costBusy: 75,
		costProxyVol: 0.2, costProxyInvol: 0.05, costProxyWait: 1, costBrokersWait: 8, costClientWait: 2,
	}
	if !maps.Equal(got, want) {
		t.Errorf("costFigures =\n %v\nwant\n %v", got, want)
	}

	// Direct: a process named proxy is not the path's.
	got = costFigures(c, false, []string{"rabbit1", "rabbit2"}, 20000)
	for _, m := range []string{costProxyCPU, costProxyVol, costProxyInvol, costProxyWait} {
		if _, ok := got[m]; ok {
			t.Errorf("direct path has %s", m)
		}
	}
	if got[costBrokersCPU] != 100 || got[costClientCPU] != 20 {
		t.Errorf("direct path: %v", got)
	}

	// Missing readings leave their figures out, never a short sum: a
	// broker not read, no proxy reading, no machine reading.
	partial := &windowCost{Procs: map[string]benchstat.ThreadCost{
		"rabbit1": {CPU: time.Second}, "client": {CPU: time.Second},
	}}
	got = costFigures(partial, true, []string{"rabbit1", "rabbit2", "rabbit3"}, 1000)
	if keys := slices.Sorted(maps.Keys(got)); !slices.Equal(keys, []string{costClientCPU, costClientWait}) || got[costClientCPU] != 1000 {
		t.Errorf("partial readings: %v, want only the client's 1000 µs and 0 µs waiting", got)
	}
	// A machine reading with no time in it (the two readings in the same
	// tick) says nothing.
	partial.Machine = &benchstat.MachineCPU{}
	if _, ok := costFigures(partial, false, nil, 1000)[costMachineCPU]; ok {
		t.Error("a machine reading of no time gave a figure")
	}
	// No brokers named: no brokers' figures (not a sum of nothing).
	if got := costFigures(c, true, nil, 1000); got[costBrokersCPU]+got[costBrokersWait] != 0 {
		t.Error("no brokers gave a brokers' figure")
	}
	// Nothing moved, or no readings: no figures.
	if got := costFigures(c, true, []string{"rabbit1"}, 0); len(got) != 0 {
		t.Errorf("nothing moved: %v", got)
	}
	if got := costFigures(nil, true, []string{"rabbit1"}, 100); len(got) != 0 {
		t.Errorf("no readings: %v", got)
	}
}

// TestCostMeter reads this process (burning CPU between the readings) and
// one that does not exist: two readings are kept, later marks ignored;
// the missing process is named in the errors and missing from the cost.
func TestCostMeter(t *testing.T) {
	m := &costMeter{pids: map[string]int{"client": os.Getpid(), "rabbit1": -1}}
	if m.cost() != nil {
		t.Fatal("a cost without readings")
	}
	m.mark()
	if m.cost() != nil {
		t.Fatal("a cost with one reading")
	}
	start := time.Now()
	for time.Since(start) < 20*time.Millisecond {
	}
	m.mark()
	m.mark()
	if len(m.readings) != 2 {
		t.Fatalf("%d readings kept, want 2", len(m.readings))
	}
	c := m.cost()
	if c == nil || c.Elapsed < 20*time.Millisecond || c.ReadTook <= 0 {
		t.Fatalf("cost %+v", c)
	}
	if _, ok := c.Procs["rabbit1"]; ok || len(c.Errors) != 2 || !strings.HasPrefix(c.Errors[0], "rabbit1: ") {
		t.Errorf("missing process: procs %v, errors %q", c.Procs, c.Errors)
	}
	// No process has more CPU time than its CPUs had between the readings.
	if cl, ok := c.Procs["client"]; !ok || cl.CPU <= 0 || cl.CPU > time.Duration(runtime.NumCPU())*(c.Elapsed+c.ReadTook) {
		t.Errorf("own CPU %+v over %v", cl, c.Elapsed)
	}
	if c.Machine == nil || c.Machine.Total < c.Machine.Busy {
		t.Errorf("machine %+v", c.Machine)
	}
}

package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/rmqlb/rmqlb/bench/benchstat"
)

// costMeter reads, at the start and at the end of a load's measured time
// (its Mark), the CPU time and context switches of the processes it is
// given and the machine's CPU time. The load's goroutine owns it; it keeps
// the first two readings.
type costMeter struct {
	pids     map[string]int
	readings []costReading
}

// costReading is one reading of a costMeter; a process or the machine
// that could not be read is missing from it.
type costReading struct {
	at      time.Time
	took    time.Duration
	procs   map[string]benchstat.ThreadCost
	machine *benchstat.MachineCPU
	errs    []string
}

// mark takes a reading (the first two calls; later ones do nothing).
func (m *costMeter) mark() {
	if len(m.readings) >= 2 {
		return
	}
	r := costReading{at: time.Now(), procs: map[string]benchstat.ThreadCost{}}
	if mc, err := benchstat.ReadMachineCPU(); err == nil {
		r.machine = &mc
	} else {
		r.errs = append(r.errs, err.Error())
	}
	for _, name := range slices.Sorted(maps.Keys(m.pids)) {
		c, err := benchstat.ReadThreadCost(m.pids[name])
		if err != nil {
			r.errs = append(r.errs, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		r.procs[name] = c
	}
	r.took = time.Since(r.at)
	m.readings = append(m.readings, r)
}

// cost returns what was spent between the two readings, nil without two.
func (m *costMeter) cost() *windowCost {
	if len(m.readings) < 2 {
		return nil
	}
	a, b := m.readings[0], m.readings[1]
	c := &windowCost{Procs: map[string]benchstat.ThreadCost{}, Elapsed: b.at.Sub(a.at),
		ReadTook: max(a.took, b.took), Errors: slices.Concat(a.errs, b.errs)}
	for name, before := range a.procs {
		if after, ok := b.procs[name]; ok {
			c.Procs[name] = after.Sub(before)
		}
	}
	if a.machine != nil && b.machine != nil {
		d := b.machine.Sub(*a.machine)
		c.Machine = &d
	}
	return c
}

// windowCost is what the processes a load was given and the machine spent
// in the load's measured time.
type windowCost struct {
	// Procs holds each process's difference by name ("proxy", "rabbitN",
	// "client"); one not read at both ends is missing.
	Procs map[string]benchstat.ThreadCost `json:"procs"`
	// Machine is the machine's difference; nil if either reading failed.
	Machine *benchstat.MachineCPU `json:"machine,omitempty"`
	// Elapsed is the time between the two readings, ReadTook the longer
	// reading's own time.
	Elapsed  time.Duration `json:"elapsed"`
	ReadTook time.Duration `json:"read_took"`
	// Errors says what could not be read.
	Errors []string `json:"errors,omitempty"`
}

// The cost metrics of a row (figures per message moved).
const (
	costProxyCPU   = "cost_proxy_us"   // the path's proxy's CPU µs
	costBrokersCPU = "cost_brokers_us" // the brokers' CPU µs, summed
	costClientCPU  = "cost_client_us"  // the load's client process's CPU µs
	costMachineCPU = "cost_machine_us" // every CPU's busy µs
	costBusy       = "cost_busy_pct"   // the machine's busy % over the window (not per message)
	costProxyVol   = "cost_proxy_vol"  // the proxy's voluntary context switches
	costProxyInvol = "cost_proxy_invol"
	// The time the proxy's, the brokers' and the client's threads waited
	// for a CPU, in µs.
	costProxyWait   = "cost_proxy_wait_us"
	costBrokersWait = "cost_brokers_wait_us"
	costClientWait  = "cost_client_wait_us"
)

// costFigures turns c into the row's cost figures per message moved
// (published plus consumed in the measured time): the CPU µs of the
// proxy (when there is one), of the brokers named (all of them, or no
// figure), of the client and of the machine, the µs the proxy's, the
// brokers' and the client's threads waited for a CPU, the machine's busy
// share of its CPUs, and the proxy's context switches. A figure whose readings are
// missing is left out; with nothing moved, or no cost, there are none.
func costFigures(c *windowCost, proxy bool, brokers []string, moved int) map[string]float64 {
	m := map[string]float64{}
	if c == nil || moved <= 0 {
		return m
	}
	per := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) / float64(moved) }
	if p, ok := c.Procs["proxy"]; ok && proxy {
		m[costProxyCPU] = per(p.CPU)
		m[costProxyWait] = per(p.Wait)
		m[costProxyVol] = float64(p.Voluntary) / float64(moved)
		m[costProxyInvol] = float64(p.Involuntary) / float64(moved)
	}
	var sum benchstat.ThreadCost
	all := len(brokers) > 0
	for _, name := range brokers {
		p, ok := c.Procs[name]
		all = all && ok
		sum.CPU += p.CPU
		sum.Wait += p.Wait
	}
	if all {
		m[costBrokersCPU] = per(sum.CPU)
		m[costBrokersWait] = per(sum.Wait)
	}
	if p, ok := c.Procs["client"]; ok {
		m[costClientCPU] = per(p.CPU)
		m[costClientWait] = per(p.Wait)
	}
	if c.Machine != nil && c.Machine.Total > 0 {
		m[costMachineCPU] = per(c.Machine.Busy)
		m[costBusy] = 100 * float64(c.Machine.Busy) / float64(c.Machine.Total)
	}
	return m
}

// costProcs are the processes a load through path reads at the edges of
// its measured time: the path's proxy ("proxy"; none for direct) and each
// broker of the phase ("rabbit1"...); the load adds its own ("client").
// brokers names the brokers, also one whose pid is unknown (so that its
// sum is then missing, not short).
func (b *bench) costProcs(path string) (pids map[string]int, brokers []string) {
	pids = map[string]int{}
	switch {
	case path == "rmqlb" && b.rmqlbP != nil:
		pids["proxy"] = b.rmqlbP.Pid()
	case path == "haproxy" && b.haproxy != nil:
		pids["proxy"] = b.haproxy.Pid()
	}
	for i, n := range b.nodes {
		name := fmt.Sprintf("rabbit%d", i+1)
		brokers = append(brokers, name)
		if pid, err := n.Pid(); err == nil {
			pids[name] = pid
		}
	}
	return pids, brokers
}

// recordCost records a row's cost figures under key ("queue/load/path")
// as round's and logs them.
func (b *bench) recordCost(key string, round int, c *windowCost, path string, brokers []string, moved int) {
	if c == nil {
		b.logf("    cost: no readings")
		return
	}
	figs := costFigures(c, path != "direct", brokers, moved)
	for _, name := range slices.Sorted(maps.Keys(figs)) {
		b.record(key+"/"+name, round, figs[name])
	}
	f := func(name string) string { v, ok := figs[name]; return benchstat.FormatFigure(v, ok) }
	b.logf("    cost per message of %d moved: CPU us proxy %s, brokers %s, client %s, machine %s (busy %s %%); waiting for a CPU us proxy %s, brokers %s, client %s; proxy ctx sw %s / %s; window %v, readings took %v",
		moved, f(costProxyCPU), f(costBrokersCPU), f(costClientCPU), f(costMachineCPU), f(costBusy),
		f(costProxyWait), f(costBrokersWait), f(costClientWait), f(costProxyVol), f(costProxyInvol),
		c.Elapsed.Round(time.Millisecond), c.ReadTook.Round(10*time.Microsecond))
	if len(c.Errors) > 0 {
		b.logf("    not read: %s", strings.Join(c.Errors, "; "))
	}
}

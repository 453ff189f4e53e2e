package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/rmqlb/rmqlb/bench/benchstat"
	"github.com/rmqlb/rmqlb/integration/netlab"
)

// stormCounters are the kernel's TCP counters that say where a connection
// storm waits: a listen queue that overflowed (the SYN or the handshake's
// last ACK dropped, so the client sends its SYN again after 1 s), a SYN
// queue that was full, and SYNs sent again.
var stormCounters = []string{
	"TcpExtListenOverflows",
	"TcpExtListenDrops",
	"TcpExtTCPReqQFullDrop",
	"TcpExtTCPReqQFullDoCookies",
	"TcpExtTCPSynRetrans",
	"TcpRetransSegs",
	"TcpActiveOpens",
	"TcpPassiveOpens",
}

// tcpCounters reads stormCounters of h's namespace (nstat, absolute values,
// its history left alone).
func tcpCounters(h *netlab.Host) (map[string]uint64, error) {
	out, err := h.Run("nstat", "-asz", "--json")
	if err != nil {
		return nil, err
	}
	var all map[string]map[string]uint64
	if err := json.Unmarshal(out, &all); err != nil {
		return nil, fmt.Errorf("reading nstat's output on %s: %w", h.Name, err)
	}
	c := map[string]uint64{}
	for _, name := range stormCounters {
		c[name] = all["kernel"][name]
	}
	return c, nil
}

// countersAt reads the counters of each host; a host whose counters cannot
// be read is left out (the storm's figures do not depend on them).
func (b *bench) countersAt(hosts []*netlab.Host) map[string]map[string]uint64 {
	m := map[string]map[string]uint64{}
	for _, h := range hosts {
		c, err := tcpCounters(h)
		if err != nil {
			b.logf("  reading TCP counters: %v", err)
			continue
		}
		m[h.Name] = c
	}
	return m
}

// counterDeltas records as round's and logs, per host, the counters that
// moved between before and after, under key ("storm/PATH").
func (b *bench) counterDeltas(key string, round int, hosts []*netlab.Host, before, after map[string]map[string]uint64) {
	for _, h := range hosts {
		bc, ok1 := before[h.Name]
		ac, ok2 := after[h.Name]
		if !ok1 || !ok2 {
			continue
		}
		var moved []string
		for _, name := range stormCounters {
			d := ac[name] - bc[name]
			b.record(key+"/"+h.Name+"/"+name, round, float64(d))
			if d != 0 {
				moved = append(moved, fmt.Sprintf("%s %d", strings.TrimPrefix(strings.TrimPrefix(name, "TcpExt"), "Tcp"), d))
			}
		}
		b.logf("    %-6s %s", h.Name, strings.Join(moved, ", "))
	}
}

// stormProcs are the processes whose CPU time a storm's log line shows:
// rmqlb, HAProxy and each broker.
func (b *bench) stormProcs() map[string]int {
	m := map[string]int{}
	if b.rmqlbP != nil {
		m["rmqlb"] = b.rmqlbP.Pid()
	}
	if b.haproxy != nil {
		m["haproxy"] = b.haproxy.Pid()
	}
	for i, n := range b.nodes {
		if pid, err := n.Pid(); err == nil {
			m[fmt.Sprintf("rabbit%d", i+1)] = pid
		}
	}
	return m
}

// cpuAt reads the CPU time of each of procs; one that cannot be read is
// left out.
func cpuAt(procs map[string]int) map[string]time.Duration {
	m := map[string]time.Duration{}
	for name, pid := range procs {
		if t, err := benchstat.ProcessCPU(pid); err == nil {
			m[name] = t
		}
	}
	return m
}

// cpuDeltas records as round's and logs the CPU seconds each process used
// between before and after.
func (b *bench) cpuDeltas(key string, round int, before, after map[string]time.Duration) {
	names := slices.Sorted(maps.Keys(after))
	var parts []string
	for _, name := range names {
		bt, ok := before[name]
		if !ok {
			continue
		}
		sec := (after[name] - bt).Seconds()
		b.record(key+"/cpu/"+name, round, sec)
		parts = append(parts, fmt.Sprintf("%s %.2f", name, sec))
	}
	b.logf("    CPU s: %s", strings.Join(parts, ", "))
}

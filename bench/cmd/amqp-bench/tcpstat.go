package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

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

// counterDeltas records and logs, per host, the counters that moved between
// before and after, under key ("storm/PATH").
func (b *bench) counterDeltas(key string, hosts []*netlab.Host, before, after map[string]map[string]uint64) {
	for _, h := range hosts {
		bc, ok1 := before[h.Name]
		ac, ok2 := after[h.Name]
		if !ok1 || !ok2 {
			continue
		}
		var moved []string
		for _, name := range stormCounters {
			d := ac[name] - bc[name]
			b.record(key+"/"+h.Name+"/"+name, float64(d))
			if d != 0 {
				moved = append(moved, fmt.Sprintf("%s %d", strings.TrimPrefix(strings.TrimPrefix(name, "TcpExt"), "Tcp"), d))
			}
		}
		b.logf("    %-6s %s", h.Name, strings.Join(moved, ", "))
	}
}

// cpuTicks returns the CPU time (user + system, in clock ticks) that
// process pid and its threads have used.
func cpuTicks(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// fields are counted after its closing one.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("reading /proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("reading /proc/%d/stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("reading /proc/%d/stat: %w", pid, err)
	}
	return utime + stime, nil
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
func cpuAt(procs map[string]int) map[string]uint64 {
	m := map[string]uint64{}
	for name, pid := range procs {
		if t, err := cpuTicks(pid); err == nil {
			m[name] = t
		}
	}
	return m
}

// cpuDeltas records and logs the CPU seconds each process used between
// before and after (clock ticks of 10 ms, the kernel's USER_HZ on Linux).
func (b *bench) cpuDeltas(key string, before, after map[string]uint64) {
	names := slices.Sorted(maps.Keys(after))
	var parts []string
	for _, name := range names {
		bt, ok := before[name]
		if !ok {
			continue
		}
		sec := float64(after[name]-bt) / 100
		b.record(key+"/cpu/"+name, sec)
		parts = append(parts, fmt.Sprintf("%s %.2f", name, sec))
	}
	b.logf("    CPU s: %s", strings.Join(parts, ", "))
}

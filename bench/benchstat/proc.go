package benchstat

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ThreadCost is what the kernel counted for a process's threads: CPU time,
// time waiting for a CPU and context switches, summed over
// /proc/PID/task/*.
type ThreadCost struct {
	// CPU is the threads' time on a CPU (schedstat's first field, in
	// nanoseconds).
	CPU time.Duration
	// Wait is the threads' time runnable but waiting on a run queue for a
	// CPU (schedstat's second field): what the other work on the CPUs
	// kept them waiting.
	Wait time.Duration
	// Voluntary and Involuntary count the threads' context switches
	// (status: voluntary_ctxt_switches, nonvoluntary_ctxt_switches).
	Voluntary, Involuntary int64
}

// Sub returns c - before: what the process spent between two readings.
func (c ThreadCost) Sub(before ThreadCost) ThreadCost {
	return ThreadCost{CPU: c.CPU - before.CPU, Wait: c.Wait - before.Wait, Voluntary: c.Voluntary - before.Voluntary,
		Involuntary: c.Involuntary - before.Involuntary}
}

// ReadThreadCost sums the figures of pid's threads. A thread that exited
// took its figures with it, so the difference of two readings is what
// the process spent only for a process that keeps its threads (the
// proxies, RabbitMQ's Erlang VM and a Go program do).
func ReadThreadCost(pid int) (ThreadCost, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	if err != nil {
		return ThreadCost{}, fmt.Errorf("listing threads of %d: %w", pid, err)
	}
	if len(tasks) == 0 {
		return ThreadCost{}, fmt.Errorf("listing threads of %d: no such process", pid)
	}
	var c ThreadCost
	for _, t := range tasks {
		raw, err := os.ReadFile(filepath.Join(t, "schedstat"))
		if err != nil {
			continue // the thread exited meanwhile
		}
		if f := strings.Fields(string(raw)); len(f) > 1 {
			run, _ := strconv.ParseInt(f[0], 10, 64)
			wait, _ := strconv.ParseInt(f[1], 10, 64)
			c.CPU += time.Duration(run)
			c.Wait += time.Duration(wait)
		}
		st, err := os.Open(filepath.Join(t, "status"))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(st)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "voluntary_ctxt_switches:"); ok {
				n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				c.Voluntary += n
			} else if v, ok := strings.CutPrefix(sc.Text(), "nonvoluntary_ctxt_switches:"); ok {
				n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				c.Involuntary += n
			}
		}
		st.Close()
	}
	return c, nil
}

// userHZ is the unit of /proc/stat's CPU times (USER_HZ, 100 on every
// Linux architecture the benchmarks run on).
const userHZ = 100

// MachineCPU is the time all CPUs of the machine have spent, from
// /proc/stat's "cpu" line.
type MachineCPU struct {
	// Busy is user, nice, system, irq, softirq and steal time: every
	// process's (also work other than the benchmark's) and the kernel's
	// packet processing.
	Busy time.Duration
	// Total is Busy plus idle and iowait time: the elapsed time times the
	// number of CPUs.
	Total time.Duration
}

// Sub returns m - before.
func (m MachineCPU) Sub(before MachineCPU) MachineCPU {
	return MachineCPU{Busy: m.Busy - before.Busy, Total: m.Total - before.Total}
}

// ReadMachineCPU reads /proc/stat.
func ReadMachineCPU() (MachineCPU, error) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return MachineCPU{}, fmt.Errorf("reading machine CPU time: %w", err)
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	return parseMachineCPU(line)
}

// parseMachineCPU reads /proc/stat's first line: "cpu" and the user,
// nice, system, idle, iowait, irq, softirq and steal times in USER_HZ
// ticks (later fields, guest time, are already in user and nice).
func parseMachineCPU(line string) (MachineCPU, error) {
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return MachineCPU{}, fmt.Errorf("reading machine CPU time: /proc/stat starts with %q", line)
	}
	var t [8]int64
	for i := range t {
		n, err := strconv.ParseInt(f[i+1], 10, 64)
		if err != nil {
			return MachineCPU{}, fmt.Errorf("reading machine CPU time: field %d: %w", i+1, err)
		}
		t[i] = n
	}
	tick := func(n int64) time.Duration { return time.Duration(n) * time.Second / userHZ }
	busy := t[0] + t[1] + t[2] + t[5] + t[6] + t[7]
	return MachineCPU{Busy: tick(busy), Total: tick(busy + t[3] + t[4])}, nil
}

// ProcessCPU returns the CPU time (user and system) that process pid and
// its threads have used, from /proc/PID/stat.
func ProcessCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("reading CPU time: %w", err)
	}
	return StatCPU(pid, string(b))
}

// StatCPU returns the CPU time (user and system) in a /proc stat line of
// process or thread pid (/proc/PID/stat, /proc/PID/task/TID/stat).
func StatCPU(pid int, s string) (time.Duration, error) {
	// The command name, field 2, may hold spaces: fields count from the
	// last ')'.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("reading CPU time of %d: malformed stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("reading CPU time of %d: short stat", pid)
	}
	// utime and stime are fields 14 and 15, f[11] and f[12] here.
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("reading CPU time of %d: bad stat", pid)
	}
	return time.Duration(u+st) * time.Second / userHZ, nil
}

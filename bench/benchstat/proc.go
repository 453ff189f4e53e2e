package benchstat

import (
	"bufio"
	"fmt"
	"io"
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

// Ticks converts a count of /proc/stat's CPU time ticks (USER_HZ) to a
// duration.
func Ticks(n int64) time.Duration { return time.Duration(n) * time.Second / userHZ }

// CPUTimes is one CPU-time line of /proc/stat: "cpu", all CPUs together,
// or "cpuN", one of them; the times are in USER_HZ ticks (Ticks).
type CPUTimes struct {
	CPU                                                   string
	User, Nice, System, Idle, IOWait, IRQ, SoftIRQ, Steal int64
}

// parseCPUTimes reads one CPU-time line of /proc/stat: its name and the
// user, nice, system, idle, iowait, irq, softirq and steal times (later
// fields, guest time, are already in user and nice).
func parseCPUTimes(line string) (CPUTimes, error) {
	f := strings.Fields(line)
	if len(f) < 9 || !strings.HasPrefix(f[0], "cpu") {
		return CPUTimes{}, fmt.Errorf("not a CPU-time line of /proc/stat: %q", line)
	}
	t := CPUTimes{CPU: f[0]}
	for i, p := range []*int64{&t.User, &t.Nice, &t.System, &t.Idle, &t.IOWait, &t.IRQ, &t.SoftIRQ, &t.Steal} {
		n, err := strconv.ParseInt(f[i+1], 10, 64)
		if err != nil {
			return CPUTimes{}, fmt.Errorf("%s: field %d: %w", f[0], i+1, err)
		}
		*p = n
	}
	return t, nil
}

// ParsePerCPUTimes reads the line of each CPU ("cpuN", not the "cpu"
// total) of /proc/stat's text r.
func ParsePerCPUTimes(r io.Reader) ([]CPUTimes, error) {
	var ts []CPUTimes
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if name, _, _ := strings.Cut(line, " "); !strings.HasPrefix(name, "cpu") || name == "cpu" {
			continue
		}
		t, err := parseCPUTimes(line)
		if err != nil {
			return nil, fmt.Errorf("parsing /proc/stat: %w", err)
		}
		ts = append(ts, t)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading /proc/stat: %w", err)
	}
	return ts, nil
}

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

// ReadCPUTimes reads /proc/stat's first line, the "cpu" total of all
// CPUs.
func ReadCPUTimes() (CPUTimes, error) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return CPUTimes{}, fmt.Errorf("reading /proc/stat: %w", err)
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	return parseTotalCPUTimes(line)
}

// parseTotalCPUTimes reads the "cpu" total line of /proc/stat.
func parseTotalCPUTimes(line string) (CPUTimes, error) {
	t, err := parseCPUTimes(line)
	if err == nil && t.CPU != "cpu" {
		err = fmt.Errorf("/proc/stat starts with %q", line)
	}
	if err != nil {
		return CPUTimes{}, fmt.Errorf("reading /proc/stat: %w", err)
	}
	return t, nil
}

// ReadMachineCPU reads /proc/stat.
func ReadMachineCPU() (MachineCPU, error) {
	t, err := ReadCPUTimes()
	if err != nil {
		return MachineCPU{}, fmt.Errorf("reading machine CPU time: %w", err)
	}
	return machineCPU(t), nil
}

// parseMachineCPU reads /proc/stat's first line, the "cpu" total.
func parseMachineCPU(line string) (MachineCPU, error) {
	t, err := parseTotalCPUTimes(line)
	if err != nil {
		return MachineCPU{}, fmt.Errorf("reading machine CPU time: %w", err)
	}
	return machineCPU(t), nil
}

// machineCPU is t's busy and total time.
func machineCPU(t CPUTimes) MachineCPU {
	busy := t.User + t.Nice + t.System + t.IRQ + t.SoftIRQ + t.Steal
	return MachineCPU{Busy: Ticks(busy), Total: Ticks(busy + t.Idle + t.IOWait)}
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
	return Ticks(u + st), nil
}

package main

import (
	"syscall"
	"time"

	"github.com/rmqlb/rmqlb/bench/benchstat"
)

// cpuSample is the machine's busy CPU time and the bench's own share of it
// at one moment.
type cpuSample struct {
	at   time.Time
	busy time.Duration // user, nice and system time of every CPU (/proc/stat)
	own  time.Duration // the bench's and its processes' user and system time
}

// sampleCPU reads the machine's busy time and the bench's own: the
// process itself, the children it has waited for (loads, and proxies once
// stopped) and the long-running processes it has not (the servers). Time
// spent in interrupts and softirqs is in neither (the lab's packets are a
// part of it).
func (b *bench) sampleCPU() cpuSample {
	s := cpuSample{at: time.Now(), busy: machineBusy()}
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if syscall.Getrusage(who, &ru) == nil {
			s.own += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	b.procs.mu.Lock()
	for p := range b.procs.procs {
		s.own += procCPU(p.cmd.Process.Pid)
	}
	b.procs.mu.Unlock()
	return s
}

// othersUntil returns how many CPUs other work kept busy on average from s
// to e.
func (s cpuSample) othersUntil(e cpuSample) float64 {
	wall := e.at.Sub(s.at)
	if wall <= 0 {
		return 0
	}
	others := (e.busy - s.busy) - (e.own - s.own)
	return max(others.Seconds()/wall.Seconds(), 0)
}

// machineBusy returns the user, nice and system time of all CPUs.
func machineBusy() time.Duration {
	t, err := benchstat.ReadCPUTimes()
	if err != nil {
		return 0
	}
	return benchstat.Ticks(t.User + t.Nice + t.System)
}

// procCPU returns a live process's user and system time (0 if it is gone).
func procCPU(pid int) time.Duration {
	d, _ := benchstat.ProcessCPU(pid)
	return d
}

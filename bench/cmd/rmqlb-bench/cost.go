package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rmqlb/rmqlb/bench/benchstat"
)

// loadCost is a proxy's cost over one load: the difference of two
// benchstat.ThreadCost readings and, with -perf, its syscalls (-1 without).
type loadCost struct {
	benchstat.ThreadCost
	syscalls int64
}

// proxyCost runs load and returns what ep's proxy process spent meanwhile;
// the zero loadCost (and load's error) for direct.
func (b *bench) proxyCost(ctx context.Context, ep endpoint, load func() error) (loadCost, error) {
	if ep.proc == nil {
		return loadCost{}, load()
	}
	pid := ep.proc.cmd.Process.Pid
	var counter *perfCounter
	if b.o.perf {
		var err error
		if counter, err = startPerf(ctx, pid, b.tmp); err != nil {
			return loadCost{}, err
		}
	}
	before, err := benchstat.ReadThreadCost(pid)
	if err != nil {
		counter.stop()
		return loadCost{}, err
	}
	lerr := load()
	after, err := benchstat.ReadThreadCost(pid)
	syscalls, perr := counter.stop()
	if lerr != nil {
		return loadCost{}, lerr
	}
	if err := errors.Join(err, perr); err != nil {
		return loadCost{}, err
	}
	return loadCost{ThreadCost: after.Sub(before), syscalls: syscalls}, nil
}

// recordCost records c per operation (ops of them) under the given
// metrics; nothing for direct (ops of a zero cost are not the proxy's).
func (b *bench) recordCost(target string, c loadCost, ops float64, mCPU, mVol, mInvol, mSys string) {
	if target == "direct" || ops <= 0 {
		return
	}
	b.record(target, mCPU, float64(c.CPU.Microseconds())/ops)
	b.record(target, mVol, float64(c.Voluntary)/ops)
	b.record(target, mInvol, float64(c.Involuntary)/ops)
	if c.syscalls >= 0 && b.o.perf {
		b.record(target, mSys, float64(c.syscalls)/ops)
	}
}

// perfCounter is a `perf stat` counting a process's syscalls.
type perfCounter struct {
	cmd *exec.Cmd
	out string
}

func startPerf(ctx context.Context, pid int, tmp string) (*perfCounter, error) {
	out := filepath.Join(tmp, fmt.Sprintf("perf-%d.csv", pid))
	cmd := exec.CommandContext(ctx, "perf", "stat", "-x,", "-e", "raw_syscalls:sys_enter",
		"-p", strconv.Itoa(pid), "-o", out)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting perf stat: %w", err)
	}
	// perf attaches to the threads after it starts; give it a moment.
	time.Sleep(200 * time.Millisecond)
	return &perfCounter{cmd: cmd, out: out}, nil
}

// stop ends the count and returns it; -1 and no error for a nil counter.
func (p *perfCounter) stop() (int64, error) {
	if p == nil {
		return -1, nil
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	if err := p.cmd.Wait(); err != nil && !isSignalExit(err) {
		return -1, fmt.Errorf("perf stat: %w", err)
	}
	raw, err := os.ReadFile(p.out)
	if err != nil {
		return -1, fmt.Errorf("reading perf stat output: %w", err)
	}
	return parsePerfCount(string(raw), "raw_syscalls:sys_enter")
}

// parsePerfCount finds event's count in perf stat's CSV output (-x,).
func parsePerfCount(out, event string) (int64, error) {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(line, ",")
		if len(f) >= 3 && f[2] == event {
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return -1, fmt.Errorf("perf stat counted %q for %s", f[0], event)
			}
			return n, nil
		}
	}
	return -1, fmt.Errorf("perf stat output has no %s line", event)
}

// isSignalExit reports whether err is the exit of a process ended by the
// SIGINT it was sent (perf stat may exit with status 0 or by the signal).
func isSignalExit(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && (ws.Signaled() || ws.ExitStatus() == 130)
}

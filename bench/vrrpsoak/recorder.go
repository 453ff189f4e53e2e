package vrrpsoak

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rmqlb/rmqlb/bench/benchstat"
)

// tracefs is where the kernel's tracing file system is mounted.
const tracefs = "/sys/kernel/tracing"

// recorderEvents are the kernel's trace events a Recorder keeps: who ran
// on each CPU and why (switches, wake-ups, migrations). Not the timers'
// expiries and the interrupts' bottom halves: under the soak's network
// load they are five times as many, and a buffer would hold seconds
// fewer.
var recorderEvents = []string{
	"sched/sched_switch", "sched/sched_waking", "sched/sched_wakeup", "sched/sched_migrate_task",
}

// Recorder is a flight recorder of the kernel's scheduler: an ftrace
// instance of its own (its own ring buffers and events, so that it
// disturbs no other user of tracefs) that keeps the last few seconds of
// recorderEvents on every CPU, overwriting the oldest, and writes them to
// a file when asked (Dump): after a late advert, the seconds around it.
// Its methods may be called from several goroutines.
type Recorder struct {
	inst    string // the instance's directory in tracefs
	mounted bool   // OpenRecorder mounted tracefs (Close unmounts it)
	dir     string // where dumps go
	max     int    // dumps at most
	logf    func(format string, args ...any)

	mu      sync.Mutex // guards the fields below
	active  int        // Starts not yet Stopped
	dumps   int
	offAt   int64         // Unix ns when the last dump stopped the recording
	longest time.Duration // the longest gap dumped so far
}

// OpenRecorder creates the ftrace instance name with bufKiB KiB of ring
// buffer per CPU, its clock CLOCK_MONOTONIC; it records between Start and
// Stop, and Dump writes at most max dumps into dir, which the caller
// owns (files there called trace-N are overwritten). What the soak tells
// of the recorder (its dumps, its failures) goes to logf, whatever the
// soak's own Logf. When tracefs is not mounted (a fresh machine mounts it
// on first use by a tracing tool, not at boot), OpenRecorder mounts it
// and Close unmounts it again. Close removes the instance.
func OpenRecorder(name, dir string, bufKiB, max int, logf func(format string, args ...any)) (*Recorder, error) {
	mounted, err := mountTracefs()
	if err != nil {
		return nil, err
	}
	inst := filepath.Join(tracefs, "instances", name)
	if err := os.Mkdir(inst, 0o700); err != nil {
		if mounted {
			_ = unix.Unmount(tracefs, unix.MNT_DETACH)
		}
		return nil, fmt.Errorf("creating the ftrace instance: %w", err)
	}
	r := &Recorder{inst: inst, mounted: mounted, dir: dir, max: max, logf: logf}
	err = r.write("buffer_size_kb", strconv.Itoa(bufKiB))
	if err == nil {
		err = r.write("trace_clock", "mono")
	}
	for _, ev := range recorderEvents {
		if err == nil {
			err = r.write(filepath.Join("events", ev, "enable"), "1")
		}
	}
	if err == nil {
		err = r.write("tracing_on", "0")
	}
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("setting up the ftrace instance: %w", err)
	}
	return r, nil
}

// Start starts recording, for one measured window; recording goes on
// until every window started has stopped (Stop). The kernel's tracing
// costs every context switch a little, and a real-time task that runs
// long without sleeping the more: a window's measurement pays it, the
// link cuts after it do not.
func (r *Recorder) Start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.active == 0 {
		if err := r.write("tracing_on", "1"); err != nil {
			return fmt.Errorf("starting the recorder: %w", err)
		}
	}
	r.active++
	return nil
}

// Stop ends a window Start began; the last one stops recording.
func (r *Recorder) Stop() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.active == 0 {
		return nil
	}
	r.active--
	if r.active > 0 {
		return nil
	}
	if err := r.write("tracing_on", "0"); err != nil {
		return fmt.Errorf("stopping the recorder: %w", err)
	}
	return nil
}

func (r *Recorder) write(file, v string) error {
	return os.WriteFile(filepath.Join(r.inst, file), []byte(v), 0)
}

// Dump writes what the ring buffers hold to a new file in the recorder's
// directory, headed by reason and by the offset of the trace's clock
// (CLOCK_MONOTONIC) to Unix time, and beside it the threads running now
// (ps), then empties the buffers and records on if a window is still
// on. gap is the gap that calls for it, end when it ended (Unix ns). It
// returns the file's path, or "" when it wrote none: max dumps made, the
// last dump, which stopped recording after end, held this gap already,
// or the gap is no longer than one dumped before (so that the dumps,
// few, go to the worst gaps: a takeover late in an hour still gets one).
//
// A dump takes a CPU at normal priority for a second or two (the kernel
// formats the buffers as text), within the window.
func (r *Recorder) Dump(reason string, gap time.Duration, end int64) (path string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dumps >= r.max || end <= r.offAt || gap <= r.longest {
		return "", nil
	}
	r.dumps++
	r.longest = gap
	if err := r.write("tracing_on", "0"); err != nil {
		return "", fmt.Errorf("stopping the recorder: %w", err)
	}
	r.offAt = time.Now().UnixNano()
	defer func() {
		if r.active == 0 {
			return
		}
		if werr := r.write("tracing_on", "1"); werr != nil && err == nil {
			err = fmt.Errorf("recording again after a dump: %w", werr)
		}
	}()
	path = filepath.Join(r.dir, fmt.Sprintf("trace-%d.txt", r.dumps))
	if err := r.copyTrace(path, reason); err != nil {
		return "", err
	}
	// Which process and scheduling class each thread id in it is.
	if out, err := exec.Command("ps", "-eLo", "pid,tid,cls,rtprio,ni,psr,comm,args").Output(); err == nil {
		_ = os.WriteFile(strings.TrimSuffix(path, ".txt")+".threads.txt", out, 0o644)
	}
	if err := r.write("trace", ""); err != nil {
		return path, fmt.Errorf("emptying the recorder: %w", err)
	}
	return path, nil
}

func (r *Recorder) copyTrace(path, reason string) error {
	var mono unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono); err != nil {
		return fmt.Errorf("reading the monotonic clock: %w", err)
	}
	offset := time.Now().UnixNano() - mono.Nano()
	in, err := os.Open(filepath.Join(r.inst, "trace"))
	if err != nil {
		return fmt.Errorf("reading the recorder: %w", err)
	}
	defer in.Close()
	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("writing a dump: %w", err)
	}
	w := bufio.NewWriterSize(out, 1<<20)
	fmt.Fprintf(w, "# %s\n# trace clock: CLOCK_MONOTONIC; Unix time = trace time + %d ns\n", reason, offset)
	_, err = io.Copy(w, in)
	if err == nil {
		err = w.Flush()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing a dump: %w", err)
	}
	return nil
}

// Close stops recording and removes the instance (with its buffers).
func (r *Recorder) Close() error {
	_ = r.write("tracing_on", "0")
	for _, ev := range recorderEvents {
		_ = r.write(filepath.Join("events", ev, "enable"), "0")
	}
	var errs []error
	if err := os.Remove(r.inst); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("removing the ftrace instance: %w", err))
	}
	if r.mounted {
		// Detached: the instance left behind by a failed removal goes
		// with the mount once nothing holds it.
		r.mounted = false
		if err := unix.Unmount(tracefs, unix.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Errorf("unmounting tracefs: %w", err))
		}
	}
	return errors.Join(errs...)
}

// mountTracefs mounts the kernel's tracing file system at tracefs unless
// it is there already (its instances directory exists); mounted says
// whether it did.
func mountTracefs() (mounted bool, err error) {
	if _, err := os.Stat(filepath.Join(tracefs, "instances")); err == nil {
		return false, nil
	}
	if err := unix.Mount("nodev", tracefs, "tracefs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return false, fmt.Errorf("mounting tracefs at %s: %w", tracefs, err)
	}
	if _, err := os.Stat(filepath.Join(tracefs, "instances")); err != nil {
		_ = unix.Unmount(tracefs, unix.MNT_DETACH)
		return false, fmt.Errorf("mounting tracefs at %s: no ftrace instances (%w)", tracefs, err)
	}
	return true, nil
}

// SampleCPUs writes each CPU's times of /proc/stat, every second, to path
// (tab-separated: Unix milliseconds, CPU, then the ticks of the second
// that ended for user, nice, system, idle, iowait, irq, softirq and
// steal) until ctx ends, and returns the most time the hypervisor took
// from one CPU in one second (steal) and when that second ended.
func SampleCPUs(ctx context.Context, path string) (maxSteal time.Duration, at time.Time, err error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("sampling CPU times: %w", err)
	}
	w := bufio.NewWriter(f)
	defer func() {
		if ferr := w.Flush(); ferr != nil && err == nil {
			err = fmt.Errorf("writing CPU times: %w", ferr)
		}
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("writing CPU times: %w", cerr)
		}
	}()
	fmt.Fprintln(w, "unix_ms\tcpu\tuser\tnice\tsystem\tidle\tiowait\tirq\tsoftirq\tsteal")
	read := func() map[string]benchstat.CPUTimes {
		b, err := os.ReadFile("/proc/stat")
		if err != nil {
			return nil
		}
		ts, _ := benchstat.ParsePerCPUTimes(bytes.NewReader(b))
		m := make(map[string]benchstat.CPUTimes, len(ts))
		for _, t := range ts {
			m[t.CPU] = t
		}
		return m
	}
	prev := read()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return maxSteal, at, nil
		case now := <-tick.C:
			cur := read()
			for _, name := range slices.Sorted(maps.Keys(cur)) {
				c := cur[name]
				p, ok := prev[name]
				if !ok { // a CPU that came online
					continue
				}
				fmt.Fprintf(w, "%d\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", now.UnixMilli(), c.CPU,
					c.User-p.User, c.Nice-p.Nice, c.System-p.System, c.Idle-p.Idle, c.IOWait-p.IOWait,
					c.IRQ-p.IRQ, c.SoftIRQ-p.SoftIRQ, c.Steal-p.Steal)
				if d := benchstat.Ticks(c.Steal - p.Steal); d > maxSteal {
					maxSteal, at = d, now
				}
			}
			if cur != nil {
				prev = cur
			}
		}
	}
}

package sendproc

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Tune makes the calling process a small sender: one P (GOMAXPROCS 1),
// the garbage collector off under cfg.MemoryLimit, its memory locked as
// it is touched (mlockall MCL_CURRENT|MCL_ONFAULT, where the limits
// permit), and with
// cfg.RealTimePriority every thread in SCHED_FIFO at that priority. It
// returns how the process is scheduled, for the daemon's status: what it
// could not do says why.
func Tune(cfg ServeConfig) string {
	runtime.GOMAXPROCS(1)
	debug.SetGCPercent(-1)
	limit := cfg.MemoryLimit
	if limit <= 0 {
		limit = DefaultMemoryLimit
	}
	debug.SetMemoryLimit(limit)
	var parts []string
	if cfg.RealTimePriority > 0 {
		if err := fifoAllThreads(cfg.RealTimePriority); err != nil {
			parts = append(parts, "normal priority: "+err.Error())
		} else {
			parts = append(parts, fmt.Sprintf("SCHED_FIFO priority %d", cfg.RealTimePriority))
		}
	} else {
		parts = append(parts, "normal priority")
	}
	// MCL_ONFAULT: the pages of the mappings there are now stay in memory
	// once touched, without faulting in the whole of the runtime's heap
	// reservation (which would make the process tens of MiB). Not
	// MCL_FUTURE: past RLIMIT_MEMLOCK a later mmap would fail, and the
	// runtime with it.
	if err := unix.Mlockall(unix.MCL_CURRENT | unix.MCL_ONFAULT); err != nil {
		parts = append(parts, "memory not locked: "+err.Error())
	} else {
		parts = append(parts, "memory locked")
	}
	return strings.Join(parts, ", ")
}

// fifoAllThreads puts every thread of the process in SCHED_FIFO at prio;
// threads the runtime starts later inherit it from the thread that
// creates them. Not with SCHED_RESET_ON_FORK, which would also keep it
// from those threads: the process starts no program.
func fifoAllThreads(prio int) error {
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: uint32(prio)}
	// Twice: a thread started while the first pass ran was created by a
	// thread of normal priority.
	for range 2 {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return fmt.Errorf("listing the threads: %w", err)
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			err = unix.SchedSetAttr(tid, &attr, 0)
			if errors.Is(err, unix.EPERM) {
				return errors.New("not permitted (needs CAP_SYS_NICE, or an RLIMIT_RTPRIO that allows the priority)")
			}
			if err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("setting SCHED_FIFO priority %d: %w", prio, err)
			}
		}
	}
	return nil
}

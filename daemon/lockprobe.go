package daemon

import (
	"fmt"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// procLocks is the kernel's table of the file locks held on the host.
const procLocks = "/proc/locks"

// foreseeLock returns the error takeLock(path) would meet now because
// another process holds the lock (lockedError), or nil: the file does not
// exist, no process holds a flock(2) lock on it, or the kernel's table
// (procLocks, read from locks) cannot tell. It never takes the lock, so
// that a daemon starting on path meanwhile does not find it taken by a
// dry run.
func foreseeLock(path, locks string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return nil
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	b, err := os.ReadFile(locks)
	if err != nil {
		return nil
	}
	// A line: "1: FLOCK  ADVISORY  WRITE 1234 fe:00:5309569 0 EOF"; a
	// process waiting for the lock has "->" after the number.
	file := fmt.Sprintf("%02x:%02x:%d", unix.Major(uint64(st.Dev)), unix.Minor(uint64(st.Dev)), st.Ino)
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) >= 6 && f[1] == "FLOCK" && f[5] == file {
			return lockedError(path)
		}
	}
	return nil
}

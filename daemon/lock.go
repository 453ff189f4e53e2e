package daemon

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rmqlb/rmqlb/control"
)

// ErrLocked is returned by Run when another daemon holds the
// single-instance lock of the same control socket.
var ErrLocked = errors.New("another rmqlb daemon runs with this control socket")

// LockPath is the single-instance lock file of a daemon whose control
// socket is socket: beside it, with ".lock" appended.
func LockPath(socket string) string { return socket + ".lock" }

// instanceLock is a held single-instance lock: an exclusive flock(2) on a
// file that holds the pid of its holder. The kernel releases it when the
// process exits, however it exits, so a lock is never stale.
type instanceLock struct {
	f *os.File
}

// takeLock takes the lock at path without waiting, creating the file and
// its directory when missing. It fails with ErrLocked (naming the holder's
// pid when the file tells it) when another process holds it.
func takeLock(path string) (*instanceLock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("taking the single-instance lock: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("taking the single-instance lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, lockedError(path)
		}
		return nil, fmt.Errorf("taking the single-instance lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &instanceLock{f: f}, nil
}

// lockedError is takeLock's error for a lock at path that another
// process holds: ErrLocked, with the holder's pid when the file tells it.
func lockedError(path string) error {
	holder := ""
	if b, err := os.ReadFile(path); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			holder = pidNote(pid)
		}
	}
	return fmt.Errorf("taking the single-instance lock %s: %w%s", path, ErrLocked, holder)
}

// inPlace reports whether path still leads to the file whose lock l holds
// (the same device and inode): false when the file, or its directory, was
// removed or replaced, after which another process could take a lock
// there. Any other failure to look is returned with false.
func (l *instanceLock) inPlace(path string) (bool, error) {
	held, err := l.f.Stat()
	if err != nil {
		return false, fmt.Errorf("looking at the single-instance lock: %w", err)
	}
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("looking at the single-instance lock: %w", err)
	}
	return os.SameFile(fi, held), nil
}

// answering reports whether a process answers on the control socket at
// socket and, for error messages that name the daemon an operator would
// stop, a note of who: " (pid N)" as the daemon's status gives it; when
// it gives none, the process that made the socket as the kernel tells
// (SO_PEERCRED), which is not the daemon that answers after an upgrade
// in place (" (its socket was made by pid N)"); "" when neither tells.
func answering(socket string) (note string, ok bool) {
	c, err := net.DialTimeout("unix", socket, time.Second)
	if err != nil {
		return "", false
	}
	made := 0
	if uc, isUnix := c.(*net.UnixConn); isUnix {
		if raw, err := uc.SyscallConn(); err == nil {
			_ = raw.Control(func(fd uintptr) {
				if cred, cerr := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); cerr == nil {
					made = int(cred.Pid)
				}
			})
		}
	}
	c.Close()
	var st struct {
		PID int `json:"pid"`
	}
	switch err := control.Call(socket, control.Request{Command: "status"}, &st, time.Second); {
	case err == nil && st.PID > 0:
		return pidNote(st.PID), true
	case made > 0:
		return fmt.Sprintf(" (its socket was made by pid %d)", made), true
	}
	return "", true
}

// pidNote is " (pid N)" for a known pid, "" for 0.
func pidNote(pid int) string {
	if pid <= 0 {
		return ""
	}
	return fmt.Sprintf(" (pid %d)", pid)
}

// release drops the lock (closing the file releases the flock).
func (l *instanceLock) release() {
	if l != nil && l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

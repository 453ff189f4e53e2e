package notify

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// script writes an executable shell script called name into dir and
// returns its path.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// fifo makes a named pipe called name in dir and returns its path. A test
// reads what a hook writes into it with readFIFO: the read waits for the
// hook, not for time to pass.
func fifo(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := unix.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	// A reader still waiting when the test ends (it failed) is let go.
	t.Cleanup(func() {
		if fd, err := unix.Open(p, unix.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
			unix.Close(fd)
		}
	})
	return p
}

// readFIFO returns what is written into the named pipe at p, up to the
// writer's close; it fails the test if nothing comes within 10 s.
func readFIFO(t *testing.T, p string) string {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		b, _ := os.ReadFile(p)
		got <- string(b)
	}()
	select {
	case s := <-got:
		return s
	case <-time.After(10 * time.Second):
		t.Fatalf("nothing written into %s within 10 s", p)
		return ""
	}
}

// writeFIFO writes s into the named pipe at p for the hook that reads it;
// it fails the test if no hook opens it within 10 s.
func writeFIFO(t *testing.T, p, s string) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- os.WriteFile(p, []byte(s), 0o600) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		// Let the writer go: open the pipe for reading ourselves.
		if fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NONBLOCK, 0); err == nil {
			defer unix.Close(fd)
		}
		t.Fatalf("no hook read %s within 10 s", p)
	}
}

// runToEnd runs r with a context that is already done: Run runs every
// queued hook, in order, and returns.
func runToEnd(t *testing.T, r *Runner) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// startRunner runs r until the test ends, or until the returned stop
// function is called, which waits for Run to return.
func startRunner(t *testing.T, r *Runner) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var stopped bool
	stop = func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Run did not return within 30 s")
		}
	}
	t.Cleanup(stop)
	return stop
}

// waitExit waits until the process pid has exited (it need not be a child
// of the test), through a pidfd: it fails the test after 10 s.
func waitExit(t *testing.T, pidfd int, pid int) {
	t.Helper()
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 10_000)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			t.Fatalf("polling the pidfd of %d: %v", pid, err)
		}
		if n == 0 {
			t.Fatalf("process %d still runs 10 s after its group was to be killed", pid)
		}
		return
	}
}

// hookProcs reads "SHELL_PID CHILD_PID" from the named pipe at p, where a
// hook writes them, and opens a pidfd for each (closed when the test
// ends), so that waitExit can wait for them.
func hookProcs(t *testing.T, p string) (pids, pidfds []int) {
	t.Helper()
	s := readFIFO(t, p)
	for _, f := range strings.Fields(s) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("pid %q: %v", f, err)
		}
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			t.Fatalf("pidfd of %d: %v", pid, err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		pids, pidfds = append(pids, pid), append(pidfds, fd)
	}
	if len(pids) != 2 {
		t.Fatalf("hook wrote %q, want two pids", s)
	}
	return pids, pidfds
}

// event is a state change of the test instance.
func event(k Kind, prev string) Event {
	return Event{Kind: k, Prev: prev, Reason: "test " + k.String(),
		VIPs: []netip.Prefix{netip.MustParsePrefix("10.9.0.100/24"), netip.MustParsePrefix("10.9.0.101/32")}, Priority: 120}
}

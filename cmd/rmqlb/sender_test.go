package main

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The sender process outlives a SIGTERM or SIGINT sent to the whole
// service (systemd's stop signals the control group) and ends once the
// daemon closes its socket pair.
func TestSenderIgnoresStopSignals(t *testing.T) {
	pair := func() (mine, theirs *os.File) {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		// Mine non-blocking, so that os.File reads it with a deadline.
		if err := unix.SetNonblock(fds[0], true); err != nil {
			t.Fatal(err)
		}
		return os.NewFile(uintptr(fds[0]), "mine"), os.NewFile(uintptr(fds[1]), "theirs")
	}
	ctl, ctlTheirs := pair()
	alive, aliveTheirs := pair()
	defer alive.Close()
	cmd := exec.Command(binary, "vrrp-sender")
	cmd.ExtraFiles = []*os.File{ctlTheirs, aliveTheirs}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ctlTheirs.Close()
	aliveTheirs.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer cmd.Process.Kill()
	// Its Ready message says Serve runs (and the signals are ignored).
	if err := ctl.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := ctl.Read(make([]byte, 4096)); err != nil {
		t.Fatalf("no ready message: %v", err)
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP} {
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-exited:
		t.Fatalf("the sender process ended on SIGTERM/SIGINT/SIGHUP: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	ctl.Close()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("the sender process, its socket pair closed: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the sender process still runs 10 s after its socket pair was closed")
	}
}

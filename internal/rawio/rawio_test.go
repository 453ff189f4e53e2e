package rawio

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// pair returns a non-blocking SOCK_SEQPACKET socket pair, closed when the
// test ends.
func pair(t *testing.T) (a, b int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.Close(fds[0])
		unix.Close(fds[1])
	})
	return fds[0], fds[1]
}

func TestSendRead(t *testing.T) {
	a, b := pair(t)
	buf := make([]byte, 64)
	if n, err := Read(b, buf); err != unix.EAGAIN || n != 0 {
		t.Fatalf("Read of an empty socket = %d, %v; want 0, EAGAIN", n, err)
	}
	for _, m := range [][]byte{[]byte("first"), []byte("the second")} {
		if err := Send(a, m); err != nil {
			t.Fatalf("Send(%q): %v", m, err)
		}
	}
	for _, want := range []string{"first", "the second"} {
		n, err := Read(b, buf)
		if err != nil || string(buf[:n]) != want {
			t.Fatalf("Read = %q, %v; want %q", buf[:n], err, want)
		}
	}
	if n, err := Read(b, nil); err != nil || n != 0 {
		t.Fatalf("Read into an empty buffer = %d, %v; want 0, nil", n, err)
	}
}

func TestSendFull(t *testing.T) {
	a, _ := pair(t)
	msg := bytes.Repeat([]byte{1}, 1024)
	for i := 0; ; i++ {
		err := Send(a, msg)
		if err == unix.EAGAIN {
			return
		}
		if err != nil {
			t.Fatalf("Send %d: %v, want nil or EAGAIN", i, err)
		}
		if i > 1<<16 {
			t.Fatal("the socket never filled: Send blocks or drops")
		}
	}
}

// TestSendClosedPeer: EPIPE, without a SIGPIPE (MSG_NOSIGNAL).
func TestSendClosedPeer(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	unix.Close(fds[1])
	if err := Send(fds[0], []byte("x")); err != unix.EPIPE {
		t.Fatalf("Send to a closed peer = %v, want EPIPE", err)
	}
	// A read of a socket whose peer closed is 0 bytes.
	if n, err := Read(fds[0], make([]byte, 8)); n != 0 || err != nil {
		t.Fatalf("Read of a closed pair = %d, %v; want 0, nil", n, err)
	}
}

func TestErrors(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "rawio")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := Send(int(f.Fd()), []byte("x")); !errors.Is(err, unix.ENOTSOCK) {
		t.Errorf("Send on a regular file = %v, want ENOTSOCK", err)
	}
	if _, err := Read(-1, make([]byte, 1)); !errors.Is(err, unix.EBADF) {
		t.Errorf("Read of -1 = %v, want EBADF", err)
	}
}

func TestNoAllocations(t *testing.T) {
	a, b := pair(t)
	msg, buf := []byte("alive"), make([]byte, 16)
	allocs := testing.AllocsPerRun(100, func() {
		_ = Send(a, msg)
		_, _ = Read(b, buf)
		_, _ = Read(b, buf) // EAGAIN
	})
	if allocs != 0 {
		t.Errorf("%v allocations per send and two reads (one EAGAIN); want 0", allocs)
	}
}

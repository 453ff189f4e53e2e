package balancer

import (
	"bytes"
	"io"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSpliceWithoutPipes checks that a session whose loop cannot make a
// pipe (pipe2 fails with EMFILE at the fd limit) still carries bulk data,
// copied instead of spliced.
func TestSpliceWithoutPipes(t *testing.T) {
	c := startChild(t, "TestSpliceWithoutPipesChild")
	c.finish()
}

func TestSpliceWithoutPipesChild(t *testing.T) {
	if !isChild(t.Name()) {
		t.Skip("runs in a child process started by TestSpliceWithoutPipes")
	}
	srv := newServer(t, "127.0.0.2", echo)
	r := startListener(t, baseConfig(backendsOf(srv)), 1)
	conn := r.dial(t)
	if _, err := roundTrip(conn, []byte("small: no pipe yet")); err != nil {
		t.Fatal(err)
	}
	restore := exhaustFds(t)
	defer restore()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != unix.EMFILE {
		t.Fatalf("pipe2 at the fd limit: %v, want EMFILE", err)
	}

	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB: bulk, would splice
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	werr := make(chan error, 1)
	go func() {
		_, err := conn.Write(payload)
		werr <- err
	}()
	got := make([]byte, len(payload))
	if _, err := io.ReadFull(conn, got); err != nil {
		t.Fatalf("reading the echo of 1 MiB without pipes: %v", err)
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatal("echo differs from what was sent")
	}
	restore()
	if _, err := roundTrip(conn, payload[:100_000]); err != nil {
		t.Fatalf("after the fd limit was lifted: %v", err)
	}
}

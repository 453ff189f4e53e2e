package control

import (
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"
)

// A Call that cannot reach the daemon fails with an error matching
// ErrNotSent (its message unchanged); one whose answer is lost after the
// request went out does not: the daemon may have acted on it.
func TestCallErrNotSent(t *testing.T) {
	dir := t.TempDir()
	err := Call(filepath.Join(dir, "none.sock"), Request{Command: "status"}, nil, time.Second)
	if !errors.Is(err, ErrNotSent) {
		t.Fatalf("no socket: %v, want ErrNotSent", err)
	}
	path := filepath.Join(dir, "s.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		buf := make([]byte, 512)
		_, _ = c.Read(buf) // the request arrives; no answer
		c.Close()
	}()
	err = Call(path, Request{Command: "status"}, nil, 5*time.Second)
	if err == nil || errors.Is(err, ErrNotSent) {
		t.Fatalf("answer lost after the request was read: %v, want an error that is not ErrNotSent", err)
	}
}

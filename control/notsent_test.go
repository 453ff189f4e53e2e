package control

import (
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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

// TestCallMissingSocket: a client that finds no socket at the path says
// it is missing (a running daemon re-creates it); one that finds a socket
// nobody answers on asks whether the daemon runs.
func TestCallMissingSocket(t *testing.T) {
	dir := t.TempDir()
	err := Call(filepath.Join(dir, "none.sock"), Request{Command: "status"}, nil, time.Second)
	if err == nil || !strings.Contains(err.Error(), "the socket is missing") || !strings.Contains(err.Error(), "re-creates its socket within a second") {
		t.Errorf("no socket file: %v", err)
	}
	if _, err := CallWithFiles(filepath.Join(dir, "none.sock"), Request{Command: "takeover"}, nil, time.Second); err == nil || !strings.Contains(err.Error(), "the socket is missing") {
		t.Errorf("no socket file, with files: %v", err)
	}
	stale := filepath.Join(dir, "stale.sock")
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: stale}); err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	err = Call(stale, Request{Command: "status"}, nil, time.Second)
	if err == nil || strings.Contains(err.Error(), "missing") || !strings.Contains(err.Error(), "is `rmqlb run` running?") {
		t.Errorf("a socket nobody answers on: %v", err)
	}
}

// TestCallBusyUnread: a daemon serving MaxConns connections answers one
// more ErrBusy and closes it unread, possibly before the client has sent
// its request: the client reports the daemon's answer, not the broken
// pipe of its write.
func TestCallBusyUnread(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rmqlb.sock")
	s := &Server{Path: path, MaxConns: 1, Timeout: time.Minute, Handler: answer("daemon")}
	serve(t, s)
	stuck, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	waitBusy(t, path)
	// A request larger than the socket's buffers: its write cannot end
	// before the daemon has closed the connection.
	big := Request{Command: "status", Args: []string{strings.Repeat("x", 4<<20)}}
	var refused *RefusedError
	err = Call(path, big, nil, 5*time.Second)
	if !errors.As(err, &refused) || refused.Message != ErrBusy.Error() {
		t.Errorf("Call while busy: %v, want the daemon's %q", err, ErrBusy)
	}
	_, err = CallWithFiles(path, big, nil, 5*time.Second)
	if !errors.As(err, &refused) || refused.Message != ErrBusy.Error() {
		t.Errorf("CallWithFiles while busy: %v, want the daemon's %q", err, ErrBusy)
	}
}

// waitBusy waits until the server at path, whose one connection a silent
// client holds (MaxConns 1), answers another one ErrBusy.
func waitBusy(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := ask(path)
		if err != nil && strings.Contains(err.Error(), ErrBusy.Error()) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("beside a silent client, MaxConns 1: %v, want %v", err, ErrBusy)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

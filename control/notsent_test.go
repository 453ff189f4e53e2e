package control

import (
	"errors"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
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
// its request: the client, asking again until its timeout, reports the
// daemon's answer, not the broken pipe of its write.
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
	err = Call(path, big, nil, 300*time.Millisecond)
	if !errors.As(err, &refused) || refused.Message != ErrBusy.Error() || !strings.Contains(err.Error(), "for a free control connection") {
		t.Errorf("Call while busy: %v, want the daemon's %q after waiting", err, ErrBusy)
	}
	_, err = CallWithFiles(path, big, nil, 300*time.Millisecond)
	if !errors.As(err, &refused) || refused.Message != ErrBusy.Error() || !strings.Contains(err.Error(), "for a free control connection") {
		t.Errorf("CallWithFiles while busy: %v, want the daemon's %q after waiting", err, ErrBusy)
	}
}

// countingListener counts the connections it accepted.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// TestCallWaitsForFreeConnection: a request the daemon refused busy (and
// did not read) is sent again once a connection is free, within the
// call's timeout, for Call and for CallWithFiles alike: a status or an
// upgrade asked while scripts fill the control socket is answered rather
// than failed.
func TestCallWaitsForFreeConnection(t *testing.T) {
	for _, withFiles := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "rmqlb.sock")
		s := &Server{Path: path, MaxConns: 1, Timeout: time.Minute, Handler: answer("daemon")}
		ln, err := s.Listen()
		if err != nil {
			t.Fatal(err)
		}
		cl := &countingListener{Listener: ln}
		serveOn(t, s, cl)
		stuck, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { stuck.Close() }) // before the server stops
		waitBusy(t, path)
		before := cl.accepted.Load()
		done := make(chan error, 1)
		var who string
		go func() {
			if withFiles {
				_, err := CallWithFiles(path, Request{Command: "status"}, &who, 30*time.Second)
				done <- err
				return
			}
			done <- Call(path, Request{Command: "status"}, &who, 30*time.Second)
		}()
		// The call's first connection was accepted, beside the stuck one:
		// refused busy. Then the stuck client goes.
		for cl.accepted.Load() == before {
			select {
			case err := <-done:
				t.Fatalf("withFiles %v: the call ended before the daemon accepted it: %v", withFiles, err)
			case <-time.After(time.Millisecond):
			}
		}
		stuck.Close()
		if err := <-done; err != nil || who != "daemon" {
			t.Errorf("withFiles %v: after the stuck client went: %q, %v; want the daemon's answer", withFiles, who, err)
		}
	}
}

// waitBusy waits until the server at path, whose one connection a silent
// client holds (MaxConns 1), answers another one ErrBusy.
func waitBusy(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := askOnce(path)
		if err != nil && strings.Contains(err.Error(), ErrBusy.Error()) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("beside a silent client, MaxConns 1: %v, want %v", err, ErrBusy)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

package control

import (
	"net"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sys/unix"

	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestServerRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "rmqlb.sock")
	s := &Server{Path: path, Handler: func(ctx context.Context, req Request) (any, error) {
		switch req.Command {
		case "status":
			return map[string]any{"ok": true, "args": req.Args}, nil
		default:
			return nil, errors.New("unknown command " + req.Command)
		}
	}}
	ln, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode = %v, want 0600", fi.Mode().Perm())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Serve(ctx, ln) }()

	var got struct {
		OK   bool     `json:"ok"`
		Args []string `json:"args"`
	}
	if err := Call(path, Request{Command: "status", Args: []string{"x"}}, &got, time.Second); err != nil {
		t.Fatal(err)
	}
	if !got.OK || len(got.Args) != 1 || got.Args[0] != "x" {
		t.Errorf("got %+v", got)
	}
	var raw json.RawMessage
	err = Call(path, Request{Command: "nope"}, &raw, time.Second)
	if err == nil || !strings.Contains(err.Error(), "unknown command nope") {
		t.Errorf("error = %v", err)
	}

	// A second daemon must not steal the live socket.
	if _, err := (&Server{Path: path}).Listen(); err == nil {
		t.Error("second Listen on a live socket succeeded")
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("socket file left after stop: %v", err)
	}
	if err := Call(path, Request{Command: "status"}, nil, 100*time.Millisecond); err == nil {
		t.Error("Call after stop succeeded")
	}
}

func TestStaleSocketReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rmqlb.sock")
	// A socket left by a dead daemon: bound, nobody listening.
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	ln, err := (&Server{Path: path}).Listen()
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	ln.Close()
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("socket file left after Close: %v", err)
	}
}

// TestNonSocketNotRemoved: a file that is not a socket at the path is an
// operator's mistake; it is reported and left alone.
func TestNonSocketNotRemoved(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rmqlb.sock")
	if err := os.WriteFile(path, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := (&Server{Path: path}).Listen()
	if err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Fatalf("Listen over a regular file: %v", err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "precious" {
		t.Fatalf("the file was touched: %q %v", b, err)
	}
}

// TestSocketNeverOpen: the socket appears at its path already with its
// final mode (it is renamed into place), and no other file is left beside.
func TestSocketNeverOpen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rmqlb.sock")
	ln, err := (&Server{Path: path}).Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 || entries[0].Name() != "rmqlb.sock" {
		t.Fatalf("directory holds %v (%v), want the socket only", entries, err)
	}
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket %v %v", fi.Mode(), err)
	}
}

// TestRequestSizeLimit: a request longer than MaxRequest gets an error
// and the connection is closed, without the line being read whole.
func TestRequestSizeLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rmqlb.sock")
	called := false
	s := &Server{Path: path, MaxRequest: 1024, Handler: func(ctx context.Context, req Request) (any, error) { called = true; return "ok", nil }}
	serve(t, s)
	err := Call(path, Request{Command: "status", Args: []string{strings.Repeat("x", 2000)}}, nil, time.Second)
	if err == nil || !strings.Contains(err.Error(), "longer than 1024 bytes") || called {
		t.Fatalf("oversized request: %v (handler called %v)", err, called)
	}
	if err := Call(path, Request{Command: "status"}, nil, time.Second); err != nil {
		t.Fatalf("a small request after: %v", err)
	}
}

// TestMaxConns: connections beyond MaxConns, while that many are served
// (here clients that never send), are answered with ErrBusy at once; once
// one ends, a request is answered again.
func TestMaxConns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rmqlb.sock")
	s := &Server{Path: path, MaxConns: 2, Timeout: time.Minute,
		Handler: func(ctx context.Context, req Request) (any, error) { return "ok", nil }}
	serve(t, s)
	var silent []net.Conn
	for range 2 {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		silent = append(silent, c)
	}
	// The two are taken once the server has accepted them: a third
	// connection is refused from then on.
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := Call(path, Request{Command: "status"}, nil, 5*time.Second)
		if err != nil && strings.Contains(err.Error(), ErrBusy.Error()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a third connection beside two silent ones: %v, want %v", err, ErrBusy)
		}
		time.Sleep(10 * time.Millisecond)
	}
	silent[0].Close()
	deadline = time.Now().Add(10 * time.Second)
	for {
		var got string
		err := Call(path, Request{Command: "status"}, &got, 5*time.Second)
		if err == nil && got == "ok" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after one silent client left: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHandOverSocket: the control socket handed to a successor keeps
// answering at its path (the old listener's close leaves the file), and
// the successor's listener removes it in the end.
func TestHandOverSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rmqlb.sock")
	answer := func(who string) Handler {
		return func(ctx context.Context, req Request) (any, error) { return who, nil }
	}
	old := &Server{Path: path, Handler: answer("old")}
	ln, err := old.Listen()
	if err != nil {
		t.Fatal(err)
	}
	f, err := ListenerFile(ln)
	if err != nil {
		t.Fatal(err)
	}
	if err := KeepSocketFile(ln); err != nil {
		t.Fatal(err)
	}
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("the socket file went with the old listener: %v", err)
	}
	succ := &Server{Path: path, Handler: answer("new")}
	ln2, err := succ.Inherit(f)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- succ.Serve(ctx, ln2) }()
	var who string
	if err := Call(path, Request{Command: "status"}, &who, time.Second); err != nil || who != "new" {
		t.Fatalf("after the hand-over: %q, %v", who, err)
	}
	cancel()
	<-done
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("socket file left after the successor stopped: %v", err)
	}
	if _, err := ListenerFile(&net.UnixListener{}); err == nil {
		t.Error("ListenerFile of a foreign listener")
	}
	if err := KeepSocketFile(&net.UnixListener{}); err == nil {
		t.Error("KeepSocketFile of a foreign listener")
	}
}

// TestCommandContext: a handler learns its client's pid, and a command
// named in CommandTimeouts gets that long instead of Timeout.
func TestCommandContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rmqlb.sock")
	type answer struct {
		PID        int  `json:"pid"`
		Long       bool `json:"long"`
		Privileged bool `json:"privileged"`
	}
	s := &Server{Path: path, Timeout: time.Second, CommandTimeouts: map[string]time.Duration{"upgrade": time.Hour},
		Handler: func(ctx context.Context, req Request) (any, error) {
			pid, ok := PeerPID(ctx)
			if !ok {
				return nil, errors.New("no peer")
			}
			dl, _ := ctx.Deadline()
			return answer{PID: pid, Long: time.Until(dl) > time.Minute, Privileged: PeerPrivileged(ctx)}, nil
		}}
	serve(t, s)
	for cmd, long := range map[string]bool{"status": false, "upgrade": true} {
		var got answer
		if err := Call(path, Request{Command: cmd}, &got, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		if got.PID != os.Getpid() || got.Long != long || !got.Privileged {
			t.Errorf("%s: got %+v, want pid %d, long %v", cmd, got, os.Getpid(), long)
		}
	}
	if _, ok := PeerPID(context.Background()); ok || PeerPrivileged(context.Background()) {
		t.Error("PeerPID or PeerPrivileged outside a request")
	}
}

// TestClientsThatLeave: a client that connects and closes without a
// request (a probe that only checks the socket) gets no answer written,
// and one that leaves before its answer is not the daemon's fault:
// neither is logged above debug, so that a probe every few seconds does
// not fill the daemon's log; both are still logged at debug.
func TestClientsThatLeave(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rmqlb.sock")
	core, logs := observer.New(zapcore.DebugLevel)
	gone := make(chan struct{}) // closed once every slow client has closed
	s := &Server{Path: path, Logger: zap.New(core), Handler: func(ctx context.Context, req Request) (any, error) {
		if req.Command == "slow" {
			<-gone
		}
		return "ok", nil
	}}
	serve(t, s)
	const n = 10
	for range n {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	for range n {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte(`{"command":"slow"}` + "\n")); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	close(gone)
	deadline := time.Now().Add(10 * time.Second)
	for {
		quiet := logs.FilterMessage("control client closed without a request").Len()
		left := logs.FilterMessage("writing control response").Len()
		if quiet == n && left == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d silent clients and %d that left: %d and %d debug lines; logs: %v", n, n, quiet, left, logs.All())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, e := range logs.All() {
		if e.Level > zapcore.DebugLevel {
			t.Errorf("logged at %v: %s %v", e.Level, e.Message, e.ContextMap())
		}
	}
	var got string
	if err := Call(path, Request{Command: "status"}, &got, 5*time.Second); err != nil || got != "ok" {
		t.Fatalf("a request after them: %q, %v", got, err)
	}
}

package control

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestCallWithFiles: a handler's files reach the client, open and in
// order, with the result; the server closes its copies.
func TestCallWithFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rmqlb.sock")
	servedc := make(chan []*os.File, 3)
	s := &Server{Path: path, Handler: func(ctx context.Context, req Request) (any, error) {
		var files []*os.File
		for _, name := range []string{"a", "b", "c"} {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, []byte("file "+name), 0o600); err != nil {
				return nil, err
			}
			f, err := os.Open(p)
			if err != nil {
				return nil, err
			}
			files = append(files, f)
		}
		servedc <- files
		return WithFiles{Result: map[string]int{"files": len(files)}, Files: files}, nil
	}}
	serve(t, s)

	var got map[string]int
	files, err := CallWithFiles(path, Request{Command: "handover"}, &got, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFiles(files)
	if got["files"] != 3 || len(files) != 3 {
		t.Fatalf("result %v, %d files", got, len(files))
	}
	for i, name := range []string{"a", "b", "c"} {
		b, err := io.ReadAll(files[i])
		if err != nil || string(b) != "file "+name {
			t.Errorf("file %d: %q %v", i, b, err)
		}
	}
	// The server closes its copies once sent (after the client may
	// already have them).
	for _, f := range <-servedc {
		deadline := time.Now().Add(2 * time.Second)
		for {
			if _, err := f.Stat(); err != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the server kept its copy of a file it handed over")
			}
			time.Sleep(time.Millisecond)
		}
	}
	// A plain result through CallWithFiles, and a file result through Call.
	if files, err := CallWithFiles(path, Request{Command: "x"}, nil, 2*time.Second); err != nil || len(files) != 3 {
		t.Errorf("second call: %d files, %v", len(files), err)
	} else {
		closeFiles(files)
	}
	if err := Call(path, Request{Command: "x"}, &got, 2*time.Second); err != nil || got["files"] != 3 {
		t.Errorf("Call of a file result: %v %v", got, err)
	}
}

// TestHandOverKeepsNonBlocking: handing the control socket's own listener
// over (ListenerFile, sent as a file) leaves it non-blocking: the socket's
// open file description is shared, and a blocking one would make the
// server's Accept a blocking system call that Close cannot interrupt.
func TestHandOverKeepsNonBlocking(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rmqlb.sock")
	var ln net.Listener
	s := &Server{Path: path, Handler: func(ctx context.Context, req Request) (any, error) {
		f, err := ListenerFile(ln)
		if err != nil {
			return nil, err
		}
		return WithFiles{Result: 1, Files: []*os.File{f}}, nil
	}}
	var err error
	if ln, err = s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Serve(ctx, ln) }()
	files, err := CallWithFiles(path, Request{Command: "takeover"}, nil, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	closeFiles(files)
	rc, err := ln.(*placedListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var flags int
	rc.Control(func(fd uintptr) { flags, err = unix.FcntlInt(fd, unix.F_GETFL, 0) })
	if err != nil || flags&unix.O_NONBLOCK == 0 {
		t.Errorf("the listener after the hand-over: flags %#x, %v: blocking", flags, err)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return: its Accept blocks")
	}
}

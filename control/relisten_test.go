package control

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serveOn serves ln with s until stop is called or the test ends; stop
// returns once Serve has.
func serveOn(t *testing.T, s *Server, ln net.Listener) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	stopped := false
	stop = func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// answer is a handler that answers every request with who.
func answer(who string) Handler {
	return func(ctx context.Context, req Request) (any, error) { return who, nil }
}

// ask returns who answers a status request at path.
func ask(path string) (string, error) {
	var who string
	err := Call(path, Request{Command: "status"}, &who, 5*time.Second)
	return who, err
}

// askOnce is ask on one connection: a daemon that answers ErrBusy is not
// asked again.
func askOnce(path string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reqLine, err := requestLine(Request{Command: "status"})
	if err != nil {
		return "", err
	}
	var who string
	err = callOnce(ctx, path, reqLine, &who)
	return who, err
}

// TestRelistenAfterRemoval: a socket file removed with its directory is
// noticed (SocketInPlace) and placed again by Relisten, answered by the
// same server; stopping the old listener leaves the new file, and the new
// listener removes it when it stops.
func TestRelistenAfterRemoval(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	path := filepath.Join(dir, "rmqlb.sock")
	s := &Server{Path: path, Handler: answer("daemon")}
	ln, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	stopOld := serveOn(t, s, ln)
	if in, err := SocketInPlace(ln); !in || err != nil {
		t.Fatalf("SocketInPlace of a fresh socket: %v, %v", in, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if in, err := SocketInPlace(ln); in || err != nil {
		t.Fatalf("SocketInPlace after the removal: %v, %v; want false", in, err)
	}
	ln2, err := s.Relisten(ln)
	if err != nil {
		t.Fatalf("Relisten: %v", err)
	}
	stopNew := serveOn(t, s, ln2)
	stopOld()
	if who, err := ask(path); err != nil || who != "daemon" {
		t.Fatalf("after Relisten and the old listener's stop: %q, %v", who, err)
	}
	if in, err := SocketInPlace(ln2); !in || err != nil {
		t.Fatalf("SocketInPlace of the new socket: %v, %v", in, err)
	}
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("new socket file: %v, %v; want mode 0600", fi, err)
	}
	stopNew()
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("socket file left after the new listener stopped: %v", err)
	}
}

// TestRelistenKeepsAnsweringSocket: a socket another live process answers
// on at the path (another daemon's, placed after this one's was removed)
// is neither replaced by Relisten nor removed when this one's listener
// closes.
func TestRelistenKeepsAnsweringSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rmqlb.sock")
	s := &Server{Path: path, Handler: answer("this")}
	ln, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	stop := serveOn(t, s, ln)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	other := &Server{Path: path, Handler: answer("other")}
	oln, err := other.Listen()
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, other, oln)
	if in, err := SocketInPlace(ln); in || err != nil {
		t.Fatalf("SocketInPlace with another socket at the path: %v, %v; want false", in, err)
	}
	if _, err := s.Relisten(ln); !errors.Is(err, ErrAnswered) {
		t.Fatalf("Relisten over an answering socket: %v, want %v", err, ErrAnswered)
	}
	stop()
	if who, err := ask(path); err != nil || who != "other" {
		t.Fatalf("after this server stopped: %q, %v; want the other's answer", who, err)
	}
}

// TestMaxConnsAcrossRelisten: MaxConns bounds the connections of the
// Server, not of each listener: one held on a listener Relisten replaced
// still takes a slot, and a client of the new socket is answered ErrBusy
// until it goes.
func TestMaxConnsAcrossRelisten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rmqlb.sock")
	s := &Server{Path: path, MaxConns: 1, Timeout: time.Minute, Handler: answer("daemon")}
	ln, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, s, ln)
	stuck, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	// Taken once the server has accepted it: a second connection is
	// refused from then on.
	waitBusy(t, path)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	next, err := s.Relisten(ln)
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, s, next)
	ln.Close()
	if who, err := askOnce(path); err == nil || !strings.Contains(err.Error(), ErrBusy.Error()) {
		t.Fatalf("on the new socket, beside the silent client of the old one: %q, %v; want %v", who, err, ErrBusy)
	}
	stuck.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		who, err := ask(path)
		if err == nil && who == "daemon" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the silent client left: %q, %v", who, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

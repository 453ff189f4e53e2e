package control

import (
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
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := (&Server{Path: path}).Listen()
	if err != nil {
		t.Fatalf("Listen over a stale file: %v", err)
	}
	ln.Close()
}

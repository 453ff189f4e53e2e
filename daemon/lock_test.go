package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rmqlb/rmqlb/control"
)

// TestAnswering: a daemon answering on the control socket is named by
// the pid its status gives, not by the process that made the socket (as
// after an upgrade in place); a process that listens and does not answer
// a status is named as the maker of the socket; nothing listening is not
// found, and a socket file left behind by a process that ended is not
// either.
func TestAnswering(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "rmqlb.sock")
	if who, ok := answering(sock); ok || who != "" {
		t.Fatalf("no socket: answering = %q, %v; want \"\", false", who, ok)
	}
	s := &control.Server{Path: sock, Handler: func(ctx context.Context, req control.Request) (any, error) {
		if req.Command != "status" {
			return nil, errors.New("unknown command")
		}
		return map[string]int{"pid": 4242}, nil // the successor of an upgrade
	}}
	ln, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error)
	go func() { served <- s.Serve(ctx, ln) }()
	who, ok := answering(sock)
	cancel()
	<-served
	if !ok || who != " (pid 4242)" {
		t.Errorf("a daemon answering: answering = %q, %v; want \" (pid 4242)\", true", who, ok)
	}
	mute, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	who, ok = answering(sock)
	if want := fmt.Sprintf(" (its socket was made by pid %d)", os.Getpid()); !ok || who != want {
		t.Errorf("listening, no status: answering = %q, %v; want %q, true", who, ok, want)
	}
	mute.(*net.UnixListener).SetUnlinkOnClose(false)
	mute.Close()
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("the socket file should stay behind: %v", err)
	}
	if who, ok := answering(sock); ok {
		t.Errorf("socket file of a closed listener: answering = %q, %v; want not answering", who, ok)
	}
}

// TestRemoveStaleNamesRunningDaemon: remove-stale refuses while a daemon
// answers on the socket and names its pid.
func TestRemoveStaleNamesRunningDaemon(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "rmqlb.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = RemoveStaleVIPs(sock, nil, nil)
	if !errors.Is(err, ErrDaemonRuns) {
		t.Fatalf("RemoveStaleVIPs = %v, want %v", err, ErrDaemonRuns)
	}
	if want := fmt.Sprintf("(its socket was made by pid %d)", os.Getpid()); !strings.Contains(err.Error(), want) {
		t.Errorf("RemoveStaleVIPs = %v, want it to name %s", err, want)
	}
}

package daemon

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAnsweringPid: a process listening on the control socket is found
// with its pid (this test's own); nothing listening is not found, and a
// socket file left behind by a process that ended is not either.
func TestAnsweringPid(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "rmqlb.sock")
	if pid, ok := answeringPid(sock); ok || pid != 0 {
		t.Fatalf("no socket: answeringPid = %d, %v; want 0, false", pid, ok)
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	pid, ok := answeringPid(sock)
	if !ok || pid != os.Getpid() {
		t.Errorf("listening: answeringPid = %d, %v; want %d, true", pid, ok, os.Getpid())
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("the socket file should stay behind: %v", err)
	}
	if pid, ok := answeringPid(sock); ok {
		t.Errorf("socket file of a closed listener: answeringPid = %d, %v; want not answering", pid, ok)
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
	if want := fmt.Sprintf("(pid %d)", os.Getpid()); !strings.Contains(err.Error(), want) {
		t.Errorf("RemoveStaleVIPs = %v, want it to name %s", err, want)
	}
}

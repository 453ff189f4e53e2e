package daemon

import (
	"bufio"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/control"
)

// A running daemon killed while the new process waits for the answer to
// "takeover-ready" never answers: the control socket's listening file is
// the new process's too, so the request is queued there and read by
// nobody. The new process learns of the exit from the pid and ends the
// wait at once, with neither a refusal nor ErrNotSent (it starts afresh,
// as on a lost answer), instead of waiting out takeoverCallTimeout with
// its listeners not served and the dead daemon's VIPs on the interface.
func TestTakeoverReadyPredecessorGone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctl.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var dead atomic.Bool
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		// The request is queued, then the daemon is killed: no answer.
		_, _ = bufio.NewReader(c).ReadBytes('\n')
		dead.Store(true)
		_, _ = c.Read(make([]byte, 1))
	}()
	tk := &Takeover{socket: path, gone: dead.Load}
	start := time.Now()
	_, err = tk.ready([]string{"test-new"})
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the wait for the answer of a dead daemon took %s", took)
	}
	var refused *control.RefusedError
	if err == nil || errors.As(err, &refused) || errors.Is(err, control.ErrNotSent) || !errors.Is(err, errPredecessorGone) {
		t.Errorf("ready: %v, want the running daemon gone", err)
	}
}

// processGone tells a live process, the parent included, from one that
// has exited and been reaped.
func TestProcessGone(t *testing.T) {
	if processGone(os.Getppid())() || processGone(os.Getpid())() {
		t.Error("a live process reported gone")
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatalf("running true: %v", err)
	}
	if !processGone(cmd.Process.Pid)() {
		t.Error("an exited process reported alive")
	}
}

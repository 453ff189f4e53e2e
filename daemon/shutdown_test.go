package daemon

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/internal/freeport"
)

// A reload asked for while the daemon stops (its listeners draining) is
// refused: it starts no part that nobody would stop, so Run returns once
// the drain is over, and status answers during the drain.
func TestReloadWhileStoppingRefused(t *testing.T) {
	l := newLab(t)
	slow := l.file("policy: roundrobin", "policy: roundrobin\n    graceful_timeout: 3s")
	h := newHarness(t, slow)
	startChecked(t, h)
	c, err := net.Dial("tcp", l.bind)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := roundTrip(c, []byte("x")); err != nil {
		t.Fatal(err)
	}
	port2 := freeport.Addr(t, "127.0.0.1")
	h.write(slow + "  - name: mgmt\n    bind: " + port2 + "\n    backends: [{name: a, address: " + l.a.addr() + ", check: {type: none}}]\n")
	h.cancel()
	h.cancel = nil
	// The listener stops accepting: shutdown is draining the session.
	deadline := time.Now().Add(5 * time.Second)
	for {
		cc, err := net.DialTimeout("tcp", l.bind, 100*time.Millisecond)
		if err != nil {
			break
		}
		cc.Close()
		if time.Now().After(deadline) {
			t.Fatal("the listener still accepts 5 s after the stop")
		}
		time.Sleep(5 * time.Millisecond)
	}
	statusDone := make(chan struct{})
	go func() {
		h.d.Status()
		close(statusDone)
	}()
	select {
	case <-statusDone:
	case <-time.After(time.Second):
		t.Error("status did not answer within 1 s while the listeners drain")
	}
	var res control.Reload
	// The control socket serves until the listeners have drained.
	if err := control.Call(h.socket(), control.Request{Command: "reload"}, &res, 10*time.Second); err != nil {
		t.Errorf("reload while stopping: %v", err)
	} else if res.Error == "" || !strings.Contains(res.Error, "stopping") {
		t.Errorf("reload while stopping: %+v, want refused because the daemon is stopping", res)
	}
	select {
	case err := <-h.done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run has not returned 15 s after the stop (graceful_timeout 3s)")
	}
	if cc, err := net.Dial("tcp", port2); err == nil {
		cc.Close()
		t.Fatal("a listener added while the daemon stopped accepts after Run returned")
	}
}

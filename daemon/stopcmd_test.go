package daemon

import (
	"net"
	"strings"
	"testing"
	"time"
)

// TestVRRPCommandWhileStoppingRefused: `rmqlb vrrp release` or `ready`
// asked while the daemon stops (its VRRP instances stopped, its listeners
// draining) is refused: nothing can apply it, and an answer of success
// would tell the operator the host was released when it simply stops.
func TestVRRPCommandWhileStoppingRefused(t *testing.T) {
	l := newLab(t)
	slow := l.file("policy: roundrobin", "policy: roundrobin\n    graceful_timeout: 3s")
	h := newHarness(t, slow)
	startMaster(t, h)
	c, err := net.Dial("tcp", l.bind)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := roundTrip(c, []byte("x")); err != nil {
		t.Fatal(err)
	}
	h.cancel()
	h.cancel = nil
	// The listener stops accepting once the VRRP instances have stopped.
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
	for _, args := range [][]string{{"release", "v"}, {"ready", "v"}} {
		s, err := h.vrrpCommand(args...)
		if err == nil || !strings.Contains(err.Error(), "stopping") {
			t.Errorf("vrrp %q while the daemon stops: %+v, %v; want refused because the daemon is stopping", args, s, err)
		}
	}
	select {
	case err := <-h.done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run has not returned 15 s after the stop")
	}
}

package balancer

import (
	"net"
	"os"
	"testing"
	"time"
)

// The TCP user timeout also ends a session whose backend is alive but
// takes no byte (its receive window stays at zero) for longer than it, as
// a broker does with a publisher it blocks during a resource alarm: the
// kernel gives up on zero-window probes after it too (tcp(7)). This is why
// it is off by default (see Config.TCPUserTimeout): without it such a
// session stays open.
func TestUserTimeoutEndsZeroWindowSession(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ut     time.Duration
		within time.Duration // how long the session is watched
	}{{"with", time.Second, stalledWindow}, {"without", 0, 5 * time.Second}} {
		t.Run(tc.name, func(t *testing.T) {
			block := make(chan struct{})
			srv := newServer(t, "127.0.0.2", func(c net.Conn) { <-block })
			t.Cleanup(func() { close(block) })
			cfg := baseConfig(backendsOf(srv))
			cfg.TCPUserTimeout = tc.ut
			r := startLogged(t, cfg)
			c := r.dial(t)
			stop := make(chan struct{})
			wrote := make(chan struct{})
			go func() {
				defer close(wrote)
				buf := make([]byte, 16<<10)
				for {
					select {
					case <-stop:
						return
					default:
					}
					c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
					if _, err := c.Write(buf); err != nil && !os.IsTimeout(err) {
						return
					}
				}
			}()
			defer func() { close(stop); <-wrote }()
			start := time.Now()
			ended := time.Duration(0)
			for time.Since(start) < tc.within {
				if s := r.Snapshot(); s.Total > 0 && s.Active == 0 {
					ended = time.Since(start)
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			switch {
			case tc.ut > 0 && ended == 0:
				t.Fatalf("the session with a TCP user timeout of %v is still open %v after its backend stopped reading", tc.ut, tc.within)
			case tc.ut > 0:
				t.Logf("the session ended %v after its backend stopped reading (TCP user timeout %v)", ended, tc.ut)
				if m := r.next(t); m["reason"] != EndBrokerReset.String() {
					t.Errorf("session log line %v, want reason %v", m, EndBrokerReset)
				}
			case ended != 0:
				t.Fatalf("the session without a TCP user timeout ended %v after its backend stopped reading", ended)
			}
		})
	}
}

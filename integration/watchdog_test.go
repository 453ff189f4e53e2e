package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/internal/sdnotifytest"
)

// TestWatchdogPings: the real daemon, run with $WATCHDOG_USEC as systemd
// runs it with WatchdogSec=, pings the service manager's watchdog
// (WATCHDOG=1) after READY=1, again and again, every quarter of the
// interval or so; after STOPPING=1 no more.
func TestWatchdogPings(t *testing.T) {
	l := newLab(t)
	h1, h3 := l.Host("h1"), l.Host("h3")
	if _, err := h3.ServeBanner(h3.AddrPort(7001)); err != nil {
		t.Fatal(err)
	}
	d := newDaemon(t, l, h1, daemonConf{LogLevel: "info", VRRP: []vrrpConf{{Priority: 150}}, Listeners: fmt.Sprintf(`  - name: probe
    bind: %s
    check: {type: tcp, interval: 200ms, timeout: 200ms, rise: 1, fall: 2}
    backends:
      - {name: b1, address: %s:7001}
`, vipAP, h3.Addr)})
	sd := sdnotifytest.Listen(t, l.Dir)
	const interval = 2 * time.Second
	p, err := h1.Start("rmqlb", []string{sd.Env(), fmt.Sprintf("WATCHDOG_USEC=%d", interval.Microseconds())}, d.bin, "run", "--config", d.path)
	if err != nil {
		t.Fatal(err)
	}
	if msg := sd.NextLifecycle(t, nil); !msg.Has("READY=1") {
		t.Fatalf("first notification %q, want READY=1\n%s", msg, p.Tail(30))
	}
	var at []time.Time
	for len(at) < 5 {
		msg := sd.NextLifecycle(t, nil)
		if !msg.Has("WATCHDOG=1") {
			t.Fatalf("notification %q, want WATCHDOG=1\n%s", msg, p.Tail(30))
		}
		at = append(at, time.Now())
	}
	// Every interval/4 = 500 ms: 4 gaps within a generous bound of the
	// 2 s that systemd would allow each.
	for i := 1; i < len(at); i++ {
		if gap := at[i].Sub(at[i-1]); gap > interval {
			t.Errorf("WATCHDOG=1 %v after the one before, want within %v", gap, interval)
		}
	}
	t.Logf("pings %v apart on average", at[len(at)-1].Sub(at[0])/time.Duration(len(at)-1))
	if err := p.Stop(30 * time.Second); err != nil {
		t.Fatalf("rmqlb: %v\n%s", err, p.Tail(30))
	}
	rest := sd.Drain(t)
	stopped := false
	for _, m := range rest {
		switch {
		case m.Has("STOPPING=1"):
			stopped = true
		case stopped && m.Has("WATCHDOG=1"):
			t.Fatalf("WATCHDOG=1 after STOPPING=1: %q", rest)
		}
	}
	if !stopped {
		t.Fatalf("notifications at stop %q, want STOPPING=1", rest)
	}
}

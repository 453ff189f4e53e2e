package integration

import (
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/integration/netlab"
	"github.com/rmqlb/rmqlb/internal/rabbittest"
)

func TestMain(m *testing.M) {
	if os.Geteuid() == 0 {
		if gone, err := netlab.Sweep(); len(gone) > 0 || err != nil {
			fmt.Fprintf(os.Stderr, "integration: swept %d leftover namespaces of crashed runs (%v)\n", len(gone), err)
		}
	}
	code := m.Run()
	cleanupBinary()
	if l := rabbittest.Leftovers(); len(l) > 0 {
		fmt.Fprintf(os.Stderr, "integration: leftover RabbitMQ processes: %v\n", l)
		code = 1
	}
	os.Exit(code)
}

var (
	vip     = netip.MustParseAddr("10.77.0.100")
	vipPfx  = netip.MustParsePrefix("10.77.0.100/24")
	vipPort = uint16(5672)
	vipAP   = netip.AddrPortFrom(vip, vipPort)
)

// hostPrios are the priorities of h1, h2, h3.
var hostPrios = map[string]int{"h1": 150, "h2": 100, "h3": 50}

// newLab makes the standard lab: h1..h3 and a client.
func newLab(t *testing.T, tools ...string) *netlab.Lab {
	t.Helper()
	netlab.Require(t, append([]string{"bridge"}, tools...)...)
	l, err := netlab.New(t, netlab.Config{Hosts: []netlab.HostSpec{
		{Name: "h1", Addr: netip.MustParsePrefix("10.77.0.1/24")},
		{Name: "h2", Addr: netip.MustParsePrefix("10.77.0.2/24")},
		{Name: "h3", Addr: netip.MustParsePrefix("10.77.0.3/24")},
		{Name: "client", Addr: netip.MustParsePrefix("10.77.0.50/24")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// brokers returns h1..h3 of the standard lab.
func brokers(l *netlab.Lab) []*netlab.Host {
	return []*netlab.Host{l.Host("h1"), l.Host("h2"), l.Host("h3")}
}

// serveBanners starts a banner server on VIP:port on every broker host, so a
// connect to the VIP succeeds exactly when some host owns it, and says which.
func serveBanners(t *testing.T, l *netlab.Lab) {
	t.Helper()
	for _, h := range brokers(l) {
		if _, err := h.ServeBanner(vipAP); err != nil {
			t.Fatal(err)
		}
	}
}

// waitFor polls cond every 20 ms until it returns true or timeout passes.
// The returned error is the last one cond gave.
func waitFor(timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		last = err
		if time.Now().After(deadline) {
			if last == nil {
				last = fmt.Errorf("condition not met")
			}
			return fmt.Errorf("after %v: %w", timeout, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitSoleHolder waits until exactly want holds the VIP (want nil: nobody).
func waitSoleHolder(l *netlab.Lab, want *netlab.Host, timeout time.Duration) error {
	return waitFor(timeout, func() (bool, error) {
		hs, err := l.Holders(vip)
		if err != nil {
			return false, err
		}
		if want == nil {
			return len(hs) == 0, fmt.Errorf("holders %s, want none", netlab.HostNames(hs))
		}
		return len(hs) == 1 && hs[0] == want, fmt.Errorf("holders %s, want [%s]", netlab.HostNames(hs), want.Name)
	})
}

// stableHolder checks that exactly want holds the VIP at every poll for d.
func stableHolder(l *netlab.Lab, want *netlab.Host, d time.Duration) error {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		hs, err := l.Holders(vip)
		if err != nil {
			return err
		}
		if len(hs) != 1 || hs[0] != want {
			return fmt.Errorf("holders %s at %v, want [%s]", netlab.HostNames(hs), time.Now().Format("15:04:05.000"), want.Name)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

// watchGone polls (every 5 ms) whether h has addr until it has not. stop
// ends the watch and returns when addr was first seen gone, or false.
func watchGone(h *netlab.Host, addr netip.Addr) (stop func() (time.Time, bool)) {
	gone := make(chan time.Time, 1)
	quit := make(chan struct{})
	go func() {
		defer close(gone)
		for {
			select {
			case <-quit:
				return
			default:
			}
			if ok, err := h.HasAddr(addr); err == nil && !ok {
				gone <- time.Now()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return func() (time.Time, bool) {
		close(quit)
		at, ok := <-gone
		return at, ok
	}
}

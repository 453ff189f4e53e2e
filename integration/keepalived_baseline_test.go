package integration

import (
	"syscall"
	"testing"
	"time"

	"net/netip"

	"github.com/rmqlb/rmqlb/integration/netlab"
)

// TestKeepalivedBaseline runs three keepalived 2.2.7 at VRRPv3 100 ms
// (priorities 150/100/50), cuts the master's link and measures the client's
// outage: the calibration of the harness (keepalived's figures in this lab
// are in README.md) and of the bound the rmqlb tests use.
func TestKeepalivedBaseline(t *testing.T) {
	l := newLab(t, "keepalived")
	serveBanners(t, l)
	advert := 100 * time.Millisecond
	procs := map[string]*netlab.Proc{}
	for _, h := range brokers(l) {
		p, err := h.StartKeepalived(netlab.KeepalivedInstance{
			VRID: 1, Priority: hostPrios[h.Name], Version: 3, Advert: advert,
			VIPs: []netip.Prefix{vipPfx},
		})
		if err != nil {
			t.Fatal(err)
		}
		procs[h.Name] = p
	}
	h1, h2 := l.Host("h1"), l.Host("h2")
	if err := waitSoleHolder(l, h1, 10*time.Second); err != nil {
		t.Fatalf("keepalived h1 never became sole master: %v", err)
	}
	r, cut, _ := cutOver(t, l, h1, h2, 3*time.Second, 500*time.Millisecond, 500*time.Millisecond)
	t.Logf("keepalived v3 100ms link cut: %s", r)
	o, ok := failoverOutage(r, cut, "h2")
	if !ok {
		t.Fatalf("client never reached h2 after the cut: %s", r)
	}
	within(t, "keepalived link cut: client outage", o.Duration(), linkCutBound(advert, 100))
	if n := len(r.Owners); n < 2 || r.Owners[n-1].Banner != "h2" {
		t.Errorf("owners %v, want ...->h2", r.Owners)
	}

	// A clean stop of the master (h1 again, after preempting back): h2
	// takes over after Skew_Time, within the bound the rmqlb test uses.
	if err := l.RestoreLink(h1); err != nil {
		t.Fatal(err)
	}
	if err := waitSoleHolder(l, h1, 5*time.Second); err != nil {
		t.Fatalf("h1 did not preempt back: %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	probe, err := l.Host("client").StartProbe(vipAP, netlab.ProbeConfig{ReadBanner: true})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if err := procs["h1"].Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := waitSoleHolder(l, h2, 3*time.Second); err != nil {
		t.Fatalf("h2 did not take over after SIGTERM of h1: %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	r = probe.Stop()
	t.Logf("keepalived v3 100ms SIGTERM: %s", r)
	within(t, "keepalived SIGTERM: longest client outage", r.LongestOutage.Duration(), cleanStopBound(advert, 100))
}

package vrrp

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

// reconfTransport is a fakeTransport that records Reconfigure calls.
type reconfTransport struct {
	*fakeTransport
	got chan TransportConfig
}

func (r *reconfTransport) Reconfigure(cfg TransportConfig) error {
	r.got <- cfg
	return nil
}

// An Update that changes only the VIPs gives the transport the new VIPs
// as the addresses it must never take for its source (after a rebind, an
// automatic source is picked again); one that changes neither VIPs nor
// unicast settings does not reconfigure it.
func TestUpdateVIPsReconfiguresExclude(t *testing.T) {
	tr := &reconfTransport{fakeTransport: newFakeTransport(local), got: make(chan TransportConfig, 4)}
	h := newInstanceHarness(t, testConfig(), nil, newFakeOwner(), func(o *Options) { o.Transport = tr })
	h.run(t)
	vip2 := netip.MustParsePrefix("10.99.0.101/24")
	if err := h.inst.Update(testConfig(func(c *Config) { c.Priority = 90 })); err != nil {
		t.Fatal(err)
	}
	if err := h.inst.Update(testConfig(func(c *Config) { c.Priority = 90; c.VIPs = []netip.Prefix{vip, vip2} })); err != nil {
		t.Fatal(err)
	}
	select {
	case cfg := <-tr.got:
		if want := []netip.Addr{vip.Addr(), vip2.Addr()}; !slices.Equal(cfg.Exclude, want) {
			t.Fatalf("Reconfigure with Exclude %v, want %v", cfg.Exclude, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the transport was not reconfigured after the VIPs changed")
	}
	select {
	case cfg := <-tr.got:
		t.Fatalf("a second Reconfigure %+v", cfg)
	case <-time.After(100 * time.Millisecond):
	}
}

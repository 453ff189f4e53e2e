package daemon

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/rmqlb/rmqlb/config"
)

// TestLiveWarnings: the warnings of interfaces that exist now and of bind
// addresses the host has now are left out, the others kept in their
// order, and the list given is not changed; addresses the host cannot
// list are taken as still missing.
func TestLiveWarnings(t *testing.T) {
	ws := []string{"w1", "bond0 missing", "w2", "eth9 missing", "10.0.0.9 missing"}
	hw := config.HostLacks{
		Interfaces: []config.MissingInterface{{Interface: "bond0", Warning: "bond0 missing"}, {Interface: "eth9", Warning: "eth9 missing"}},
		Binds:      []config.MissingBind{{Addr: netip.MustParseAddr("10.0.0.9"), Warning: "10.0.0.9 missing"}},
	}
	lookup := func(have []string) func(string) (*net.Interface, error) {
		return func(name string) (*net.Interface, error) {
			if slices.Contains(have, name) {
				return &net.Interface{Name: name}, nil
			}
			return nil, errors.New("no such network interface")
		}
	}
	addrs := func(have []string) func() (map[netip.Addr]bool, error) {
		return func() (map[netip.Addr]bool, error) {
			if slices.Contains(have, "error") {
				return nil, errors.New("netlink: no buffer space")
			}
			m := map[netip.Addr]bool{}
			for _, a := range have {
				if p, err := netip.ParseAddr(a); err == nil {
					m[p] = true
				}
			}
			return m, nil
		}
	}
	for _, c := range []struct {
		have []string
		want []string
	}{
		{nil, ws},
		{[]string{"bond0"}, []string{"w1", "w2", "eth9 missing", "10.0.0.9 missing"}},
		{[]string{"bond0", "eth9", "10.0.0.1"}, []string{"w1", "w2", "10.0.0.9 missing"}},
		{[]string{"10.0.0.9"}, []string{"w1", "bond0 missing", "w2", "eth9 missing"}},
		{[]string{"eth9", "10.0.0.9", "bond0"}, []string{"w1", "w2"}},
		{[]string{"eth9", "error"}, []string{"w1", "bond0 missing", "w2", "10.0.0.9 missing"}},
	} {
		if got := liveWarnings(ws, hw.Resolved(lookup(c.have), addrs(c.have))); !slices.Equal(got, c.want) {
			t.Errorf("with %v: %q, want %q", c.have, got, c.want)
		}
	}
	if !slices.Equal(ws, []string{"w1", "bond0 missing", "w2", "eth9 missing", "10.0.0.9 missing"}) {
		t.Errorf("the list given changed: %q", ws)
	}
}

// TestCurrentWarningsLooksUpMissingOnly: the interfaces looked up for the
// status are those the host lacked when the file was read, and the host's
// addresses are listed only when a listener's bind address was missing
// then: a status or a scrape costs no look-up when the host had them all.
func TestCurrentWarningsLooksUpMissingOnly(t *testing.T) {
	l := newLab(t)
	for _, c := range []struct {
		iface, bind string
		want        []string
		listed      bool
	}{
		{"lo", "127.0.0.1", nil, false},
		{"nosuch0", "127.0.0.1", []string{"nosuch0"}, false},
		{"lo", "192.0.2.77", nil, true},
	} {
		h := newHarness(t, strings.Replace(l.file("interface: eth0", "interface: "+c.iface), "bind: 127.0.0.1", "bind: "+c.bind, 1))
		cfg, err := config.Load(h.path)
		if err != nil {
			t.Fatal(err)
		}
		h.d.warnAbout(cfg)
		var looked []string
		listed := false
		h.d.mu.Lock()
		h.d.lookupInterface = func(name string) (*net.Interface, error) {
			looked = append(looked, name)
			return nil, errors.New("no such network interface")
		}
		h.d.hostAddrs = func() (map[netip.Addr]bool, error) {
			listed = true
			return nil, nil
		}
		h.d.mu.Unlock()
		h.d.currentWarnings()
		if !slices.Equal(looked, c.want) || listed != c.listed {
			t.Errorf("interface %s, bind %s: looked up %v, listed the host's addresses %v; want %v, %v",
				c.iface, c.bind, looked, listed, c.want, c.listed)
		}
	}
}

// TestBindWarningGoesWithTheAddress: the warning of a listener bound to an
// address that is neither the host's nor a VIP of the file is in the
// status while the host lacks the address, and leaves it once the host
// has it (keepalived added its VIP here), without a reload; it is back
// when the address goes again.
func TestBindWarningGoesWithTheAddress(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, strings.Replace(l.file(), "bind: 127.0.0.1", "bind: 192.0.2.77", 1))
	cfg, err := config.Load(h.path)
	if err != nil {
		t.Fatal(err)
	}
	h.d.warnAbout(cfg)
	missing := "192.0.2.77 is neither an address of this host nor a VIP of this file"
	has := func() bool {
		return slices.ContainsFunc(h.d.Status().ConfigWarnings, func(w string) bool { return strings.Contains(w, missing) })
	}
	if !has() {
		t.Fatalf("warnings %q, want one naming the bind address", h.d.Status().ConfigWarnings)
	}
	local := map[netip.Addr]bool{netip.MustParseAddr("192.0.2.77"): true}
	h.d.mu.Lock()
	h.d.hostAddrs = func() (map[netip.Addr]bool, error) { return local, nil }
	h.d.mu.Unlock()
	if has() {
		t.Fatalf("warnings once the host has the address %q, want none naming it", h.d.Status().ConfigWarnings)
	}
	h.d.mu.Lock()
	h.d.hostAddrs = func() (map[netip.Addr]bool, error) { return map[netip.Addr]bool{}, nil }
	h.d.mu.Unlock()
	if !has() {
		t.Fatalf("warnings once the address went %q, want the one naming it", h.d.Status().ConfigWarnings)
	}
}

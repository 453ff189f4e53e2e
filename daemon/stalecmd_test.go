package daemon

import (
	"net/netip"
	"slices"
	"testing"
)

// TestScopeRecorded: the daemon records the interfaces and VIPs it runs
// beside its control socket at start and after each reload (remove-stale
// reads them after the daemon ended, whatever the file says by then); a
// change that waits for a restart is not in it.
func TestScopeRecorded(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startMaster(t, h)
	socket := h.d.cfg.ControlSocket
	want := func(iface string, vips ...string) {
		t.Helper()
		scope, err := ReadScope(socket)
		if err != nil {
			t.Fatal(err)
		}
		var ps []netip.Prefix
		for _, v := range vips {
			ps = append(ps, netip.MustParsePrefix(v))
		}
		if len(scope) != 1 || scope[0].Interface != iface || !slices.Equal(scope[0].VIPs, ps) {
			t.Fatalf("recorded scope %+v, want %s %v", scope, iface, ps)
		}
	}
	want("eth0", "192.0.2.100/32")
	if r := h.reload(l.file("virtual_ipaddress: [192.0.2.100/32]", "virtual_ipaddress: [192.0.2.100/32, 192.0.2.101/32]")); !r.OK() {
		t.Fatalf("reload: %+v", r)
	}
	want("eth0", "192.0.2.100/32", "192.0.2.101/32")
	// An interface change waits for a restart: the VIPs stay on eth0.
	if r := h.reload(l.file("interface: eth0", "interface: eth1")); !r.OK() || len(r.Pending) != 1 {
		t.Fatalf("reload: %+v", r)
	}
	want("eth0", "192.0.2.100/32", "192.0.2.101/32")
}

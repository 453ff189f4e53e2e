package daemon

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/rmqlb/rmqlb/config"
)

// effectsModel has a listener on a VIP of its VRRP instance, one on a
// wildcard address and one on another address.
const effectsModel = `vrrp_instances:
  - name: v
    interface: eth0
    virtual_router_id: 1
    priority: 150
    virtual_ipaddress: [192.0.2.100/32, 192.0.2.101/32]
listeners:
  - name: onvip
    bind: 192.0.2.100:5672
    backends: [{name: a, address: 198.51.100.1:5672}]
  - name: wild
    bind: 0.0.0.0:5673
    backends: [{name: a, address: 198.51.100.1:5672}]
  - name: other
    bind: 198.51.100.9:5674
    graceful_timeout: 1m
    backends: [{name: a, address: 198.51.100.1:5672}]
`

// TestLeavingSessions: a listener that stops closes its sessions at once
// when bound to a VIP of this daemon, and gives them its graceful_timeout
// (default 10 s) otherwise.
func TestLeavingSessions(t *testing.T) {
	c, err := config.Parse([]byte(effectsModel))
	if err != nil {
		t.Fatal(err)
	}
	f := liveFacts{listeners: map[string]int64{"onvip": 3, "wild": 1, "other": 0}}
	for _, tc := range []struct{ listener, want string }{
		{"onvip", "its 3 sessions are closed at once"},
		{"wild", "its 1 session may finish within 10s (graceful_timeout); the rest are then closed"},
		{"other", "it has no session"},
	} {
		l, _ := c.Listener(tc.listener)
		if got := leavingSessions(c, l, f); !slices.Equal(got, []string{tc.want}) {
			t.Errorf("%s: %q, want %q", tc.listener, got, tc.want)
		}
	}
	if got := leavingSessions(c, &config.Listener{Name: "gone"}, f); !slices.Equal(got, []string{"it does not run"}) {
		t.Errorf("a listener that does not run: %q", got)
	}
}

// TestVIPSessions: the sessions through VIPs that leave are counted on the
// listeners bound to them; a wildcard listener's are those made to them.
func TestVIPSessions(t *testing.T) {
	c, err := config.Parse([]byte(effectsModel))
	if err != nil {
		t.Fatal(err)
	}
	f := liveFacts{listeners: map[string]int64{"onvip": 2, "wild": 5, "other": 4}}
	vips := []netip.Addr{netip.MustParseAddr("192.0.2.100")}
	want := []string{
		"listener onvip: its 2 sessions are closed at once",
		"listener wild (on 0.0.0.0:5673): those of its 5 sessions made to 192.0.2.100 are closed at once",
	}
	if got := vipSessions(c, vips, f); !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	f.listeners["onvip"] = 0
	want[0] = "listener onvip on it has no session"
	if got := vipSessions(c, vips, f); !slices.Equal(got, want) {
		t.Errorf("no session on the VIP: got %q\nwant %q", got, want)
	}
	if got := vipSessions(c, []netip.Addr{netip.MustParseAddr("192.0.2.101")}, liveFacts{listeners: map[string]int64{"wild": 0}}); len(got) != 0 {
		t.Errorf("no listener on the VIP, none with sessions: %q", got)
	}
}

package control

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/netsetup"
	"github.com/rmqlb/rmqlb/vrrp"
)

func fixture() Status {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	vip := netip.MustParsePrefix("10.77.0.100/24")
	return Status{
		Version: "test", PID: 42, Started: now.Add(-time.Hour), Now: now, Config: "/etc/rmqlb/rmqlb.yaml",
		VRRP: []VRRP{{
			Snapshot: vrrp.Snapshot{
				Name: "rabbitmq", Interface: "eth0", VRID: 1, Version: 3, State: vrrp.StateBackup,
				ConfiguredPriority: 100, EffectivePriority: 40, PriorityAdjust: -60,
				VIPs:   []netip.Prefix{vip},
				Master: &vrrp.MasterInfo{Addr: netip.MustParseAddr("10.77.0.1"), Priority: 150, Heard: now.Add(-50 * time.Millisecond)},
				Since:  now.Add(-90 * time.Second), Reason: "higher priority master",
				Counters: vrrp.Counters{AdvertsSent: 3, AdvertsReceived: 900,
					Dropped: map[string]uint64{"auth": 2, "ttl": 1, "vrid": 0}},
			},
			Addresses: netsetup.VIPSetSnapshot{Interface: "eth0", VIPs: []netsetup.VIPSnapshot{{Prefix: vip, Present: false}}},
			Tracks:    []healthcheck.TrackStatus{{Rule: "amqp/rmq2", Weight: -60, Failing: true}},
		}},
		Listeners: []balancer.Snapshot{{
			Name: "amqp", Bind: netip.MustParseAddrPort("10.77.0.100:5672"), Policy: "wrr", Listening: true,
			Active: 7, Total: 12,
			Backends: []balancer.BackendSnapshot{{Name: "rmq2", Address: netip.MustParseAddrPort("10.77.0.2:5672"),
				State: backend.Down, Weight: 10, BytesIn: 2048, LastChange: now.Add(-30 * time.Second), LastChangeReason: "3 consecutive failures"}},
		}},
		Checks: []healthcheck.BackendStatus{{Backend: backend.ID{Listener: "amqp", Name: "rmq2"}, State: backend.Down, Health: backend.Down,
			Reason: "3 consecutive failures: waiting for Connection.Start: timeout", Since: now.Add(-30 * time.Second),
			ConsecutiveFailures: 3}},
	}
}

func TestFormat(t *testing.T) {
	var b bytes.Buffer
	if err := Format(&b, fixture()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"rmqlb test  pid 42  up 1h0m0s",
		"BACKUP", "1m30s", "100/40", "10.77.0.1 prio 150, 50ms ago", "10.77.0.100/24 (absent)", "higher priority master",
		"3 (auth=2 ttl=1)",
		"track rabbitmq: amqp/rmq2 weight -60 FAILING",
		"LISTENER amqp on 10.77.0.100:5672 (wrr), listening: 7 active, 12 total",
		"rmq2     10.77.0.2:5672  DOWN   DOWN", "2.0KiB", "30s ago: 3 consecutive failures",
		"waiting for Connection.Start: timeout",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// The human table is made from the JSON the daemon sends: a round trip
// through JSON must not lose what Format shows.
func TestFormatAfterJSONRoundTrip(t *testing.T) {
	s := fixture()
	raw, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back Status
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	Format(&a, s)
	Format(&b, back)
	if a.String() != b.String() {
		t.Errorf("formatting differs after JSON round trip:\n%s\n---\n%s", a.String(), b.String())
	}
}

package control

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/netsetup"
	"github.com/rmqlb/rmqlb/notify"
	"github.com/rmqlb/rmqlb/vrrp"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/ from the output")

var fixtureNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func fixture() Status {
	now := fixtureNow
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
			Addresses: netsetup.VIPSetSnapshot{Interface: "eth0", VIPs: []netsetup.VIPSnapshot{{Prefix: vip, Present: false, Marker: netsetup.MarkerLabelProto}}},
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

// fullFixture is a degraded status in which every field, optional ones
// included, is set: two VRRP instances (a MASTER that lost a VIP and
// reports faults, a BACKUP), a partly refused reload, a listener with
// persistence entries and backends in every kind of state.
func fullFixture() Status {
	now := fixtureNow
	s := fixture()
	s.OpenFiles = &OpenFiles{Open: 214, Limit: 65536}
	left := 312
	s.Previous = &PreviousProcess{PID: 2211, Sessions: 1840, SessionsLeft: &left, Until: now.Add(38 * time.Second), CloseSpread: 50 * time.Second}
	s.ConfigChange = &ConfigChange{Modified: now.Add(-12 * time.Minute)}
	s.ConfigWarnings = []string{"vrrp_instances[0].notify.master (line 12): the daemon will not run the hook: /etc/rmqlb/hooks/vip.sh is writable by group ops (gid 1001), mode 0775: whoever can change it could run commands as the daemon"}
	s.StateFile = &StateFileError{Path: "/var/lib/rmqlb/state.json", Op: StateFileWrite, Since: now.Add(-5 * time.Minute),
		Error: "open /var/lib/rmqlb/.state.json.2266: read-only file system"}
	s.Reload = &Reload{At: now.Add(-10 * time.Minute), Error: "",
		Applied: []string{"listener amqp updated"},
		Refused: []string{"listener mgmt: bind 10.77.0.100:15672: address already in use"},
		Pending: []string{"line 7: vrrp_instances[0].interface: changed from eth0 to eth2: needs a restart"}}
	vip2 := netip.MustParsePrefix("10.77.0.101/24")
	vip3 := netip.MustParsePrefix("fd00:77::101/64")
	s.VRRP[0].Refused = &vrrp.RefusedAdvert{From: netip.MustParseAddr("10.77.0.9"), Priority: 120, Reason: "auth",
		At: now.Add(-3 * time.Second), Count: 2}
	m := s.VRRP[0]
	m.Snapshot = vrrp.Snapshot{
		Name: "mgmt", Interface: "eth1", VRID: 2, Version: 2, State: vrrp.StateMaster,
		ConfiguredPriority: 200, EffectivePriority: 200, AdvertInterval: time.Second, MasterAdverInterval: time.Second,
		MaxAdoptedInterval: 10 * time.Second, Preempt: true, PreemptDelay: 5 * time.Second,
		Source: netip.MustParseAddr("10.77.1.2"), Destinations: []netip.Addr{netip.MustParseAddr("224.0.0.18")},
		AllowedPeers: []netip.Addr{netip.MustParseAddr("10.77.1.3")}, Checksum: vrrp.ChecksumRFC9568,
		VIPs: []netip.Prefix{vip2, vip3}, LinkUp: true, OwnerFault: "adding VIP fd00:77::101/64: permission denied",
		Master: &vrrp.MasterInfo{Addr: netip.MustParseAddr("10.77.1.3"), Priority: 100, AdvertInterval: time.Second, Heard: now.Add(-time.Hour)},
		Since:  now.Add(-2 * time.Hour), Reason: "preempted a lower priority master",
		Counters: vrrp.Counters{AdvertsSent: 7200, AdvertsReceived: 12, Dropped: map[string]uint64{"auth": 0}, SendErrors: 1,
			OwnerErrors: 2, OwnerFaults: 1, Transitions: 3, IntervalClamped: 1, Rebinds: 1, LinkWatchErrors: 1},
		RealTime: "SCHED_FIFO priority 50",
		Sender:   "process (SCHED_FIFO priority 50, memory locked)",
	}
	m.Addresses = netsetup.VIPSetSnapshot{Interface: "eth1", Label: "eth1:rmqlb", Held: true,
		Error: "reading addresses of eth1: interrupted", Fault: "adding VIP fd00:77::101/64: permission denied", Faults: 1,
		VIPs: []netsetup.VIPSnapshot{
			{Prefix: vip2, Present: true, Marked: true, Owned: true, Marker: netsetup.MarkerLabelProto, Readded: 2, GARPSent: 15,
				LastGARP: now.Add(-3 * time.Second)},
			{Prefix: vip3, Marker: netsetup.MarkerBookkeeping, LastError: "adding VIP fd00:77::101/64: permission denied"},
		}}
	m.Tracks = []healthcheck.TrackStatus{{Rule: "listener mgmt", Weight: -10}}
	m.Addresses.VIPs[0].PeerAnnounced, m.Addresses.VIPs[0].LastPeerAnnounce, m.Addresses.VIPs[0].LastPeerMAC = 2, now.Add(-2*time.Hour), "02:00:00:00:00:03"
	m.Addresses.VIPs[0].PeerSuperseded = 1
	m.Counters.PeerAnnouncements, m.Counters.Handovers = 1, 1
	m.RecentTransitions = changesTo(vrrp.StateMaster, now.Add(-3*time.Hour), now.Add(-2*time.Hour))
	// rabbitmq flaps: five changes within ten minutes.
	s.VRRP[0].Counters.Transitions = 7
	s.VRRP[0].RecentTransitions = changesTo(vrrp.StateBackup, now.Add(-9*time.Minute), now.Add(-7*time.Minute), now.Add(-5*time.Minute), now.Add(-3*time.Minute), now.Add(-90*time.Second))
	m.Conflict = &vrrp.VIPConflict{Addr: vip2.Addr(), At: now.Add(-4 * time.Second), Count: 3}
	m.Differing = &vrrp.DifferingAddrs{From: netip.MustParseAddr("10.77.1.3"), Priority: 100, Addrs: []netip.Addr{vip2.Addr(), netip.MustParseAddr("10.77.0.102")},
		Since: now.Add(-20 * time.Second), At: now.Add(-2 * time.Second), Count: 18}
	m.LowerMaster = &vrrp.LowerMasterHeard{From: netip.MustParseAddr("10.77.1.3"), Priority: 100, At: now.Add(-7 * time.Second), Since: now.Add(-11 * time.Second), Count: 2}
	m.SendFailing = &vrrp.SendFailure{Dst: netip.MustParseAddr("10.77.1.3"), Error: "sending VRRP advert to 10.77.1.3: no route to host",
		Since: now.Add(-12 * time.Second), At: now.Add(-time.Second), Failed: 12}
	m.Released, m.ReleasedSince, m.ReleasedUntil, m.ReleaseReason = true, now.Add(-time.Minute), now.Add(29*time.Minute), "operator: planned maintenance"
	m.Handover = &vrrp.Handover{Peer: netip.MustParseAddr("10.77.1.3"), PeerPriority: 100, Planned: true, Requested: now.Add(-61 * time.Second),
		PeerHeard: now.Add(-time.Minute), Done: now.Add(-59 * time.Second), Outcome: "peer announced the VIPs", Announced: true}
	m.Notify = &notify.Snapshot{Configured: []string{"master", "stop"}, Runs: 4, Failures: 1, Dropped: 0, Queued: 1, Running: true,
		LastError: "exit status 3", LastErrorAt: now.Add(-time.Hour),
		Last: &notify.RunInfo{State: "MASTER", Result: notify.ResultFailed, Error: "exit status 3", Started: now.Add(-time.Hour), Duration: 20 * time.Millisecond}}
	s.VRRP = append(s.VRRP, m)

	l := &s.Listeners[0]
	l.RefusedFdLimit, l.HandshakeTimeouts, l.FinTimeouts, l.IdleTimeouts = 1, 2, 3, 4
	l.Refused, l.NoBackend, l.MaxConn = 5, 6, 2000
	l.StickyEntries, l.StickyMax, l.StickyFull = 3, 100000, 7
	l.MaxConnPerClient, l.RefusedPerClient, l.Clients, l.ClientsAtLimit = 8, 12, 4, 1
	l.AllowedClients, l.RefusedNotAllowed = []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("192.0.2.7/32")}, 9
	s.ClientListFiles = []ClientListFile{{Listener: l.Name, Field: "allowed_clients_file", Path: "/etc/haproxy/allow.lst", Prefixes: 1}}
	l.ClientsNotAllowed, l.NotAllowedClients = 2, []balancer.ClientSnapshot{{Address: netip.MustParseAddr("198.51.100.9"), Sessions: 2, NotAllowed: true},
		{Address: netip.MustParseAddr("198.51.100.4"), Sessions: 1, NotAllowed: true}}
	l.BusiestClients = []balancer.ClientSnapshot{{Address: netip.MustParseAddr("10.1.0.7"), Sessions: 8},
		{Address: netip.MustParseAddr("10.1.0.9"), Sessions: 2}, {Address: netip.MustParseAddr("198.51.100.9"), Sessions: 2, NotAllowed: true},
		{Address: netip.MustParseAddr("10.1.1.4"), Sessions: 1}}
	l.Sticky = []balancer.StickySnapshot{
		{Client: netip.MustParsePrefix("10.1.0.0/24"), Backend: "rmq1", Sessions: 2},
		{Client: netip.MustParsePrefix("10.1.1.0/24"), Backend: "rmq3", Expires: now.Add(45 * time.Second)},
	}
	l.Backends = append([]balancer.BackendSnapshot{
		{Name: "rmq1", Address: netip.MustParseAddrPort("10.77.0.1:5672"), State: backend.Up, Weight: 30, ConfiguredWeight: 10,
			WeightOverride: true, WeightPercent: 100, MaxConn: 1000, Active: 5, Total: 9, BytesIn: 5 << 20, BytesOut: 3 << 30,
			LastChange: now.Add(-time.Hour), LastChangeReason: "1 consecutive pass",
			Ended: map[string]uint64{"client_closed": 812, "broker_reset": 3, "moved": 21, "broker_closed": 3}},
	}, l.Backends...)
	l.Backends = append(l.Backends,
		balancer.BackendSnapshot{Name: "rmq3", Address: netip.MustParseAddrPort("10.77.0.3:5672"), State: backend.Drain, Weight: 10,
			ConfiguredWeight: 10, WeightPercent: 40, Active: 2, Total: 3, ConnectFailures: 1, LastChange: now.Add(-5 * time.Minute),
			LastChangeReason: "operator set drain"})
	l.Backends[1].ConfiguredWeight, l.Backends[1].WeightPercent = 10, 100
	l.Removed = []balancer.RemovedBackendSnapshot{{Name: "rmq4", Address: netip.MustParseAddrPort("10.77.0.4:5672"), Active: 3,
		BytesIn: 1 << 20, BytesOut: 7 << 20, RemovedAt: now.Add(-2 * time.Minute)}}
	l.Active += 3
	s.Listeners = append(s.Listeners, balancer.Snapshot{Name: "mgmt", Bind: netip.MustParseAddrPort("10.77.0.101:15672"),
		Policy: "leastconn", Listening: false, Backends: []balancer.BackendSnapshot{}})

	s.Checks = []healthcheck.BackendStatus{
		{Backend: backend.ID{Listener: "amqp", Name: "rmq1"}, State: backend.Up, Health: backend.Up, Admin: backend.AdminNone,
			Reason: "1 consecutive pass", Since: now.Add(-time.Hour), WeightPercent: 100, ConsecutivePasses: 40,
			LastCheck: now.Add(-time.Second), LastLatency: 1500 * time.Microsecond, LastError: "dial tcp 10.77.0.1:5672: connection refused",
			LastWarning: "memory alarm", LastInfo: "RabbitMQ 3.13.7", Cluster: "rabbit@rmq1", Checks: 41, Failures: 1, NextCheck: now.Add(time.Second),
			InconclusiveChecks: 3, InconclusiveSince: now.Add(-4 * time.Second), LastInconclusive: "local shortage: connecting to 10.77.0.1:5672: dial tcp 10.77.0.1:5672: socket: too many open files",
			History: []healthcheck.Change{{Time: now.Add(-time.Hour), From: backend.Down, To: backend.Up, Reason: "1 consecutive pass"}}},
		s.Checks[0],
		{Backend: backend.ID{Listener: "amqp", Name: "rmq3"}, State: backend.Drain, Health: backend.Up, Admin: backend.AdminDrain,
			Reason: "operator set drain", Since: now.Add(-5 * time.Minute), WeightPercent: 40, ConsecutivePasses: 3,
			LastCheck: now.Add(-time.Second), Checks: 300, NextCheck: now.Add(time.Second),
			BusyChecks: 4, BusySince: now.Add(-2 * time.Second)},
	}
	// DOWN for a timeout, and failing since for another reason.
	s.Checks[1].LastError = "connecting to 10.77.0.2:5672: TLS handshake failed: x509: certificate has expired"
	// rmq2 flaps (three DOWNs within ten minutes), rmq1 went DOWN once of late, rmq3 long ago.
	s.Checks[1].Downs = 4
	s.Checks[1].RecentDowns = []time.Time{now.Add(-40 * time.Minute), now.Add(-9 * time.Minute), now.Add(-4 * time.Minute), now.Add(-30 * time.Second)}
	s.Checks[0].Downs, s.Checks[0].RecentDowns = 2, []time.Time{now.Add(-3 * time.Hour), now.Add(-5 * time.Minute)}
	fail, pass := "3 consecutive failures: waiting for Connection.Start: timeout", "2 consecutive passes"
	s.Checks[1].History = []healthcheck.Change{
		{Time: now.Add(-9 * time.Minute), From: backend.Up, To: backend.Down, Reason: fail},
		{Time: now.Add(-8 * time.Minute), From: backend.Down, To: backend.Up, Reason: pass},
		{Time: now.Add(-4 * time.Minute), From: backend.Up, To: backend.Down, Reason: "3 consecutive failures: EOF"},
		{Time: now.Add(-3 * time.Minute), From: backend.Down, To: backend.Up, Reason: pass},
		{Time: now.Add(-30 * time.Second), From: backend.Up, To: backend.Down, Reason: fail},
	}
	s.Checks[2].Downs, s.Checks[2].RecentDowns = 1, []time.Time{now.Add(-2 * time.Hour)}
	// The broker certificates of rmq1 and rmq3, rmq1's within 30 days, and the
	// checks' client certificate within 7.
	client := healthcheck.Certificate{Role: healthcheck.CertClient, Subject: "CN=rmqlb-check", NotAfter: now.Add(5*24*time.Hour + 3*time.Hour)}
	s.Checks[0].Certificates = []healthcheck.Certificate{{Role: healthcheck.CertBroker, Subject: "CN=rmq1.example.com,O=Example", NotAfter: now.Add(12 * 24 * time.Hour)}, client}
	s.Checks[2].Certificates = []healthcheck.Certificate{{Role: healthcheck.CertBroker, Subject: "CN=rmq3.example.com,O=Example", NotAfter: now.Add(200 * 24 * time.Hour)}, client}
	s.Moves = []SessionMove{
		{Backend: backend.ID{Listener: "amqp", Name: "rmq1"}, Rate: 20, Since: now.Add(-9 * time.Minute), Sessions: 150, Moved: 150,
			Ended: now.Add(-8*time.Minute - 30*time.Second), Outcome: OutcomeMoved},
		{Backend: backend.ID{Listener: "amqp", Name: "rmq2"}, Rate: 10, Since: now.Add(-6 * time.Minute), Sessions: 90, Moved: 40, Left: 50,
			Ended: now.Add(-5 * time.Minute), Outcome: "the backend left DRAIN (now UP)"},
		{Backend: backend.ID{Listener: "amqp", Name: "rmq3"}, Rate: 10, Since: now.Add(-30 * time.Second), Sessions: 200, Moved: 80, Left: 120,
			Paused: "no other backend of listener amqp serves"},
	}
	s.Rebalances = []Rebalance{
		{Listener: "amqp", Rate: 20, Since: now.Add(-4 * time.Minute), Moved: 33, Ended: now.Add(-3 * time.Minute), Outcome: OutcomeBalanced,
			Shares: []BackendShare{BackendShare{Backend: "rmq1", Sessions: 67, Share: 66.7}, BackendShare{Backend: "rmq2", Sessions: 66, Share: 66.7}, BackendShare{Backend: "rmq3", Sessions: 67, Share: 66.7}}},
		{Listener: "mgmt", Rate: 10, Since: now.Add(-2 * time.Minute), Moved: 12, Ended: now.Add(-time.Minute),
			Outcome: "the listener was removed from the configuration", Shares: []BackendShare{}},
		{Listener: "amqp", Rate: 10, Since: now.Add(-10 * time.Second), Moved: 4, Paused: "fewer than two of the listener's backends serve",
			Shares: []BackendShare{BackendShare{Backend: "rmq1", Sessions: 120, Share: 100}, BackendShare{Backend: "rmq3", Sessions: 80, Share: 100}}},
	}
	s.Verdict = Assess(s)
	return s
}

// healthyFixture is a MASTER with its VIP on the interface and every
// backend UP.
func healthyFixture() Status {
	s := fullFixture()
	s.ConfigChange, s.StateFile = nil, nil
	s.Reload = &Reload{At: fixtureNow.Add(-time.Minute)}
	s.VRRP = s.VRRP[:1]
	in := &s.VRRP[0]
	in.State, in.Reason, in.Master, in.EffectivePriority = vrrp.StateMaster, "no master heard", nil, 100
	in.Addresses.VIPs[0].Present, in.Addresses.VIPs[0].Marked, in.Addresses.VIPs[0].Owned = true, true, true
	in.Tracks, in.Refused, in.RecentTransitions = nil, nil, nil
	s.Listeners = s.Listeners[:1]
	for i := range s.Listeners[0].Backends {
		s.Listeners[0].Backends[i].State = backend.Up
	}
	s.Listeners[0].ClientsAtLimit, s.Listeners[0].BusiestClients[0].Sessions = 0, 7
	for i := range s.Checks {
		s.Checks[i].State, s.Checks[i].Health = backend.Up, backend.Up
		s.Checks[i].InconclusiveSince, s.Checks[i].LastInconclusive = time.Time{}, ""
		s.Checks[i].RecentDowns = nil
	}
	s.Verdict = Assess(s)
	return s
}

func TestFormat(t *testing.T) {
	var b bytes.Buffer
	if err := Format(&b, fixture(), FormatOptions{}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"DEGRADED: listener amqp: no backend serves (rmq2 DOWN): new clients are closed at once; backend amqp/rmq2 DOWN (3 consecutive failures: waiting for Connection.Start: timeout)\n" +
			"BACKUP (rabbitmq), master 10.77.0.1 priority 150; 0/1 backends up\n",
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
	if strings.Contains(out, "\x1b[") {
		t.Errorf("colour codes without FormatOptions.Color:\n%q", out)
	}
}

// TestFormatStateFileUnread: a state file the daemon could not read at
// start is told apart from one it cannot write.
func TestFormatStateFileUnread(t *testing.T) {
	s := schemaFixtures()["state-file-unread"]
	var b bytes.Buffer
	if err := Format(&b, s, FormatOptions{}); err != nil {
		t.Fatal(err)
	}
	want := "state file not restored at start, 1h0m0s ago (/var/lib/rmqlb/state.json: reading state: backends[0]: admin \"broken\", want drain or maint): the operator's states of the last run (drain, maint, weights, VRRP releases) were not applied"
	if out := b.String(); !strings.Contains(out, want) || strings.Contains(out, "not written") {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
}

// TestFormatConfigChange: a configuration file changed or unreadable is
// told apart from a file it names (a file of client addresses), which is
// named with its key.
func TestFormatConfigChange(t *testing.T) {
	for _, tc := range []struct{ fixture, want string }{
		{"full", "config file changed 12m0s ago and not loaded: check it (rmqlb check-config --config /etc/rmqlb/rmqlb.yaml), see what a reload would do (rmqlb reload --dry-run) and apply it (rmqlb reload)"},
		{"config-unreadable", "config file unreadable: open /etc/rmqlb/rmqlb.yaml: permission denied (the daemon runs on the configuration it loaded)"},
		{"client-list-changed", "file of the config changed: /etc/rmqlb/allowed.lst (listeners[0].allowed_clients_file) 3m0s ago and not loaded: check it (rmqlb check-config --config /etc/rmqlb/rmqlb.yaml), see what a reload would do (rmqlb reload --dry-run) and apply it (rmqlb reload)"},
		{"client-list-unreadable", "file of the config unreadable: /etc/rmqlb/denied.lst (listeners[0].denied_clients_file): open /etc/rmqlb/denied.lst: no such file or directory (the daemon runs on what it read)"},
	} {
		var b bytes.Buffer
		if err := Format(&b, schemaFixtures()[tc.fixture], FormatOptions{}); err != nil {
			t.Fatal(err)
		}
		if out := b.String(); !strings.Contains(out, tc.want+"\n") {
			t.Errorf("%s: output lacks %q:\n%s", tc.fixture, tc.want, out)
		}
	}
}

// TestFormatLowerMasterSettled: the line of a lower-priority master says
// the master's answer settled it, unless the master's adverts failed at
// or after it (its answer could not be sent) or that router has kept on.
func TestFormatLowerMasterSettled(t *testing.T) {
	s := fullFixture()
	m := &s.VRRP[1]
	for _, tc := range []struct {
		name string
		fail *vrrp.SendFailure
		want string
	}{
		{"sent", nil, "this host answered and kept the VIPs"},
		{"failing before", &vrrp.SendFailure{At: m.LowerMaster.At.Add(-time.Second), Failed: 1}, "this host answered and kept the VIPs"},
		{"failing", &vrrp.SendFailure{At: m.LowerMaster.At, Failed: 1}, "its answers could not be sent"},
		{"kept on", nil, "it has kept on for 30s, not hearing this host's answers either"},
	} {
		m.SendFailing = tc.fail
		m.LowerMaster.Since = m.LowerMaster.At.Add(-4 * time.Second)
		if tc.name == "kept on" {
			m.LowerMaster.Since = m.LowerMaster.At.Add(-30 * time.Second)
		}
		var b bytes.Buffer
		if err := Format(&b, s, FormatOptions{}); err != nil {
			t.Fatal(err)
		}
		if out := b.String(); !strings.Contains(out, tc.want) {
			t.Errorf("%s: the lower-priority master's line lacks %q:\n%s", tc.name, tc.want, out)
		}
	}
}

// TestFormatClientLists: the listener's line counts the clients each of
// its lists refused, the verbose status shows the lists (the first of a
// long one, with how many more), and the line of the client addresses
// with sessions kept names the lists that refuse them now.
func TestFormatClientLists(t *testing.T) {
	denied := []netip.Prefix{netip.MustParsePrefix("198.51.100.4/32")}
	var long []netip.Prefix
	for i := range 100000 {
		long = append(long, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32))
	}
	for _, tc := range []struct {
		name            string
		allowed, denied bool
		want, not       []string
	}{
		{"allowed only", true, false,
			[]string{", 9 refused (not in allowed_clients), 1 refused (fd limit)", "allowed clients: 10.1.0.0/16; from /etc/haproxy/allow.lst: 192.0.2.7/32",
				"2 client addresses outside allowed_clients hold sessions kept from before the list changed"},
			[]string{"denied_clients", "denied clients"}},
		{"denied only", false, true,
			[]string{", 12 refused (per client), 3 refused (in denied_clients), 1 refused (fd limit)", "denied clients: 198.51.100.4/32",
				"2 client addresses in denied_clients hold sessions kept from before the list changed"},
			[]string{"allowed_clients", "allowed clients"}},
		{"both", true, true,
			[]string{", 9 refused (not in allowed_clients), 3 refused (in denied_clients), 1 refused (fd limit)",
				"allowed clients: 10.1.0.0/16; from /etc/haproxy/allow.lst: 192.0.2.7/32", "denied clients: 198.51.100.4/32",
				"2 client addresses refused by allowed_clients or denied_clients hold sessions kept from before the lists changed"},
			nil},
		{"a long list", false, true,
			[]string{"denied clients: 10.0.0.0/32, 10.0.0.1/32, 10.0.0.2/32, 10.0.0.3/32, 10.0.0.4/32, 10.0.0.5/32, 10.0.0.6/32, 10.0.0.7/32, 10.0.0.8/32, 10.0.0.9/32, 10.0.0.10/32, 10.0.0.11/32, 10.0.0.12/32, 10.0.0.13/32, 10.0.0.14/32, 10.0.0.15/32 (and 99984 more: rmqlb status --json lists them all)\n"},
			[]string{"10.0.0.16/32"}},
	} {
		s := fullFixture()
		l := &s.Listeners[0]
		if !tc.allowed {
			l.AllowedClients, l.RefusedNotAllowed = nil, 0
		}
		if tc.denied {
			l.DeniedClients, l.RefusedDenied = denied, 3
		}
		if tc.name == "a long list" {
			l.DeniedClients = long
		}
		var b bytes.Buffer
		if err := Format(&b, s, FormatOptions{Verbose: true}); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: the status lacks %q:\n%s", tc.name, w, out)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(out, n) {
				t.Errorf("%s: the status has %q:\n%s", tc.name, n, out)
			}
		}
	}
}

// TestFormatClientListFiles: the verbose status shows the addresses of a
// list that came from its file apart, after those of the configuration
// file, and the list as one when the file's count does not fit it.
func TestFormatClientListFiles(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files []ClientListFile
		want  string
	}{
		{"inline and file", []ClientListFile{{Field: "allowed_clients_file", Path: "/etc/rmqlb/a.lst", Prefixes: 1}},
			"allowed clients: 10.1.0.0/16; from /etc/rmqlb/a.lst: 192.0.2.7/32\n"},
		{"file alone", []ClientListFile{{Field: "allowed_clients_file", Path: "/etc/rmqlb/a.lst", Prefixes: 2}},
			"allowed clients: from /etc/rmqlb/a.lst: 10.1.0.0/16, 192.0.2.7/32\n"},
		{"empty file", []ClientListFile{{Field: "allowed_clients_file", Path: "/etc/rmqlb/a.lst"}},
			"allowed clients: 10.1.0.0/16, 192.0.2.7/32\n"},
		{"more than the list", []ClientListFile{{Field: "allowed_clients_file", Path: "/etc/rmqlb/a.lst", Prefixes: 3}},
			"allowed clients: 10.1.0.0/16, 192.0.2.7/32\n"},
		{"another listener's", []ClientListFile{{Listener: "other", Field: "allowed_clients_file", Path: "/etc/rmqlb/a.lst", Prefixes: 1}},
			"allowed clients: 10.1.0.0/16, 192.0.2.7/32\n"},
		{"the denied list's", []ClientListFile{{Field: "denied_clients_file", Path: "/etc/rmqlb/d.lst", Prefixes: 1}},
			"allowed clients: 10.1.0.0/16, 192.0.2.7/32\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := fullFixture()
			for i := range tc.files {
				if tc.files[i].Listener == "" {
					tc.files[i].Listener = s.Listeners[0].Name
				}
			}
			s.ClientListFiles = tc.files
			var b bytes.Buffer
			if err := Format(&b, s, FormatOptions{Verbose: true}); err != nil {
				t.Fatal(err)
			}
			if out := b.String(); !strings.Contains(out, tc.want) {
				t.Errorf("the status lacks %q:\n%s", tc.want, out)
			}
		})
	}
}

// TestFormatGolden compares the human status with the files of
// testdata/ (go test -run TestFormatGolden -update rewrites them): a
// degraded status for a terminal (colour, persistence entries listed) and
// not, and a healthy one.
func TestFormatGolden(t *testing.T) {
	for _, c := range []struct {
		file string
		s    Status
		o    FormatOptions
	}{
		{"degraded.golden", fullFixture(), FormatOptions{}},
		{"degraded-tty-verbose.golden", fullFixture(), FormatOptions{Color: true, Verbose: true}},
		{"healthy.golden", healthyFixture(), FormatOptions{}},
		{"healthy-tty.golden", healthyFixture(), FormatOptions{Color: true}},
	} {
		t.Run(c.file, func(t *testing.T) {
			var b bytes.Buffer
			if err := Format(&b, c.s, c.o); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", c.file)
			if *update {
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test -run TestFormatGolden -update writes it)", err)
			}
			if got := b.String(); got != string(want) {
				t.Errorf("output differs from %s (go test -run TestFormatGolden -update rewrites it):\n%s\n--- want:\n%s", path, got, want)
			}
			hasColor := strings.Contains(b.String(), "\x1b[")
			if hasColor != c.o.Color {
				t.Errorf("colour codes present: %v, want %v", hasColor, c.o.Color)
			}
		})
	}
}

// The human table is made from the JSON the daemon sends: a round trip
// through JSON must not lose what Format shows.
func TestFormatAfterJSONRoundTrip(t *testing.T) {
	for _, s := range []Status{fixture(), fullFixture()} {
		raw, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var back Status
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatal(err)
		}
		o := FormatOptions{Verbose: true}
		var a, b bytes.Buffer
		Format(&a, s, o)
		Format(&b, back, o)
		if a.String() != b.String() {
			t.Errorf("formatting differs after JSON round trip:\n%s\n---\n%s", a.String(), b.String())
		}
	}
}

// TestSentBy: the ADVERTS table says who sends the periodic adverts, and
// paints a master that sends them itself although it has a sender process.
func TestSentBy(t *testing.T) {
	for _, c := range []struct {
		state  vrrp.State
		sender string
		want   string
		yellow bool
	}{
		{vrrp.StateMaster, "", "daemon", false},
		{vrrp.StateMaster, "process (normal priority, memory locked)", "process (normal priority, memory locked)", false},
		{vrrp.StateBackup, "process, idle (normal priority)", "process, idle (normal priority)", false},
		{vrrp.StateMaster, "inline: the sender process is not running; 2 restarts, last: exited", "inline: the sender process is not running; 2 restarts, last: exited", true},
		{vrrp.StateBackup, "inline: the sender process is not running", "inline: the sender process is not running", false},
	} {
		var v VRRP
		v.State, v.Sender = c.state, c.sender
		got := sentBy(v)
		if got.s != c.want || (got.c == yellow) != c.yellow {
			t.Errorf("%v %q: %+v, want %q yellow %v", c.state, c.sender, got, c.want, c.yellow)
		}
	}
}

// changesTo returns state changes at the times given, alternately between
// BACKUP and MASTER, the last to final (BACKUP unless MASTER).
func changesTo(final vrrp.State, at ...time.Time) []vrrp.Transition {
	var ts []vrrp.Transition
	for i := range at {
		c := vrrp.Transition{At: at[i], From: vrrp.StateBackup, To: vrrp.StateMaster, Reason: "master 10.77.0.1 silent for master down interval"}
		if (len(at)-1-i)%2 == 0 != (final == vrrp.StateMaster) {
			c.From, c.To, c.Reason = vrrp.StateMaster, vrrp.StateBackup, "higher priority master"
		}
		ts = append(ts, c)
	}
	return ts
}

package config

import (
	"errors"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/amqpcheck"
	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/netsetup"
	"github.com/rmqlb/rmqlb/proxyproto"
	"github.com/rmqlb/rmqlb/vrrp"
	"go.uber.org/zap/zapcore"
)

func TestBlogPostExample(t *testing.T) {
	c, err := Load("testdata/blogpost-rabbitmq01.yaml")
	if err != nil {
		t.Fatal(err)
	}
	in := c.VRRP[0]
	if in.Version != 2 || in.Priority != 150 || in.AdvertInterval != 5*time.Second || in.AuthPass != "passwd" || in.VRID != 1 {
		t.Errorf("instance = %+v", in)
	}
	if !in.Preempt {
		t.Error("preempt should default to true")
	}
	if want := netip.MustParsePrefix("192.168.1.100/32"); len(in.VIPs) != 1 || in.VIPs[0] != want {
		t.Errorf("VIPs = %v, want [%v]", in.VIPs, want)
	}
	if in.GARP.Count != 5 || in.GARP.Interval != 1100*time.Millisecond || in.GARP.Refresh != time.Minute {
		t.Errorf("garp defaults = %+v", in.GARP)
	}
	l := c.Listeners[0]
	if l.Bind != netip.MustParseAddrPort("192.168.1.100:5672") || l.Policy != balancer.PolicyWRR || l.PersistenceTimeout != 6000*time.Second {
		t.Errorf("listener = %+v", l)
	}
	if l.OnMarkedDown != ShutdownSessions || l.Retries != 3 || l.PersistenceNetmask != 32 {
		t.Errorf("listener defaults = %+v", l)
	}
	b := l.Backends[1]
	if b.Weight != 10 || b.Address != netip.MustParseAddrPort("192.168.1.2:5672") || b.ID != (backend.ID{Listener: "rabbitmq_cluster", Name: "rabbitmq02"}) {
		t.Errorf("backend = %+v", b)
	}
	ck := b.Check
	if ck.Type != CheckAMQP || ck.Schedule.Rise != 2 || ck.Schedule.Fall != 3 || ck.Address != b.Address || ck.VHost != "/" || ck.Field != "listeners[0].check" {
		t.Errorf("backend check = %+v", ck)
	}
	if tr := in.Track[0]; tr.Backend != (backend.ID{Listener: "rabbitmq_cluster", Name: "rabbitmq01"}) || tr.Weight != -60 {
		t.Errorf("track = %+v", tr)
	}
	if c.Line(l.Backends[1].Field+".weight") != 27 || c.Line("vrrp_instances[0].priority") != 9 {
		t.Errorf("lines: backend weight %d, priority %d", c.Line(l.Backends[1].Field+".weight"), c.Line("vrrp_instances[0].priority"))
	}
}

func TestREADMEExampleIsValid(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	// Every ```yaml block of the README must be a valid configuration.
	blocks := strings.Split(string(data), "```yaml\n")
	n := 0
	for _, b := range blocks[1:] {
		body, _, _ := strings.Cut(b, "```")
		if !strings.Contains(body, "vrrp_instances:") && !strings.Contains(body, "listeners:") {
			continue
		}
		n++
		if _, err := Parse([]byte(body)); err != nil {
			t.Errorf("README example %d:\n%v", n, err)
		}
	}
	if n == 0 {
		t.Error("README has no yaml configuration example")
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse([]byte(`
vrrp_instances:
  - name: v
    interface: eth0
    virtual_router_id: 7
    virtual_ipaddress: [10.0.0.1/24]
listeners:
  - name: l
    bind: 10.0.0.1:5672
    backends: [{name: a, address: 10.0.0.2:5672}]
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.ControlSocket != DefaultControlSocket || c.LogLevel != zapcore.InfoLevel || c.MetricsListen.IsValid() {
		t.Errorf("daemon defaults: %+v", c)
	}
	in := c.VRRP[0]
	if in.Priority != 100 || in.Version != 2 || in.AdvertInterval != time.Second || in.Checksum != vrrp.ChecksumPseudoHeader || !in.Preempt {
		t.Errorf("vrrp defaults: %+v", in)
	}
	if in.GARP.Count != netsetup.DefaultGARPCount || in.GARP.Interval != netsetup.DefaultGARPInterval || in.GARP.Refresh != netsetup.DefaultGARPRefresh || in.GARP.NoProbe {
		t.Errorf("garp defaults = %+v", in.GARP)
	}
	l := c.Listeners[0]
	if l.Policy != balancer.PolicyRoundRobin || l.ConnectTimeout != balancer.DefaultConnectTimeout || l.KeepAlive != balancer.DefaultKeepAlive ||
		l.GracefulTimeout != balancer.DefaultGracefulTimeout || l.Retries != DefaultRetries || l.OnMarkedDown != ShutdownSessions ||
		l.HandshakeTimeout != balancer.DefaultHandshakeTimeout || l.FinTimeout != balancer.DefaultFinTimeout ||
		l.PersistenceNetmask != balancer.DefaultPersistenceNetmask || l.PersistenceNetmask6 != balancer.DefaultPersistenceNetmask6 ||
		l.PersistenceMaxClients != balancer.DefaultPersistenceMaxClients ||
		l.TCPUserTimeout != 0 || l.CloseSpread != 8*time.Second {
		t.Errorf("listener defaults: %+v", l)
	}
	ck := l.Backends[0].Check
	s := ck.Schedule
	if ck.Type != CheckAMQP || ck.Mode != amqpcheck.ModeHandshake || s.Interval != healthcheck.DefaultInterval || s.Timeout != healthcheck.DefaultTimeout ||
		s.FastInterval != s.Interval || s.DownInterval != s.Interval || s.OnAlarm != healthcheck.AlarmDegraded || s.Rise != 2 || s.Fall != 3 ||
		s.BusyGrace != healthcheck.DefaultBusyGrace {
		t.Errorf("check defaults: %+v", ck)
	}
	if l.Backends[0].Weight != 1 || l.Backends[0].ProxyProtocol != proxyproto.None || ck.ProxyProtocol {
		t.Errorf("backend defaults: %+v", l.Backends[0])
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string // each must appear, in file order (line, then column), as one line
	}{
		{"unknown key", "log_level: info\nbogus: 1\n", []string{"line 2: bogus: unknown key"}},
		{"tab indentation", "listeners:\n\t- name: l\n", []string{"line 2: found character that cannot start any token (a tab in the indentation: YAML indents with spaces only)"}},
		{"unknown nested key", "vrrp_instances:\n  - {name: a, interface: eth0, bogus: 1}\n", []string{"line 2: vrrp_instances[0].bogus: unknown key"}},
		{"bad duration", "vrrp_instances:\n  - name: a\n    advert_interval: 1x\n",
			[]string{`line 3: vrrp_instances[0].advert_interval: must be a duration with its unit, such as 300s or 100ms, not "1x"`}},
		{"duration without unit", "vrrp_instances:\n  - name: a\n    preempt_delay: 300\n",
			[]string{"line 3: vrrp_instances[0].preempt_delay: must be a duration with its unit, such as 300s or 100ms, not 300"}},
		{"word for a number", "vrrp_instances:\n  - name: a\n    priority: high\n", []string{`line 3: vrrp_instances[0].priority: must be a whole number, not "high"`}},
		{"word for a bool", "vrrp_instances:\n  - name: a\n    preempt: maybe\n", []string{`line 3: vrrp_instances[0].preempt: must be true or false, not "maybe"`}},
		{"number for a list", "listeners: 3\n", []string{"line 1: listeners: must be a list, not 3"}},
		{"list for a string", "listeners:\n  - name: l\n    policy: [roundrobin, leastconn]\n", []string{"line 3: listeners[0].policy: must be a string, not a list"}},
		{"block list for a string", "listeners:\n  - name: l\n    check:\n      expect_status:\n        - 200\n", []string{"line 5: listeners[0].check.expect_status: must be a string, not a list"}},
		{"mapping for a string", "listeners:\n  - {name: {first: l}}\n", []string{"line 2: listeners[0].name: must be a string, not a mapping"}},
		{"mapping for a list", "listeners: {a: 1}\n", []string{"line 1: listeners: must be a list, not a mapping"}},
		{"list for a mapping", "listeners:\n  - name: l\n    check: [amqp]\n", []string{"line 3: listeners[0].check: must be a mapping of keys, not a list"}},
		{"mapping in a list of strings", "vrrp_instances:\n  - name: a\n    unicast_peers: [10.0.0.2, {ip: 10.0.0.3}]\n", []string{"line 3: vrrp_instances[0].unicast_peers[1]: must be a string, not a mapping"}},
		{"second document", "log_level: info\n---\nlisteners: []\n", []string{"line 2: a second YAML document (after ---): the configuration is one document"}},
		{"priority 0", "vrrp_instances:\n  - {name: a, interface: eth0, virtual_router_id: 1, priority: 0, virtual_ipaddress: [10.0.0.1]}\n",
			[]string{"line 2: vrrp_instances[0].priority: must be 1..255, not 0 (0 is reserved for a master that stops)"}},
		{"metrics port 0", "metrics_listen: 127.0.0.1:0\ninert: true\n", []string{"line 1: metrics_listen: must name a port, not 0"}},
		{"metrics on a listener's bind", "metrics_listen: 0.0.0.0:5672\nlisteners: [{name: l, bind: 127.0.0.1:5672, backends: [{name: a, address: 127.0.0.1:5673}]}]\n",
			[]string{"line 1: metrics_listen: 0.0.0.0:5672 overlaps bind 127.0.0.1:5672 of listeners[0]"}},
		{"metrics on [::] beside an IPv4 listener", "metrics_listen: '[::]:5672'\nlisteners: [{name: l, bind: 127.0.0.1:5672, backends: [{name: a, address: 127.0.0.1:5673}]}]\n",
			[]string{"line 1: metrics_listen: [::]:5672 overlaps bind 127.0.0.1:5672 of listeners[0]"}},
		{"long value for a list", "vrrp_instances:\n  - name: a\n    notify: {master: /usr/local/bin/notify.sh}\n",
			[]string{`line 3: vrrp_instances[0].notify.master: must be a list, not "/usr/local/bin/notify.sh"`}},
		{"syntax", "vrrp_instances: [\n", []string{"line 1: did not find expected node content"}},
		{"empty", "log_level: info\n", []string{"needs at least one of vrrp_instances and listeners (or inert: true"}},
		{"inert false", "inert: false\n", []string{"needs at least one of vrrp_instances and listeners"}},
		{"inert listener", "log_level: info\ninert: true\nlisteners: [{name: l, bind: 127.0.0.1:5672, backends: [{name: a, address: 127.0.0.1:5673}]}]\n",
			[]string{"line 2: inert: inert: true says the file has no VRRP instance and no listener: remove it to run them"}},
		{"vrrp fields", `vrrp_instances:
  - name: a
    interface: eth0
    virtual_router_id: 300
    priority: 256
    version: 3
    advert_interval: 15ms
    auth_pass: x
    virtual_ipaddress: [10.0.0.300]
    unicast_peers: [fe80::1]
    track: [{check: nope, weight: 0}]
`, []string{
			"line 4: vrrp_instances[0].virtual_router_id: must be 1..255, not 300",
			"line 5: vrrp_instances[0].priority: must be 1..255, not 256",
			"line 7: vrrp_instances[0].advert_interval: must be whole centiseconds",
			"line 8: vrrp_instances[0].auth_pass: is not allowed with version 3",
			"line 9: vrrp_instances[0].virtual_ipaddress[0]: must be an address",
			"line 10: vrrp_instances[0].unicast_peers[0]: must be an IPv4 address",
			"line 11: vrrp_instances[0].track[0].check: no backend is named \"nope\"",
			"line 11: vrrp_instances[0].track[0].weight: weight must be -254..-1 or 1..254, not 0",
		}},
		{"v2 interval and password", `vrrp_instances:
  - name: a
    interface: eth0
    virtual_router_id: 1
    advert_interval: 100ms
    auth_pass: 123456789
    virtual_ipaddress: [10.0.0.1]
`, []string{
			"line 5: vrrp_instances[0].advert_interval: must be whole seconds from 1s to 255s with version 2, not 100ms",
			"line 6: vrrp_instances[0].auth_pass: must be at most 8 bytes, not 9",
		}},
		{"duplicates", `vrrp_instances:
  - {name: a, interface: eth0, virtual_router_id: 1, virtual_ipaddress: [10.0.0.1]}
  - {name: a, interface: eth0, virtual_router_id: 1, virtual_ipaddress: [10.0.0.2, 10.0.0.1/24]}
`, []string{
			"line 3: vrrp_instances[1].name: \"a\" is also the name of vrrp_instances[0]",
			"line 3: vrrp_instances[1].virtual_router_id: 1 on eth0 is also used by vrrp_instances[0]",
			"line 3: vrrp_instances[1].virtual_ipaddress[1]: 10.0.0.1 is also a VIP of vrrp_instances[0]",
		}},
		{"listener fields", `listeners:
  - name: l
    bind: 10.0.0.1
    policy: random
    persistence_netmask: 33
    on_marked_down: explode
    check: {type: smtp, rise: 0, fall: 101, interval: 1ms}
    backends:
      - {name: a, address: nowhere, weight: 300000}
      - {name: a, address: 10.0.0.2:5672, check: {mode: login}}
`, []string{
			"line 3: listeners[0].bind: must be ip:port",
			"line 4: listeners[0].policy: must be roundrobin, wrr or leastconn, not \"random\"",
			"line 5: listeners[0].persistence_netmask: must be 1..32, not 33",
			"line 6: listeners[0].on_marked_down: must be shutdown-sessions or keep-sessions",
			"line 7: listeners[0].check.type: must be amqp, http, mqtt, stomp, stream, tcp or none, not \"smtp\"",
			"line 7: listeners[0].check.fall: must be 1..100, not 101",
			"line 7: listeners[0].check.interval: must be at least 10ms",
			"line 9: listeners[0].backends[0].address: must be ip:port, not \"nowhere\"",
			"line 9: listeners[0].backends[0].weight: must be 0..65535, not 300000",
			"line 10: listeners[0].backends[1].name: \"a\" is also the name of backends[0]",
			"line 10: listeners[0].backends[1].check.user: is required with mode login",
		}},
		{"persistence table bound", `listeners:
  - name: l
    bind: 10.0.0.1:5672
    persistence_timeout: 1m
    persistence_max_clients: -1
    backends: [{name: a, address: 10.0.0.2:5672}]
`, []string{
			"line 5: listeners[0].persistence_max_clients: must not be negative (0: 100000), not -1",
		}},
		{"ambiguous track", `vrrp_instances:
  - {name: v, interface: eth0, virtual_router_id: 1, virtual_ipaddress: [10.0.0.1], track: [{check: a, weight: -10}, {listener: zz, weight: -5}]}
listeners:
  - {name: l1, bind: 10.0.0.1:1, backends: [{name: a, address: 10.0.0.2:1}]}
  - {name: l2, bind: 10.0.0.1:2, backends: [{name: a, address: 10.0.0.2:2}]}
`, []string{
			"vrrp_instances[0].track[0].check: \"a\" names a backend of several listeners; write listener/backend",
			"vrrp_instances[0].track[1].listener: no listener is named \"zz\"",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("Parse error = %v (%T), want Errors", err, err)
			}
			lines := strings.Split(err.Error(), "\n")
			i := 0
			for _, w := range tt.want {
				for i < len(lines) && !strings.Contains(lines[i], w) {
					i++
				}
				if i == len(lines) {
					t.Errorf("missing (in order) %q in:\n%v", w, err)
					return
				}
			}
		})
	}
}

// TestTCPUserTimeout: tcp_user_timeout is read as written, left out or 0
// it is off (the kernel's default), and the listener's balancer.Config
// carries it.
func TestTCPUserTimeout(t *testing.T) {
	for _, tc := range []struct {
		line string
		want time.Duration
	}{
		{"", 0},
		{"tcp_user_timeout: 0s", 0},
		{"tcp_user_timeout: 300s", 300 * time.Second},
		{"tcp_user_timeout: 1500ms", 1500 * time.Millisecond},
		{"tcp_user_timeout: 5m", 5 * time.Minute},
	} {
		c, err := Parse([]byte(strings.Replace(base, "keepalive: 30s", "keepalive: 30s\n    "+tc.line, 1)))
		if err != nil {
			t.Errorf("%q: %v", tc.line, err)
			continue
		}
		l := &c.Listeners[0]
		if l.TCPUserTimeout != tc.want {
			t.Errorf("%q: TCPUserTimeout %v, want %v", tc.line, l.TCPUserTimeout, tc.want)
		}
		if got := c.BalancerConfig(l).TCPUserTimeout; got != tc.want {
			t.Errorf("%q: balancer TCPUserTimeout %v, want %v", tc.line, got, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	seed, _ := os.ReadFile("testdata/blogpost-rabbitmq01.yaml")
	f.Add(seed)
	f.Add([]byte("listeners: [{name: l, bind: 1.2.3.4:5, backends: [{name: a, address: 1.2.3.4:6}]}]"))
	f.Add([]byte("vrrp_instances: [{}]\nlisteners: [{backends: [{check: {}}]}]"))
	f.Add([]byte("listeners: [{name: l, bind: 1.2.3.4:5, tcp_user_timeout: 300s, backends: [{name: a, address: 1.2.3.4:6}]}]"))
	f.Add([]byte("listeners: [{name: l, bind: 1.2.3.4:5, tcp_user_timeout: -1ns, backends: [{name: a, address: 1.2.3.4:6}]}]"))
	f.Add([]byte("listeners: [{name: l, bind: 1.2.3.4:5, allowed_clients: [10.0.0.0/8, 192.0.2.7], denied_clients: [10.9.0.0/16, \"2001:db8::1\"], backends: [{name: a, address: 1.2.3.4:6}]}]"))
	f.Add([]byte("listeners: [{name: l, bind: 1.2.3.4:5, allowed_clients: [], allowed_clients_file: /etc/rmqlb/a.lst, denied_clients_file: d.lst, backends: [{name: a, address: 1.2.3.4:6}]}]"))
	// everyClient is a file of client addresses that fits any listener.
	everyClient := func(string) ([]byte, error) { return []byte("0.0.0.0/0\n::/0\n"), nil }
	f.Add([]byte("listeners: [{name: l, bind: 1.2.3.4:5, allowed_clients: [10.0.0.0/8], allowed_clients_file: /etc/rmqlb/a.lst, denied_clients_file: /etc/rmqlb/d.lst, backends: [{name: a, address: 1.2.3.4:6}]}]\n" +
		"vrrp_instances: [{name: v, interface: eth0, virtual_router_id: 1, priority: 100, virtual_ipaddress: [1.2.3.4/24]}]"))
	isErrors := func(t *testing.T, err error) {
		t.Helper()
		var es Errors
		if !errors.As(err, &es) || len(es) == 0 {
			t.Fatalf("error %v is not a non-empty Errors", err)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := Parse(data); err != nil {
			isErrors(t, err)
		}
		c, err := ParseWithFiles(data, everyClient)
		if err != nil {
			isErrors(t, err)
			return
		}
		// A valid config has every part resolved, and every package
		// accepts what is built from it.
		// Resolved without the files it names (LoadVRRP), it has the
		// same VRRP instances.
		skipped, err := parseWith(data, resolver{skipFiles: true})
		if err != nil {
			t.Fatalf("valid, and refused without its files: %v", err)
		}
		if !reflect.DeepEqual(skipped.VRRP, c.VRRP) {
			t.Fatalf("instances without the files %+v, with them %+v", skipped.VRRP, c.VRRP)
		}
		for i := range c.VRRP {
			in := &c.VRRP[i]
			if len(in.VIPs) == 0 || in.VRID == 0 || in.Priority == 0 {
				t.Fatalf("unresolved instance %+v", in)
			}
			if err := in.VRRPConfig().Validate(); err != nil {
				t.Fatalf("vrrp refuses an accepted instance: %v", err)
			}
			if err := in.VIPConfig().Validate(); err != nil {
				t.Fatalf("netsetup refuses an accepted instance: %v", err)
			}
			if err := in.NotifyConfig().Validate(); err != nil {
				t.Fatalf("notify refuses an accepted instance: %v", err)
			}
		}
		for i := range c.Listeners {
			l := &c.Listeners[i]
			if !l.Bind.IsValid() {
				t.Fatal("valid listener without Bind")
			}
			if err := c.BalancerConfig(l).Validate(); err != nil {
				t.Fatalf("balancer refuses an accepted listener: %v", err)
			}
			for _, b := range l.Backends {
				if !b.ID.IsValid() || !b.Address.IsValid() {
					t.Fatalf("unresolved backend %+v", b)
				}
				if err := b.Check.Schedule.Validate(); err != nil {
					t.Fatalf("healthcheck refuses an accepted check: %v", err)
				}
				if b.Check.Type == CheckAMQP {
					if err := b.Check.AMQPConfig().Validate(); err != nil {
						t.Fatalf("amqpcheck refuses an accepted check: %v", err)
					}
				}
			}
		}
	})
}

// TestBusyGrace: busy_grace reaches the check's schedule, from the
// listener's check and from a backend's own; a negative one (off) stays.
func TestBusyGrace(t *testing.T) {
	c, err := Parse([]byte(`
listeners:
  - name: l
    bind: 10.0.0.1:5672
    check: {type: amqp, busy_grace: 2s}
    backends:
      - {name: a, address: 10.0.0.2:5672}
      - {name: b, address: 10.0.0.3:5672, check: {type: amqp, busy_grace: -1s}}
`))
	if err != nil {
		t.Fatal(err)
	}
	if g := c.Listeners[0].Backends[0].Check.Schedule.BusyGrace; g != 2*time.Second {
		t.Errorf("a's busy_grace %v, want 2s", g)
	}
	if g := c.Listeners[0].Backends[1].Check.Schedule.BusyGrace; g != -time.Second {
		t.Errorf("b's busy_grace %v, want -1s", g)
	}
}

// TestGARPProbe: garp.probe is on unless set to false.
func TestGARPProbe(t *testing.T) {
	for _, c := range []struct {
		garp    string
		noProbe bool
	}{
		{"{}", false},
		{"{probe: true}", false},
		{"{probe: false}", true},
		{"{probe: false, refresh: 5s}", true},
	} {
		cfg, err := Parse([]byte("vrrp_instances:\n  - {name: v, interface: eth0, virtual_router_id: 1, virtual_ipaddress: [10.0.0.100/24], garp: " + c.garp + "}\n"))
		if err != nil {
			t.Fatalf("%s: %v", c.garp, err)
		}
		if got := cfg.VRRP[0].GARP.NoProbe; got != c.noProbe {
			t.Errorf("garp: %s: NoProbe %v, want %v", c.garp, got, c.noProbe)
		}
	}
}

package config

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/amqpcheck"
	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/checktls"
	"github.com/rmqlb/rmqlb/internal/testpki"
	"github.com/rmqlb/rmqlb/notify"
	"github.com/rmqlb/rmqlb/proxyproto"
)

// base is a valid file that the cases of TestRules change one line of.
const base = `vrrp_instances:
  - name: v
    interface: eth0
    virtual_router_id: 1
    version: 3
    advert_interval: 100ms
    unicast_src: 10.0.0.1
    unicast_peers: [10.0.0.2]
    virtual_ipaddress: [10.0.0.100/24]
    garp: {refresh: 60s}
    track: [{check: a, weight: -60}]
listeners:
  - name: l
    bind: 10.0.0.100:5672
    keepalive: 30s
    proxy_protocol: v2
    backends:
      - {name: a, address: 10.0.0.1:5672}
      - {name: b, address: 10.0.0.2:5672, check: {type: tcp}}
`

// TestRules: each case replaces one line of base; the file is refused
// with the message given, at the line given. These are the rules that the
// daemon's packages enforce at start: the file must be refused by Parse,
// not at run time.
func TestRules(t *testing.T) {
	if _, err := Parse([]byte(base)); err != nil {
		t.Fatalf("base file: %v", err)
	}
	for _, tc := range []struct {
		name, old, new string
		want           string
	}{
		{"IPv6 VIP", "virtual_ipaddress: [10.0.0.100/24]", "virtual_ipaddress: [fd00::100/64]", "line 9: vrrp_instances[0].virtual_ipaddress[0]: fd00::100/64: IPv6 VIPs are not supported"},
		{"loopback VIP", "virtual_ipaddress: [10.0.0.100/24]", "virtual_ipaddress: [127.0.0.5]", "line 9: vrrp_instances[0].virtual_ipaddress[0]: 127.0.0.5/32: not a usable unicast address"},
		{"duplicate VIP", "virtual_ipaddress: [10.0.0.100/24]", "virtual_ipaddress: [10.0.0.100/24, 10.0.0.100]", "virtual_ipaddress[1]: 10.0.0.100 is also virtual_ipaddress[0]"},
		{"peer is src", "unicast_peers: [10.0.0.2]", "unicast_peers: [10.0.0.1]", "line 8: vrrp_instances[0].unicast_peers[0]: 10.0.0.1 is also unicast_src"},
		{"duplicate peer", "unicast_peers: [10.0.0.2]", "unicast_peers: [10.0.0.2, 10.0.0.2]", "unicast_peers[1]: 10.0.0.2 is also unicast_peers[0]"},
		{"garp refresh", "garp: {refresh: 60s}", "garp: {refresh: 50ms}", "line 10: vrrp_instances[0].garp.refresh: must be at least 100ms"},
		{"late adverts", "garp: {refresh: 60s}", "garp: {refresh: 60s}\n    late_adverts_tolerated: 11", "vrrp_instances[0].late_adverts_tolerated: must be 0 (the RFC's three advert intervals) to 10, not 11"},
		{"late adverts ok", "garp: {refresh: 60s}", "garp: {refresh: 60s}\n    late_adverts_tolerated: 1", ""},
		{"garp count", "garp: {refresh: 60s}", "garp: {count: 101}", "vrrp_instances[0].garp.count: must be 1..100, not 101"},
		{"keepalive", "keepalive: 30s", "keepalive: 32768s", "line 15: listeners[0].keepalive: must be at most 9h6m7s"},
		{"track on none", "      - {name: a, address: 10.0.0.1:5672}", "      - {name: a, address: 10.0.0.1:5672, check: {type: none}}", "vrrp_instances[0].track[0].check: backend l/a has check type none: nothing to track"},
		{"inert with an instance", "vrrp_instances:", "inert: true\nvrrp_instances:", "line 1: inert: inert: true says the file has no VRRP instance and no listener"},
		{"slash in backend", "      - {name: a, address: 10.0.0.1:5672}", "      - {name: a/x, address: 10.0.0.1:5672}", "line 18: listeners[0].backends[0].name: bad name: \"a/x\" may contain only"},
		{"slash in listener", "  - name: l", "  - name: l/x", "line 13: listeners[0].name: bad name"},
		{"space in instance", "  - name: v", "  - name: my vip", "line 2: vrrp_instances[0].name: bad name"},
		{"interface name", "    interface: eth0", "    interface: eth:0", "line 3: vrrp_instances[0].interface: \"eth:0\" contains"},
		{"unspecified backend", "      - {name: a, address: 10.0.0.1:5672}", "      - {name: a, address: 0.0.0.0:5672}", "listeners[0].backends[0].address: must not be the unspecified address"},
		{"backend is the bind", "      - {name: a, address: 10.0.0.1:5672}", "      - {name: a, address: 10.0.0.100:5672}", "line 18: listeners[0].backends[0].address: 10.0.0.100:5672 is where listeners[0] (bind 10.0.0.100:5672) listens: the proxy would connect to itself, not to a broker"},
		{"backend is a VIP under 0.0.0.0", "    bind: 10.0.0.100:5672\n    keepalive: 30s\n    proxy_protocol: v2\n    backends:\n      - {name: a, address: 10.0.0.1:5672}", "    bind: 0.0.0.0:5672\n    keepalive: 30s\n    proxy_protocol: v2\n    backends:\n      - {name: a, address: 10.0.0.100:5672}", "line 18: listeners[0].backends[0].address: 10.0.0.100:5672 is where listeners[0] (bind 0.0.0.0:5672) listens"},
		{"backend is loopback under [::]", "    bind: 10.0.0.100:5672\n    keepalive: 30s\n    proxy_protocol: v2\n    backends:\n      - {name: a, address: 10.0.0.1:5672}", "    bind: \"[::]:5672\"\n    keepalive: 30s\n    proxy_protocol: v2\n    backends:\n      - {name: a, address: 127.0.0.1:5672}", "line 18: listeners[0].backends[0].address: 127.0.0.1:5672 is where listeners[0] (bind [::]:5672) listens"},
		{"backend is unicast_src under 0.0.0.0", "    bind: 10.0.0.100:5672", "    bind: 0.0.0.0:5672", "line 18: listeners[0].backends[0].address: 10.0.0.1:5672 is where listeners[0] (bind 0.0.0.0:5672) listens"},
		{"backend at the VIP, another port", "      - {name: a, address: 10.0.0.1:5672}", "      - {name: a, address: 10.0.0.100:5673}", ""},
		{"backend on loopback, bind the VIP", "      - {name: a, address: 10.0.0.1:5672}", "      - {name: a, address: 127.0.0.1:5672}", ""},
		{"backends of other hosts under 0.0.0.0", "    bind: 10.0.0.100:5672\n    keepalive: 30s\n    proxy_protocol: v2\n    backends:\n      - {name: a, address: 10.0.0.1:5672}", "    bind: 0.0.0.0:5672\n    keepalive: 30s\n    proxy_protocol: v2\n    backends:\n      - {name: a, address: 10.0.0.3:5672}", ""},
		{"check address is the bind", "      - {name: b, address: 10.0.0.2:5672, check: {type: tcp}}", "      - {name: b, address: 10.0.0.2:5672, check: {type: tcp, address: 10.0.0.100:5672}}", "line 19: listeners[0].backends[1].check.address: 10.0.0.100:5672 is where listeners[0] (bind 10.0.0.100:5672) listens"},
		{"zoned backend", "      - {name: a, address: 10.0.0.1:5672}", "      - {name: a, address: \"[fe80::1%eth0]:5672\"}", "line 18: listeners[0].backends[0].address: [fe80::1%eth0]:5672: zoned addresses are not supported"},
		{"zoned bind", "    bind: 10.0.0.100:5672", "    bind: \"[fe80::1%eth0]:5672\"", "listeners[0].bind: [fe80::1%eth0]:5672: zoned addresses are not supported"},
		{"proxy value", "    proxy_protocol: v2", "    proxy_protocol: v3", "line 16: listeners[0].proxy_protocol: must be v1, v2 or none, not \"v3\""},
		{"relative socket", "vrrp_instances:", "control_socket: rmqlb.sock\nvrrp_instances:", "line 1: control_socket: must be an absolute path"},
		{"long socket", "vrrp_instances:", "control_socket: /" + strings.Repeat("s", 120) + "\nvrrp_instances:", "control_socket: is 121 bytes"},
		{"control group", "vrrp_instances:", "control_group: no-such-group-rmqlb\nvrrp_instances:", "line 1: control_group: group: unknown group no-such-group-rmqlb"},
		{"control group ok", "vrrp_instances:", "control_group: root\nvrrp_instances:", ""},
		{"state file", "vrrp_instances:", "state_file: /var/lib/rmqlb/state.json\nvrrp_instances:", ""},
		{"state file relative", "vrrp_instances:", "state_file: state.json\nvrrp_instances:", `line 1: state_file: must be an absolute path of a file, not "state.json"`},
		{"state file a directory", "vrrp_instances:", "state_file: /var/lib/rmqlb/\nvrrp_instances:", `line 1: state_file: must be an absolute path of a file, not "/var/lib/rmqlb/"`},
		{"rt priority", "vrrp_instances:", "vrrp_rt_priority: 100\nvrrp_instances:", "line 1: vrrp_rt_priority: must be 0 (off) or 1..99, not 100"},
		{"negative rt priority", "vrrp_instances:", "vrrp_rt_priority: -1\nvrrp_instances:", "line 1: vrrp_rt_priority: must be 0 (off) or 1..99, not -1"},
		{"rt priority ok", "vrrp_instances:", "vrrp_rt_priority: 10\nvrrp_instances:", ""},
		{"sender process", "vrrp_instances:", "vrrp_sender: process\nvrrp_instances:", ""},
		{"sender inline", "vrrp_instances:", "vrrp_sender: inline\nvrrp_instances:", ""},
		{"sender unknown", "vrrp_instances:", "vrrp_sender: thread\nvrrp_instances:", `line 1: vrrp_sender: must be process or inline, not "thread"`},
		{"metrics", "vrrp_instances:", "metrics_listen: localhost:9150\nvrrp_instances:", "line 1: metrics_listen: must be ip:port"},
		{"allowed peers lack a unicast peer", "unicast_peers: [10.0.0.2]", "unicast_peers: [10.0.0.2]\n    allowed_peers: [10.0.0.3]", "line 8: vrrp_instances[0].unicast_peers[0]: 10.0.0.2 is not in allowed_peers"},
		{"allowed peer not IPv4", "unicast_peers: [10.0.0.2]", "unicast_peers: [10.0.0.2]\n    allowed_peers: [10.0.0.2, fe80::1]", "line 9: vrrp_instances[0].allowed_peers[1]: must be an IPv4 address"},
		{"allowed peers", "unicast_peers: [10.0.0.2]", "unicast_peers: [10.0.0.2]\n    allowed_peers: [10.0.0.2, 10.0.0.3]", ""},
		{"max adopted below own", "advert_interval: 100ms", "advert_interval: 100ms\n    max_adopted_advert_interval: 50ms", "line 7: vrrp_instances[0].max_adopted_advert_interval: must be whole centiseconds from advert_interval (100ms)"},
		{"max adopted too long", "advert_interval: 100ms", "advert_interval: 100ms\n    max_adopted_advert_interval: 41s", "max_adopted_advert_interval: must be whole centiseconds"},
		{"max adopted", "advert_interval: 100ms", "advert_interval: 100ms\n    max_adopted_advert_interval: 1s", ""},
		{"listener track without checks", "track: [{check: a, weight: -60}]", "track: [{listener: l, weight: -60}]\n# none checked", ""},
		{"notify", "garp: {refresh: 60s}", "garp: {refresh: 60s}\n    notify: {master: [/usr/local/bin/vip-hook, master], stop: [/bin/true], timeout: 5s}", ""},
		{"notify relative program", "garp: {refresh: 60s}", "garp: {refresh: 60s}\n    notify: {master: [vip-hook.sh]}", `line 11: vrrp_instances[0].notify.master: program "vip-hook.sh" is not an absolute path`},
		{"notify empty argv", "garp: {refresh: 60s}", "garp: {refresh: 60s}\n    notify:\n      stop: []", "line 12: vrrp_instances[0].notify.stop: needs at least the program's absolute path"},
		{"notify NUL", "garp: {refresh: 60s}", "garp: {refresh: 60s}\n    notify: {fault: [/bin/echo, \"a\\0b\"]}", "vrrp_instances[0].notify.fault: argument 1 contains a NUL byte"},
		{"notify timeout", "garp: {refresh: 60s}", "garp: {refresh: 60s}\n    notify: {backup: [/bin/true], timeout: -1s}", "line 11: vrrp_instances[0].notify.timeout: must be 1ms..10m0s, not -1s"},
		{"notify string", "garp: {refresh: 60s}", "garp: {refresh: 60s}\n    notify: {master: /bin/true}", `line 11: vrrp_instances[0].notify.master: must be a list, not "/bin/true"`},
		{"log sessions", "keepalive: 30s", "keepalive: 30s\n    log_sessions: true", ""},
		{"log sessions not a bool", "keepalive: 30s", "keepalive: 30s\n    log_sessions: sometimes", `line 16: listeners[0].log_sessions: must be true or false, not "sometimes"`},
		{"preempt delay", "advert_interval: 100ms", "advert_interval: 100ms\n    preempt_delay: 2h", "line 7: vrrp_instances[0].preempt_delay: must be 0s..1h0m0s, not 2h0m0s"},
		{"max adopted not whole centiseconds", "advert_interval: 100ms", "advert_interval: 100ms\n    max_adopted_advert_interval: 1005ms", "line 7: vrrp_instances[0].max_adopted_advert_interval: must be whole centiseconds"},
		{"max adopted with version 2", "    version: 3\n    advert_interval: 100ms", "    version: 2\n    advert_interval: 1s\n    max_adopted_advert_interval: 3s", "line 7: vrrp_instances[0].max_adopted_advert_interval: applies to version 3 only"},
		{"version", "    version: 3", "    version: 4", "line 5: vrrp_instances[0].version: must be 2 or 3, not 4"},
		{"no interface", "    interface: eth0", "    interface: \"\"", "line 3: vrrp_instances[0].interface: required"},
		{"IPv6 unicast src", "unicast_src: 10.0.0.1", "unicast_src: fd00::1", "line 7: vrrp_instances[0].unicast_src: must be an IPv4 address, not fd00::1"},
		{"IPv6 peer", "unicast_peers: [10.0.0.2]", "unicast_peers: [fd00::2]", "line 8: vrrp_instances[0].unicast_peers[0]: must be an IPv4 address, not fd00::2"},
		{"garp interval", "garp: {refresh: 60s}", "garp: {interval: -1s}", "line 10: vrrp_instances[0].garp.interval: must not be negative, not -1s"},
		{"no VIP", "virtual_ipaddress: [10.0.0.100/24]", "virtual_ipaddress: []", "line 9: vrrp_instances[0].virtual_ipaddress: needs at least one address"},
		{"check slowstart", "check: {type: tcp}", "check: {type: tcp, slowstart: -1s}", "line 19: listeners[0].backends[1].check.slowstart: must not be negative (0: off), not -1s"},
		{"check fastinterval", "check: {type: tcp}", "check: {type: tcp, fastinterval: 5ms}", "line 19: listeners[0].backends[1].check.fastinterval: must be at least 10ms, not 5ms"},
		{"check rise", "check: {type: tcp}", "check: {type: tcp, rise: -1}", "line 19: listeners[0].backends[1].check.rise: must be 1..100, not -1"},
		{"check vhost", "check: {type: tcp}", "check: {mode: login, user: u, vhost: " + strings.Repeat("v", 256) + "}", "line 19: listeners[0].backends[1].check.vhost: must be at most 255 bytes, not 256"},
		{"check address port 0", "check: {type: tcp}", "check: {type: tcp, address: 10.0.0.2:0}", `line 19: listeners[0].backends[1].check.address: must be ip:port, not "10.0.0.2:0"`},
		{"amqp check address port 0", "check: {type: tcp}", "check: {address: 10.0.0.2:0}", `line 19: listeners[0].backends[1].check.address: must be ip:port, not "10.0.0.2:0"`},
		{"check mode", "check: {type: tcp}", "check: {type: tcp, mode: ping}", `line 19: listeners[0].backends[1].check.mode: must be handshake or login, not "ping"`},
		{"check mechanism", "check: {type: tcp}", "check: {mode: login, user: u, mechanism: scram}", `line 19: listeners[0].backends[1].check.mechanism: must be plain or external, not "scram"`},
		{"check mechanism external without certificate", "check: {type: tcp}", "check: {mode: login, mechanism: external, tls: {}}", "line 19: listeners[0].backends[1].check.mechanism: external needs tls with a cert_file (the broker takes the user from it)"},
		{"check tls on tcp", "check: {type: tcp}", "check: {type: tcp, tls: {}}", "line 19: listeners[0].backends[1].check.tls: needs type amqp, http, mqtt, stomp or stream (a tcp check does not speak TLS)"},
		{"check http", "check: {type: tcp}", "check: {type: http, address: 10.0.0.2:15672, path: /api/health/checks/port-listener/5672, expect_status: 200, user: monitor, password: p}", ""},
		{"check https", "check: {type: tcp}", "check: {type: http, address: 10.0.0.2:15671, tls: {verify: none}, expect_status: \"200-299,401\"}", ""},
		{"check mqtt", "check: {type: tcp}", "check: {type: mqtt, address: 10.0.0.2:1883, user: monitor, password: p, on_login_refused: down}", ""},
		{"check mqtt over TLS", "check: {type: tcp}", "check: {type: mqtt, address: 10.0.0.2:8883, tls: {verify: none}}", ""},
		{"check mqtt password alone", "check: {type: tcp}", "check: {type: mqtt, password: p}", "line 19: listeners[0].backends[1].check.user: is required with password"},
		{"check path on mqtt", "check: {type: tcp}", "check: {type: mqtt, path: /}", "line 19: listeners[0].backends[1].check.path: needs type http (an mqtt check sends no HTTP request)"},
		{"check cluster on mqtt", "check: {type: tcp}", "check: {type: mqtt, cluster: c}", "line 19: listeners[0].backends[1].check.cluster: needs type amqp or stream (an mqtt check does not hear the broker's cluster)"},
		{"check stomp", "check: {type: tcp}", "check: {type: stomp, address: 10.0.0.2:61613, vhost: prod, user: monitor, password: p, on_login_refused: down}", ""},
		{"check stomp over TLS", "check: {type: tcp}", "check: {type: stomp, address: 10.0.0.2:61614, tls: {verify: none}}", ""},
		{"check stomp password alone", "check: {type: tcp}", "check: {type: stomp, password: p}", "line 19: listeners[0].backends[1].check.user: is required with password"},
		{"check stomp user with a line break", "check: {type: tcp}", `check: {type: stomp, user: "a\nlogin:admin"}`, "line 19: listeners[0].backends[1].check.user: must not hold a line break or a NUL (a STOMP header cannot carry one)"},
		{"check stream", "check: {type: tcp}", "check: {type: stream, address: 10.0.0.2:5552, vhost: prod, user: monitor, password: p, on_login_refused: down}", ""},
		{"check stream over TLS", "check: {type: tcp}", "check: {type: stream, address: 10.0.0.2:5551, tls: {verify: none}}", ""},
		{"check stream cluster", "check: {type: tcp}", "check: {type: stream, cluster: prod}", ""},
		{"check stream cluster too long", "check: {type: tcp}", "check: {type: stream, cluster: " + strings.Repeat("x", 256) + "}", "line 19: listeners[0].backends[1].check.cluster: must be at most 255 bytes, not 256"},
		{"check stream password alone", "check: {type: tcp}", "check: {type: stream, password: p}", "line 19: listeners[0].backends[1].check.user: is required with password"},
		{"check expect_status on stream", "check: {type: tcp}", "check: {type: stream, expect_status: 200}", "line 19: listeners[0].backends[1].check.expect_status: needs type http (a stream check sends no HTTP request)"},
		{"check vhost on amqp", "check: {type: tcp}", "check: {mode: login, user: u, vhost: prod}", ""},
		{"check path on stomp", "check: {type: tcp}", "check: {type: stomp, path: /}", "line 19: listeners[0].backends[1].check.path: needs type http (a stomp check sends no HTTP request)"},
		{"check cluster on stomp", "check: {type: tcp}", "check: {type: stomp, cluster: c}", "line 19: listeners[0].backends[1].check.cluster: needs type amqp or stream (a stomp check does not hear the broker's cluster)"},
		{"check http method", "check: {type: tcp}", "check: {type: http, method: OPTIONS}", ""},
		{"check http method POST", "check: {type: tcp}", "check: {type: http, method: POST}", `line 19: listeners[0].backends[1].check.method: must be GET, HEAD or OPTIONS, not "POST"`},
		{"check method on tcp", "check: {type: tcp}", "check: {type: tcp, method: GET}", "line 19: listeners[0].backends[1].check.method: needs type http (a tcp check sends no HTTP request)"},
		{"check http path", "check: {type: tcp}", "check: {type: http, path: api/overview}", `line 19: listeners[0].backends[1].check.path: must start with /, not "api/overview"`},
		{"check http path injection", "check: {type: tcp}", "check: {type: http, path: \"/\\r\\nX: 1\"}", "line 19: listeners[0].backends[1].check.path: \"/\\r\\nX: 1\" holds a space, a control character"},
		{"check http expect_status", "check: {type: tcp}", "check: {type: http, expect_status: 2xx}", `line 19: listeners[0].backends[1].check.expect_status: "2xx" is not a status code (100..599)`},
		{"check http password alone", "check: {type: tcp}", "check: {type: http, password: p}", "line 19: listeners[0].backends[1].check.user: is required with password"},
		{"check path on amqp", "check: {type: tcp}", "check: {path: /}", "line 19: listeners[0].backends[1].check.path: needs type http (an amqp check sends no HTTP request)"},
		{"check expect_status on tcp", "check: {type: tcp}", "check: {type: tcp, expect_status: 200}", "line 19: listeners[0].backends[1].check.expect_status: needs type http (a tcp check sends no HTTP request)"},
		{"check http on_login_refused", "check: {type: tcp}", "check: {type: http, on_login_refused: down}", ""},
		{"check type", "check: {type: tcp}", "check: {type: https}", `line 19: listeners[0].backends[1].check.type: must be amqp, http, mqtt, stomp, stream, tcp or none, not "https"`},
		{"check tls verify", "check: {type: tcp}", "check: {tls: {verify: maybe}}", `line 19: listeners[0].backends[1].check.tls.verify: must be full, chain or none, not "maybe"`},
		{"check tls cert without key", "check: {type: tcp}", "check: {tls: {cert_file: /etc/rmqlb/check.pem}}", "line 19: listeners[0].backends[1].check.tls.key_file: is required with cert_file"},
		{"check tls ca with verify none", "check: {type: tcp}", "check: {tls: {ca_file: /etc/rmqlb/ca.pem, verify: none}}", "line 19: listeners[0].backends[1].check.tls.ca_file: has no use with verify none"},
		{"check on_login_refused", "check: {type: tcp}", "check: {mode: login, user: u, on_login_refused: ignore}", `line 19: listeners[0].backends[1].check.on_login_refused: must be degraded, down or down-if-alone, not "ignore"`},
		{"check on_login_refused on tcp", "check: {type: tcp}", "check: {type: tcp, on_login_refused: down}", "line 19: listeners[0].backends[1].check.on_login_refused: needs type amqp, http, mqtt, stomp or stream (a tcp check does not log in)"},
		{"check on_login_refused ok", "check: {type: tcp}", "check: {mode: login, user: u, on_login_refused: down}", ""},
		{"check cluster on tcp", "check: {type: tcp}", "check: {type: tcp, cluster: rabbit-prod}", "line 19: listeners[0].backends[1].check.cluster: needs type amqp or stream (a tcp check does not hear the broker's cluster)"},
		{"check cluster too long", "check: {type: tcp}", "check: {cluster: " + strings.Repeat("x", 256) + "}", "line 19: listeners[0].backends[1].check.cluster: must be at most 255 bytes, not 256"},
		{"check cluster ok", "check: {type: tcp}", "check: {cluster: rabbit-prod}", ""},
		{"check on_alarm", "check: {type: tcp}", "check: {type: tcp, on_alarm: maybe}", `line 19: listeners[0].backends[1].check.on_alarm: must be degraded or down, not "maybe"`},
		{"v3 checksum", "advert_interval: 100ms", "advert_interval: 100ms\n    v3_checksum: fast", `line 7: vrrp_instances[0].v3_checksum: must be pseudo-header or rfc9568, not "fast"`},
		{"v3 checksum alias", "advert_interval: 100ms", "advert_interval: 100ms\n    v3_checksum: no-pseudo-header", ""},
		{"backend proxy value", "check: {type: tcp}}", "check: {type: tcp}, proxy_protocol: v3}", `line 19: listeners[0].backends[1].proxy_protocol: must be v1, v2 or none, not "v3"`},
		{"retries", "keepalive: 30s", "keepalive: 30s\n    retries: 101", "line 16: listeners[0].retries: must be 0..100, not 101"},
		{"retries ok", "keepalive: 30s", "keepalive: 30s\n    retries: 100", ""},
		{"connect timeout", "keepalive: 30s", "keepalive: 30s\n    connect_timeout: -1s", "line 16: listeners[0].connect_timeout: must be positive, not -1s"},
		{"persistence timeout", "keepalive: 30s", "keepalive: 30s\n    persistence_timeout: -1s", "line 16: listeners[0].persistence_timeout: must not be negative (0: off), not -1s"},
		{"persistence netmask6", "keepalive: 30s", "keepalive: 30s\n    persistence_netmask6: 129", "line 16: listeners[0].persistence_netmask6: must be 1..128, not 129"},
		{"persistence netmask6 negative", "keepalive: 30s", "keepalive: 30s\n    persistence_netmask6: -1", "line 16: listeners[0].persistence_netmask6: must be 1..128, not -1"},
		{"persistence netmask6 /64", "keepalive: 30s", "keepalive: 30s\n    persistence_netmask6: 64", ""},
		{"idle timeout", "keepalive: 30s", "keepalive: 30s\n    idle_timeout: -1s", "line 16: listeners[0].idle_timeout: must not be negative (0: never), not -1s"},
		{"tcp user timeout negative", "keepalive: 30s", "keepalive: 30s\n    tcp_user_timeout: -1s", "line 16: listeners[0].tcp_user_timeout: must not be negative (0: the kernel's default), not -1s"},
		{"tcp user timeout too long", "keepalive: 30s", "keepalive: 30s\n    tcp_user_timeout: 596h31m24s", "line 16: listeners[0].tcp_user_timeout: must be at most 596h31m23.647s (the kernel's limit), not 596h31m24s"},
		{"tcp user timeout no unit", "keepalive: 30s", "keepalive: 30s\n    tcp_user_timeout: 300", "line 16: listeners[0].tcp_user_timeout: must be a duration with its unit, such as 300s or 100ms, not 300"},
		{"tcp user timeout longest", "keepalive: 30s", "keepalive: 30s\n    tcp_user_timeout: 596h31m23.647s", ""},
		{"tcp user timeout off", "keepalive: 30s", "keepalive: 30s\n    tcp_user_timeout: 0s", ""},
		{"listener maxconn", "keepalive: 30s", "keepalive: 30s\n    maxconn: -1", "line 16: listeners[0].maxconn: must not be negative (0: no limit), not -1"},
		{"maxconn per client", "keepalive: 30s", "keepalive: 30s\n    maxconn_per_client: -1", "line 16: listeners[0].maxconn_per_client: must not be negative (0: no limit), not -1"},
		{"maxconn per client ok", "keepalive: 30s", "keepalive: 30s\n    maxconn_per_client: 200", ""},
		{"allowed clients ok", "keepalive: 30s", "keepalive: 30s\n    allowed_clients: [10.0.0.0/8, 192.0.2.7, \"2001:db8::/32\", 0.0.0.0/0]", ""},
		{"allowed clients empty", "keepalive: 30s", "keepalive: 30s\n    allowed_clients: []", "line 16: listeners[0].allowed_clients: is empty, which would refuse every client: list the addresses or prefixes to serve, or leave it out to serve every client"},
		{"allowed clients not a prefix", "keepalive: 30s", "keepalive: 30s\n    allowed_clients: [10.0.0.0/8, 10.0.0.0/33]", `line 16: listeners[0].allowed_clients[1]: must be an address or a prefix (10.0.0.0/8, 2001:db8::/32), not "10.0.0.0/33"`},
		{"allowed clients name", "keepalive: 30s", "keepalive: 30s\n    allowed_clients:\n      - 10.0.0.0/8\n      - app.example.com", `line 18: listeners[0].allowed_clients[1]: must be an address or a prefix (10.0.0.0/8, 2001:db8::/32), not "app.example.com"`},
		{"allowed clients host bits", "keepalive: 30s", "keepalive: 30s\n    allowed_clients:\n      - 10.1.2.3/8", "line 17: listeners[0].allowed_clients[0]: 10.1.2.3/8 has bits set past its length 8: did you mean 10.0.0.0/8?"},
		{"allowed clients mapped", "keepalive: 30s", "keepalive: 30s\n    allowed_clients: [\"::ffff:10.1.2.3\"]", "line 16: listeners[0].allowed_clients[0]: ::ffff:10.1.2.3/128 is IPv4-mapped, which never matches (IPv4 clients are matched as IPv4): write 10.1.2.3/32"},
		{"allowed clients of the other family", "keepalive: 30s", "keepalive: 30s\n    allowed_clients: [\"2001:db8::/32\"]", "line 16: listeners[0].allowed_clients: holds no IPv4 prefix, and bind 10.0.0.100:5672 takes IPv4 clients only: every client would be refused"},
		{"allowed clients zone", "keepalive: 30s", "keepalive: 30s\n    allowed_clients: [\"fe80::1%eth0\"]", "line 16: listeners[0].allowed_clients[0]: fe80::1%eth0: zoned addresses are not supported"},
		{"denied clients ok", "keepalive: 30s", "keepalive: 30s\n    denied_clients: [10.9.0.0/16, 192.0.2.7, \"2001:db8::/32\"]", ""},
		{"denied clients empty", "keepalive: 30s", "keepalive: 30s\n    denied_clients: []", ""},
		{"denied clients with allowed clients", "keepalive: 30s", "keepalive: 30s\n    allowed_clients: [10.0.0.0/8]\n    denied_clients: [10.9.0.0/16]", ""},
		{"denied clients not a prefix", "keepalive: 30s", "keepalive: 30s\n    denied_clients: [10.0.0.0/8, 10.0.0.0/33]", `line 16: listeners[0].denied_clients[1]: must be an address or a prefix (10.0.0.0/8, 2001:db8::/32), not "10.0.0.0/33"`},
		{"denied clients host bits", "keepalive: 30s", "keepalive: 30s\n    denied_clients:\n      - 10.1.2.3/8", "line 17: listeners[0].denied_clients[0]: 10.1.2.3/8 has bits set past its length 8: did you mean 10.0.0.0/8?"},
		{"denied clients zone", "keepalive: 30s", "keepalive: 30s\n    denied_clients: [\"fe80::1%eth0\"]", "line 16: listeners[0].denied_clients[0]: fe80::1%eth0: zoned addresses are not supported"},
		{"graceful timeout", "keepalive: 30s", "keepalive: 30s\n    graceful_timeout: -1s", "line 16: listeners[0].graceful_timeout: must be positive, not -1s"},
		{"close spread negative", "keepalive: 30s", "keepalive: 30s\n    close_spread: -1s", "line 16: listeners[0].close_spread: must not be negative (0: close the sessions left at once when graceful_timeout ends), not -1s"},
		{"close spread over the default grace", "keepalive: 30s", "keepalive: 30s\n    close_spread: 11s", "line 16: listeners[0].close_spread: must be at most graceful_timeout (10s), the time the sessions left are closed within, not 11s"},
		{"close spread over the grace", "keepalive: 30s", "keepalive: 30s\n    graceful_timeout: 30s\n    close_spread: 31s", "line 17: listeners[0].close_spread: must be at most graceful_timeout (30s), the time the sessions left are closed within, not 31s"},
		{"close spread all of the grace", "keepalive: 30s", "keepalive: 30s\n    graceful_timeout: 30s\n    close_spread: 30s", ""},
		{"close spread no unit", "keepalive: 30s", "keepalive: 30s\n    close_spread: 5", "line 16: listeners[0].close_spread: must be a duration with its unit, such as 300s or 100ms, not 5"},
		{"close spread off", "keepalive: 30s", "keepalive: 30s\n    graceful_timeout: 1h\n    close_spread: 0s", ""},
		{"no backends", "    backends:\n      - {name: a, address: 10.0.0.1:5672}\n      - {name: b, address: 10.0.0.2:5672, check: {type: tcp}}\n", "    backends: []\n", "line 17: listeners[0].backends: needs at least one backend"},
		{"backend port 0", "      - {name: a, address: 10.0.0.1:5672}", "      - {name: a, address: 10.0.0.1:0}", "line 18: listeners[0].backends[0].address: must have a port other than 0, not 10.0.0.1:0"},
		{"backend maxconn", "      - {name: a, address: 10.0.0.1:5672}", "      - {name: a, address: 10.0.0.1:5672, maxconn: -1}", "line 18: listeners[0].backends[0].maxconn: must not be negative (0: no limit), not -1"},
		{"backend weight", "      - {name: a, address: 10.0.0.1:5672}", "      - {name: a, address: 10.0.0.1:5672, weight: -1}", "line 18: listeners[0].backends[0].weight: must be 0..65535, not -1"},
		{"empty backend name", "      - {name: a, address: 10.0.0.1:5672}", "      - {address: 10.0.0.1:5672}", "line 18: listeners[0].backends[0].name: bad name: empty"},
		{"notify unknown key", "garp: {refresh: 60s}", "garp: {refresh: 60s}\n    notify: {primary: [/bin/true]}", "line 11: vrrp_instances[0].notify.primary: unknown key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(base, tc.old) {
				t.Fatalf("base lacks %q", tc.old)
			}
			data := strings.Replace(base, tc.old, tc.new, 1)
			_, err := Parse([]byte(data))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("Parse = %v, want Errors containing %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("errors:\n%v\nwant one containing %q", err, tc.want)
			}
		})
	}
}

// TestOneProblemPerField: a field is reported once, by the first rule
// that refuses it, although the value reaches several packages' checks
// (an interface name is vrrp's and netsetup's, a VIP too) or did not
// parse (the packages then see its zero value). The list is in file
// order.
func TestOneProblemPerField(t *testing.T) {
	data := strings.NewReplacer(
		"    interface: eth0", "    interface: eth:0",
		"virtual_ipaddress: [10.0.0.100/24]", "virtual_ipaddress: [10.0.0.100/24, x, 10.0.0.100, 10.0.0.100/32]",
		"      - {name: a, address: 10.0.0.1:5672}", "      - {name: a, address: nowhere, weight: 70000}",
	).Replace(base)
	_, err := Parse([]byte(data))
	want := []string{
		`line 3: vrrp_instances[0].interface: "eth:0" contains '/', ':' or white space`,
		`line 9: vrrp_instances[0].virtual_ipaddress[1]: must be an address or address/prefix-length, not "x"`,
		`line 9: vrrp_instances[0].virtual_ipaddress[2]: 10.0.0.100 is also virtual_ipaddress[0]`,
		`line 9: vrrp_instances[0].virtual_ipaddress[3]: 10.0.0.100 is also virtual_ipaddress[0]`,
		`line 18: listeners[0].backends[0].address: must be ip:port, not "nowhere"`,
		`line 18: listeners[0].backends[0].weight: must be 0..65535, not 70000`,
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Fatalf("errors:\n%v\nwant:\n%s", err, strings.Join(want, "\n"))
	}
}

// TestDefaultVersionInterval: an advert_interval that only version 3 can
// send, in a file that sets no version, is refused with the default
// version named and the way out; one that sets version 2, or an interval
// neither version sends, is refused by the rule alone. Each is one
// problem.
func TestDefaultVersionInterval(t *testing.T) {
	for _, tc := range []struct {
		version, interval, want string
	}{
		{"", "100ms", "must be whole seconds from 1s to 255s with version 2, not 100ms (version 2 is the default: set version: 3 for centiseconds, on every router of the virtual router)"},
		{"", "1500ms", "must be whole seconds from 1s to 255s with version 2, not 1.5s (version 2 is the default: set version: 3 for centiseconds, on every router of the virtual router)"},
		{"", "300s", "must be whole seconds from 1s to 255s with version 2, not 5m0s"},
		{"", "2s", ""},
		{"    version: 2\n", "100ms", "must be whole seconds from 1s to 255s with version 2, not 100ms"},
		{"    version: 3\n", "100ms", ""},
	} {
		data := strings.Replace(base, "    version: 3\n    advert_interval: 100ms\n", tc.version+"    advert_interval: "+tc.interval+"\n", 1)
		_, err := Parse([]byte(data))
		var got []string
		var es Errors
		if errors.As(err, &es) {
			for _, e := range es {
				if e.Field == "vrrp_instances[0].advert_interval" {
					got = append(got, e.Msg)
				}
			}
		} else if err != nil {
			t.Fatalf("%q %s: %v", tc.version, tc.interval, err)
		}
		want := []string{tc.want}
		if tc.want == "" {
			want = nil
		}
		if !slices.Equal(got, want) {
			t.Errorf("%q %s: advert_interval refused with %q, want %q (all: %v)", tc.version, tc.interval, got, want, err)
		}
	}
}

// TestCloseSpreadDefault: a listener without close_spread spreads the
// closes over four fifths of its graceful_timeout, whatever that is; one
// that sets it, 0s included, gets what it set.
func TestCloseSpreadDefault(t *testing.T) {
	for _, tc := range []struct {
		set  string
		want time.Duration
	}{
		{"", 8 * time.Second},
		{"\n    graceful_timeout: 1h", 48 * time.Minute},
		{"\n    graceful_timeout: 3s", 2400 * time.Millisecond},
		{"\n    graceful_timeout: 1ns", 0},
		{"\n    close_spread: 0s", 0},
		{"\n    graceful_timeout: 1h\n    close_spread: 0s", 0},
		{"\n    graceful_timeout: 3s\n    close_spread: 3s", 3 * time.Second},
		{"\n    close_spread: 1s", time.Second},
	} {
		c, err := Parse([]byte(strings.Replace(base, "keepalive: 30s", "keepalive: 30s"+tc.set, 1)))
		if err != nil {
			t.Fatalf("%q: %v", tc.set, err)
		}
		if got := c.Listeners[0].CloseSpread; got != tc.want {
			t.Errorf("%q: close_spread %v, want %v", tc.set, got, tc.want)
		}
	}
}

// TestOverlappingBinds: two listeners cannot bind the same address and
// port, nor a wildcard and an address on one port.
func TestOverlappingBinds(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"10.0.0.1:5672", "10.0.0.1:5672"},
		{"0.0.0.0:5672", "10.0.0.1:5672"},
		{"10.0.0.1:5672", "0.0.0.0:5672"},
		{"'[::]:5672'", "10.0.0.1:5672"}, // bound dual-stack
		{"'[fd00::1]:5672'", "'[::]:5672'"},
	} {
		data := "listeners:\n  - {name: a, bind: " + tc.a + ", backends: [{name: x, address: 10.0.0.9:1}]}\n" +
			"  - {name: b, bind: " + tc.b + ", backends: [{name: x, address: 10.0.0.9:1}]}\n"
		_, err := Parse([]byte(data))
		if err == nil || !strings.Contains(err.Error(), "line 3: listeners[1].bind: "+strings.Trim(tc.b, "'")+" overlaps bind "+strings.Trim(tc.a, "'")) {
			t.Errorf("%s and %s: %v", tc.a, tc.b, err)
		}
	}
	ok := "listeners:\n  - {name: a, bind: 10.0.0.1:5672, backends: [{name: x, address: 10.0.0.9:1}]}\n" +
		"  - {name: b, bind: 10.0.0.2:5672, backends: [{name: x, address: 10.0.0.9:1}]}\n"
	if _, err := Parse([]byte(ok)); err != nil {
		t.Errorf("two addresses on one port: %v", err)
	}
	// 0.0.0.0 covers IPv4 only.
	ok = "listeners:\n  - {name: a, bind: 0.0.0.0:5672, backends: [{name: x, address: 10.0.0.9:1}]}\n" +
		"  - {name: b, bind: '[fd00::1]:5672', backends: [{name: x, address: 10.0.0.9:1}]}\n"
	if _, err := Parse([]byte(ok)); err != nil {
		t.Errorf("0.0.0.0 and an IPv6 address on one port: %v", err)
	}
}

// TestListenerTrackNeedsChecks: a listener track whose listener checks no
// backend could never pass; it is refused.
func TestListenerTrackNeedsChecks(t *testing.T) {
	data := strings.Replace(base, "track: [{check: a, weight: -60}]", "track: [{listener: l, weight: -60}]", 1)
	data = strings.Replace(data, "      - {name: a, address: 10.0.0.1:5672}", "      - {name: a, address: 10.0.0.1:5672, check: {type: none}}", 1)
	data = strings.Replace(data, "check: {type: tcp}", "check: {type: none}", 1)
	_, err := Parse([]byte(data))
	if err == nil || !strings.Contains(err.Error(), "track[0].listener: listener \"l\" has no checked backend") {
		t.Fatalf("Parse = %v", err)
	}
}

// TestProxyProtocolResolved: a backend's own setting wins over the
// listener's, "none" included, and the check sends a header exactly when
// the data path does.
func TestProxyProtocolResolved(t *testing.T) {
	data := strings.Replace(base, "check: {type: tcp}}", "check: {type: tcp}, proxy_protocol: none}", 1)
	// The listener's key and the backend's follow one rule: the same
	// values, in any case.
	upper := strings.NewReplacer("proxy_protocol: v2", "proxy_protocol: V2", "proxy_protocol: none", "proxy_protocol: None").Replace(data)
	if !strings.Contains(upper, "    proxy_protocol: V2\n") || !strings.Contains(upper, "proxy_protocol: None}") {
		t.Fatalf("the test's file lacks the listener's or the backend's proxy_protocol key:\n%s", upper)
	}
	for _, data := range []string{data, upper} {
		testProxyProtocolResolved(t, data)
	}
}

func testProxyProtocolResolved(t *testing.T, data string) {
	t.Helper()
	c, err := Parse([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.Listeners[0].Backends[0], c.Listeners[0].Backends[1]
	if a.ProxyProtocol != proxyproto.V2 || !a.Check.ProxyProtocol || !a.Check.AMQPConfig().ProxyProtocol {
		t.Errorf("backend a (inherits v2): %v, check header %v", a.ProxyProtocol, a.Check.ProxyProtocol)
	}
	if b.ProxyProtocol != proxyproto.None || b.Check.ProxyProtocol {
		t.Errorf("backend b (none): %v, check header %v", b.ProxyProtocol, b.Check.ProxyProtocol)
	}
	bc := c.BalancerConfig(&c.Listeners[0])
	if bc.Backends[0].ProxyProtocol != proxyproto.V2 || bc.Backends[1].ProxyProtocol != proxyproto.None {
		t.Errorf("balancer config: %+v", bc.Backends)
	}
	if !bc.Backends[0].Checked || !bc.Backends[1].Checked {
		t.Errorf("checked backends not marked: %+v", bc.Backends)
	}
	// The listener is bound to the instance's VIP: it closes sessions at
	// once on stop.
	if bc.GracefulTimeout >= 0 {
		t.Errorf("VIP-bound listener: graceful timeout %v, want negative", bc.GracefulTimeout)
	}
}

// TestLookups: listeners, backends and instances by name.
func TestLookups(t *testing.T) {
	c, err := Parse([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := c.Listener("l"); !ok || l.Name != "l" {
		t.Error("Listener(l)")
	}
	if _, ok := c.Listener("x"); ok {
		t.Error("Listener(x) found")
	}
	if b, ok := c.Backend(backend.ID{Listener: "l", Name: "b"}); !ok || b.Check.Type != CheckTCP {
		t.Error("Backend(l/b)")
	}
	if _, ok := c.Backend(backend.ID{Listener: "x", Name: "b"}); ok {
		t.Error("Backend(x/b) found")
	}
	if in, ok := c.VRRPInstance("v"); !ok || in.VRID != 1 {
		t.Error("VRRPInstance(v)")
	}
	if !c.VIPOwned(c.Listeners[0].Bind.Addr()) {
		t.Error("the bind address is a VIP")
	}
}

// TestSecretsWarning: a file holding a password that others, or a group
// not trusted with it, may read gets a warning naming the field and its
// line and saying what to do; mode 0600 none, nor 0640 with a trusted
// group.
func TestSecretsWarning(t *testing.T) {
	dir := t.TempDir()
	lobase := strings.Replace(base, "interface: eth0", "interface: lo", 1) // every host has lo
	data := strings.Replace(lobase, "      - {name: a, address: 10.0.0.1:5672}",
		"      - {name: a, address: 10.0.0.1:5672, check: {mode: login, user: rmqlb, password: s3cret}}", 1)
	p := filepath.Join(dir, "rmqlb.yaml")
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "listeners[0].backends[0].check.password, line 18") || !strings.Contains(c.Warnings[0], "0644") ||
		!strings.Contains(c.Warnings[0], "chown root:rmqlb and chmod 640") {
		t.Errorf("warnings at 0644: %q", c.Warnings)
	}
	for _, mode := range []os.FileMode{0o600, 0o640} { // 0640: the file's group is this process's
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if c, err = Load(p); err != nil || len(c.Warnings) != 0 {
			t.Errorf("warnings at %04o: %q, %v", mode, c.Warnings, err)
		}
	}
	// Group-readable by a group that is neither root's, rmqlb's nor
	// this process's.
	if os.Geteuid() == 0 && os.Getegid() != 65534 {
		if err := os.Chown(p, 0, 65534); err != nil {
			t.Fatal(err)
		}
		if c, err = Load(p); err != nil || len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "0640") {
			t.Errorf("warnings at 0640 for group 65534: %q, %v", c.Warnings, err)
		}
	}
	// No password, no warning, whatever the mode.
	if err := os.WriteFile(p, []byte(lobase), 0o644); err != nil {
		t.Fatal(err)
	}
	if c, err = Load(p); err != nil || len(c.Warnings) != 0 {
		t.Errorf("warnings without a password: %q, %v", c.Warnings, err)
	}
}

// TestWritableConfigWarning: a file that others may change, or in a
// directory they may write, gets a warning naming what they may change:
// its notify hooks run as the daemon.
func TestWritableConfigWarning(t *testing.T) {
	dir := t.TempDir()
	data := strings.Replace(base, "interface: eth0", "interface: lo", 1) // every host has lo
	p := filepath.Join(dir, "rmqlb.yaml")
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	load := func() []string {
		t.Helper()
		c, err := Load(p)
		if err != nil {
			t.Fatal(err)
		}
		return c.Warnings
	}
	if ws := load(); len(ws) != 0 {
		t.Fatalf("warnings at 0644: %q", ws)
	}
	const why = ": whoever can change the file could make the daemon run commands (a notify hook) and move its VIPs"
	if err := os.Chmod(p, 0o666); err != nil {
		t.Fatal(err)
	}
	if ws, want := load(), p+": "+p+" is writable by every user, mode 0666"+why; len(ws) != 1 || !strings.HasPrefix(ws[0], want) {
		t.Errorf("warnings at 0666: %q, want %q...", ws, want)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if ws, want := load(), p+": "+dir+" is writable by every user, mode 0777"+why; len(ws) != 1 || !strings.HasPrefix(ws[0], want) {
		t.Errorf("warnings in a directory at 0777: %q, want %q...", ws, want)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		uid := 4242
		for ; ; uid++ { // one without a name, so that the message says "uid N"
			if _, err := user.LookupId(strconv.Itoa(uid)); err != nil {
				break
			}
		}
		if err := os.Chown(p, uid, 0); err != nil {
			t.Fatal(err)
		}
		if ws, want := load(), fmt.Sprintf("%s: %s is owned by uid %d%s", p, p, uid, why); len(ws) != 1 || !strings.HasPrefix(ws[0], want) {
			t.Errorf("warnings owned by another user: %q, want %q...", ws, want)
		}
	}
}

func TestPathRoundTrip(t *testing.T) {
	for _, s := range []string{"", "log_level", "listeners[0].backends[12].check.rise", "vrrp_instances[3]"} {
		if got := parsePath(s).String(); got != s {
			t.Errorf("parsePath(%q).String() = %q", s, got)
		}
	}
}

// TestVRRPBuilt: the instance's vrrp.Config carries every resolved field.
func TestVRRPBuilt(t *testing.T) {
	data := strings.Replace(base, "unicast_peers: [10.0.0.2]", "unicast_peers: [10.0.0.2]\n    allowed_peers: [10.0.0.2, 10.0.0.3]\n    max_adopted_advert_interval: 1s", 1)
	c, err := Parse([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	vc := c.VRRP[0].VRRPConfig()
	if len(vc.AllowedPeers) != 2 || vc.MaxAdoptedInterval != time.Second || vc.VRID != 1 || vc.AdvertInterval != 100*time.Millisecond ||
		len(vc.UnicastPeers) != 1 || vc.UnicastSrc.String() != "10.0.0.1" || len(vc.VIPs) != 1 {
		t.Fatalf("vrrp.Config = %+v", vc)
	}
	if err := vc.Validate(); err != nil {
		t.Fatal(err)
	}
	vip := c.VRRP[0].VIPConfig()
	if vip.Interface != "eth0" || vip.Label != VIPLabel || vip.GARP.Refresh != time.Minute {
		t.Fatalf("VIPConfig = %+v", vip)
	}
}

// TestControlSocketOf: the control socket is found in a file that does not
// parse as a whole (a broken file a reload will refuse).
func TestControlSocketOf(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "rmqlb.yaml")
	for _, tc := range []struct{ file, want string }{
		{"control_socket: /run/x.sock\nlisteners: [{name: l, bind: nowhere}]\n", "/run/x.sock"},
		{"log_level: info\nbogus: [\n", ""},
		{"listeners: []\n", DefaultControlSocket},
		{"control_socket: /run/y.sock\nvrrp_instances: 7\n", "/run/y.sock"},
	} {
		os.WriteFile(p, []byte(tc.file), 0o600)
		got, err := ControlSocketOf(p)
		if tc.want == "" {
			if err == nil {
				t.Errorf("%q: %q, want an error", tc.file, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: %q %v, want %q", tc.file, got, err, tc.want)
		}
	}
}

// TestConfigFileNotRegular: Load, and ControlSocketOf, refuse at once
// a configuration path that is not a regular file, naming the path and
// its type: a FIFO without a writer, which a plain read would wait on
// (and with it a reload) until one came, and a directory.
func TestConfigFileNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "rmqlb.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{fifo, "reading config: read " + fifo + ": not a regular file (p---------)"},
		{dir, "reading config: read " + dir + ": not a regular file (d---------)"},
		{filepath.Join(dir, "none"), "reading config: open " + filepath.Join(dir, "none") + ": no such file or directory"},
	} {
		if c, err := Load(tc.path); err == nil || err.Error() != tc.want {
			t.Errorf("Load(%s): %v, %v; want %q", tc.path, c != nil, err, tc.want)
		}
		if s, err := ControlSocketOf(tc.path); err == nil || err.Error() != tc.want {
			t.Errorf("ControlSocketOf(%s): %q, %v; want %q", tc.path, s, err, tc.want)
		}
	}
}

// TestNotifyBuilt: an instance's hooks as the daemon gets them, with the
// default timeout; an instance without a notify section runs none.
func TestNotifyBuilt(t *testing.T) {
	data := strings.Replace(base, "garp: {refresh: 60s}", "garp: {refresh: 60s}\n    notify: {master: [/usr/local/bin/vip-hook, up], stop: [/usr/local/bin/vip-hook, stop]}", 1)
	c, err := Parse([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	nc := c.VRRP[0].NotifyConfig()
	if !slices.Equal(nc.Master, []string{"/usr/local/bin/vip-hook", "up"}) || !slices.Equal(nc.Stop, []string{"/usr/local/bin/vip-hook", "stop"}) ||
		nc.Backup != nil || nc.Fault != nil || nc.Timeout != notify.DefaultTimeout {
		t.Fatalf("NotifyConfig = %+v", nc)
	}
	nc.Master[1] = "changed"
	if c.VRRP[0].Notify.Master[1] != "up" {
		t.Fatal("NotifyConfig shares its argv with the model")
	}
	c, err = Parse([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if nc := c.VRRP[0].NotifyConfig(); nc.Master != nil || nc.Backup != nil || nc.Fault != nil || nc.Stop != nil {
		t.Fatalf("no notify section: %+v", nc)
	}
}

// TestHookWarnings: a hook whose program is missing or not executable on
// this host, or that others may change, is a warning naming the field and
// its line, not an error (the hook may be installed after the file); a
// runnable one gets none.
func TestHookWarnings(t *testing.T) {
	dir := t.TempDir()
	hook := filepath.Join(dir, "hook")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(dir, "open")
	if err := os.WriteFile(open, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil { // past the umask
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	data := strings.Replace(base, "garp: {refresh: 60s}", "garp: {refresh: 60s}\n    notify:\n      master: ["+hook+"]\n      backup: ["+missing+", x]\n      fault: ["+plain+"]\n      stop: ["+open+"]", 1)
	data = strings.Replace(data, "interface: eth0", "interface: lo", 1) // every host has lo
	p := filepath.Join(dir, "rmqlb.yaml")
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"vrrp_instances[0].notify.backup (line 13): the hook cannot run on this host: stat " + missing + ": no such file or directory",
		"vrrp_instances[0].notify.fault (line 14): the hook cannot run on this host: " + plain + " is not executable (mode 0644)",
		"vrrp_instances[0].notify.stop (line 15): the daemon will not run the hook: " + open + " is writable by every user, mode 0777: whoever can change it could run commands as the daemon (a hook, and every directory above it, must be owned by root or the daemon's user, and writable by no one else)",
	}
	if !slices.Equal(c.Warnings, want) {
		t.Fatalf("warnings:\n%s\nwant:\n%s", strings.Join(c.Warnings, "\n"), strings.Join(want, "\n"))
	}
}

// TestTLSFiles: Load refuses a check whose TLS files this process cannot
// read, at the check's tls key, once for a section its backends share;
// Parse reads no file.
func TestTLSFiles(t *testing.T) {
	dir := t.TempDir()
	ca, err := testpki.NewCA(dir, "lab")
	if err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	load := func(data string) (*Config, error) {
		t.Helper()
		if _, err := Parse([]byte(data)); err != nil {
			t.Fatalf("Parse: %v", err)
		}
		p := filepath.Join(dir, "rmqlb.yaml")
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return Load(p)
	}
	c, err := load(strings.Replace(base, "check: {type: tcp}", "check: {tls: {ca_file: "+ca.File+", server_name: rmq2.example}}", 1))
	if err != nil {
		t.Fatal(err)
	}
	want := &checktls.Config{CAFile: ca.File, ServerName: "rmq2.example", Verify: checktls.VerifyFull}
	if got := c.Listeners[0].Backends[1].Check.AMQPConfig().TLS; !reflect.DeepEqual(got, want) {
		t.Fatalf("TLS %+v, want %+v", got, want)
	}
	if c.Listeners[0].Backends[0].Check.TLS != nil {
		t.Fatal("TLS on a check without tls")
	}

	c, err = load(strings.Replace(base, "check: {type: tcp}", "check: {tls: {}}", 1))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Listeners[0].Backends[1].Check.TLS, (&checktls.Config{Verify: checktls.VerifyFull}); !reflect.DeepEqual(got, want) {
		t.Fatalf("tls: {}: TLS %+v, want %+v", got, want)
	}

	_, err = load(strings.Replace(base, "check: {type: tcp}", "check: {tls: {ca_file: "+missing+"}}", 1))
	if want := "line 19: listeners[0].backends[1].check.tls: reading ca_file: open " + missing + ": no such file or directory"; err == nil || err.Error() != want {
		t.Fatalf("err %v, want %s", err, want)
	}
	shared := strings.Replace(base, "    proxy_protocol: v2\n", "    proxy_protocol: v2\n    check: {tls: {cert_file: "+ca.File+", key_file: "+missing+"}}\n", 1)
	shared = strings.Replace(shared, ", check: {type: tcp}}", "}", 1)
	_, err = load(shared)
	var es Errors
	if !errors.As(err, &es) || len(es) != 1 || es[0].Field != "listeners[0].check.tls" || es[0].Msg != "reading key_file: open "+missing+": no such file or directory" {
		t.Fatalf("err %v, want one problem at listeners[0].check.tls reading key_file", err)
	}
}

// TestLogSessionsBuilt: log_sessions reaches the balancer; off by default.
func TestLogSessionsBuilt(t *testing.T) {
	c, err := Parse([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listeners[0].LogSessions || c.BalancerConfig(&c.Listeners[0]).LogSessions {
		t.Fatal("sessions logged by default")
	}
	c, err = Parse([]byte(strings.Replace(base, "keepalive: 30s", "keepalive: 30s\n    log_sessions: true", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if !c.BalancerConfig(&c.Listeners[0]).LogSessions {
		t.Fatal("log_sessions: true did not reach the balancer")
	}
}

// TestAllowedClientsBuilt: allowed_clients and denied_clients reach the
// balancer as prefixes in file order, an address as a prefix of its full
// length; the listener serves every client without them.
func TestAllowedClientsBuilt(t *testing.T) {
	c, err := Parse([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.BalancerConfig(&c.Listeners[0]).AllowedClients; got != nil {
		t.Fatalf("allowed clients by default: %v, want none", got)
	}
	c, err = Parse([]byte(strings.Replace(base, "keepalive: 30s", "keepalive: 30s\n    allowed_clients: [10.0.0.0/8, 192.0.2.7, \" 2001:db8::1 \", \"2001:db8::/32\"]", 1)))
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"),
		netip.MustParsePrefix("2001:db8::1/128"), netip.MustParsePrefix("2001:db8::/32")}
	if got := c.BalancerConfig(&c.Listeners[0]).AllowedClients; !slices.Equal(got, want) {
		t.Fatalf("allowed clients: %v, want %v", got, want)
	}
	if got := c.BalancerConfig(&c.Listeners[0]).DeniedClients; got != nil {
		t.Fatalf("denied clients by default: %v, want none", got)
	}
	c, err = Parse([]byte(strings.Replace(base, "keepalive: 30s", "keepalive: 30s\n    denied_clients: [192.0.2.7, 10.9.0.0/16]", 1)))
	if err != nil {
		t.Fatal(err)
	}
	want = []netip.Prefix{netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("10.9.0.0/16")}
	if got := c.BalancerConfig(&c.Listeners[0]).DeniedClients; !slices.Equal(got, want) {
		t.Fatalf("denied clients: %v, want %v", got, want)
	}
}

// TestStateFileParsed: state_file reaches the model, cleaned; none by
// default; and the digest is of the file's bytes.
func TestStateFileParsed(t *testing.T) {
	c, err := Parse([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if c.StateFile != "" {
		t.Fatalf("a state file by default: %q", c.StateFile)
	}
	if c.Source != (FileRead{Digest: sha256.Sum256([]byte(base)), Size: int64(len(base))}) {
		t.Errorf("source %+v, want no path, the SHA-256 of the bytes and their number %d", c.Source, len(base))
	}
	c, err = Parse([]byte("state_file: /var/lib//rmqlb/./state.json\n" + base))
	if err != nil {
		t.Fatal(err)
	}
	if c.StateFile != "/var/lib/rmqlb/state.json" {
		t.Errorf("state_file %q, want /var/lib/rmqlb/state.json", c.StateFile)
	}
}

// TestBackupBuilt: backup, all_backups and on_marked_up reach the
// balancer; none by default; a bad on_marked_up is refused at its key.
func TestBackupBuilt(t *testing.T) {
	c, err := Parse([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	bc := c.BalancerConfig(&c.Listeners[0])
	if bc.AllBackups || bc.Backends[0].Backup || bc.Backends[1].Backup {
		t.Fatalf("backup servers by default: %+v", bc)
	}
	f := strings.Replace(base, "keepalive: 30s", "keepalive: 30s\n    all_backups: true", 1)
	f = strings.Replace(f, "address: 10.0.0.2:5672, check", "address: 10.0.0.2:5672, backup: true, check", 1)
	if c, err = Parse([]byte(f)); err != nil {
		t.Fatal(err)
	}
	bc = c.BalancerConfig(&c.Listeners[0])
	if !bc.AllBackups || bc.Backends[0].Backup || !bc.Backends[1].Backup {
		t.Fatalf("all_backups %v, backup of a %v and b %v; want true, false, true", bc.AllBackups, bc.Backends[0].Backup, bc.Backends[1].Backup)
	}
	if _, err := Parse([]byte(strings.Replace(f, "backup: true", "backup: maybe", 1))); err == nil || !strings.Contains(err.Error(), "backup") {
		t.Fatalf("backup: maybe: err %v, want one naming the key", err)
	}
	if bc.ShutdownBackupsOnUp {
		t.Fatal("backup sessions shut by default")
	}
	up := strings.Replace(f, "all_backups: true", "all_backups: true\n    on_marked_up: shutdown-backup-sessions", 1)
	if c, err = Parse([]byte(up)); err != nil {
		t.Fatal(err)
	}
	if !c.BalancerConfig(&c.Listeners[0]).ShutdownBackupsOnUp {
		t.Fatal("on_marked_up: shutdown-backup-sessions did not reach the balancer")
	}
	_, err = Parse([]byte(strings.Replace(up, "shutdown-backup-sessions", "shutdown-sessions", 1)))
	if err == nil || !strings.Contains(err.Error(), "on_marked_up: must be keep-backup-sessions or shutdown-backup-sessions") {
		t.Fatalf("on_marked_up: shutdown-sessions: err %v", err)
	}
}

// TestBackupWarnings: all_backups and on_marked_up:
// shutdown-backup-sessions on a listener without a backup backend are
// warned about (they do nothing), with their lines; not with one.
func TestBackupWarnings(t *testing.T) {
	f := strings.Replace(base, "keepalive: 30s", "keepalive: 30s\n    all_backups: true\n    on_marked_up: shutdown-backup-sessions", 1)
	c, err := Parse([]byte(f))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range c.Warnings {
		if strings.Contains(w, "is a backup") {
			got = append(got, w)
		}
	}
	want := []string{
		"listeners[0].all_backups (line 16): no backend of listener l is a backup (backup: true), so it does nothing",
		"listeners[0].on_marked_up (line 17): no backend of listener l is a backup (backup: true), so it does nothing",
	}
	if !slices.Equal(got, want) {
		t.Errorf("warnings %q, want %q", got, want)
	}
	c, err = Parse([]byte(strings.Replace(f, "address: 10.0.0.2:5672, check", "address: 10.0.0.2:5672, backup: true, check", 1)))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range c.Warnings {
		if strings.Contains(w, "is a backup") {
			t.Errorf("warning with a backup backend: %s", w)
		}
	}
}

// TestClientLimitWarnings: a maxconn_per_client that is not below the
// listener's maxconn is warned about (it does nothing), with its line;
// not one below it, nor one without a maxconn.
func TestClientLimitWarnings(t *testing.T) {
	for _, tc := range []struct {
		keys string
		want []string
	}{
		{"maxconn: 100\n    maxconn_per_client: 100", []string{"listeners[0].maxconn_per_client (line 17): 100 is not below the listener's maxconn 100, so one client address may still take every connection: it does nothing"}},
		{"maxconn: 100\n    maxconn_per_client: 250", []string{"listeners[0].maxconn_per_client (line 17): 250 is not below the listener's maxconn 100"}},
		{"maxconn: 100\n    maxconn_per_client: 99", nil},
		{"maxconn_per_client: 5000", nil},
	} {
		c, err := Parse([]byte(strings.Replace(base, "keepalive: 30s", "keepalive: 30s\n    "+tc.keys, 1)))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, w := range c.Warnings {
			if strings.Contains(w, "maxconn_per_client") {
				got = append(got, w)
			}
		}
		if len(got) != len(tc.want) {
			t.Errorf("%q: warnings %q, want %q", tc.keys, got, tc.want)
			continue
		}
		for i := range got {
			if !strings.HasPrefix(got[i], tc.want[i]) {
				t.Errorf("%q: warning %q, want it to start %q", tc.keys, got[i], tc.want[i])
			}
		}
	}
}

// TestInert: a file that says inert: true and has no VRRP instance and no
// listener is valid, with a warning; the same file without the key is
// refused, and so is the key beside a VRRP instance (TestRules) or a
// listener (TestErrors).
func TestInert(t *testing.T) {
	c, err := Parse([]byte("# nothing to run yet\ncontrol_socket: /run/rmqlb/rmqlb.sock\ninert: true\n"))
	if err != nil {
		t.Fatalf("inert file: %v", err)
	}
	if !c.Inert || len(c.VRRP) != 0 || len(c.Listeners) != 0 || len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "inert") {
		t.Errorf("inert file: Inert %v, %d instances, %d listeners, warnings %q", c.Inert, len(c.VRRP), len(c.Listeners), c.Warnings)
	}
	if c, err := Parse([]byte(base)); err != nil || c.Inert || len(c.Warnings) != 0 {
		t.Errorf("base file: Inert %v, warnings %q, %v", c.Inert, c.Warnings, err)
	}
}

// TestBindWarnings: a listener bound to a specific address that is not
// this host's nor a VIP of the file is warned about (it would receive
// nothing); a VIP of the file, a local address and an unspecified bind
// are not.
func TestBindWarnings(t *testing.T) {
	data := base + `  - name: local
    bind: 10.0.0.1:15672
    backends: [{name: x, address: 10.0.0.1:25672}]
  - name: any
    bind: 0.0.0.0:5673
    backends: [{name: x, address: 10.0.0.1:25673}]
  - name: typo
    bind: 10.0.0.10:5672
    backends: [{name: x, address: 10.0.0.1:25674}]
`
	c, err := Parse([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	local := map[netip.Addr]bool{netip.MustParseAddr("10.0.0.1"): true, netip.MustParseAddr("127.0.0.1"): true}
	want := []string{"listeners[3].bind (line 27): 10.0.0.10 is neither an address of this host nor a VIP of this file: the listener binds it but receives nothing until another program (keepalived) adds it here"}
	if got := (HostLacks{Binds: c.missingBinds(local)}).Warnings(); !slices.Equal(got, want) {
		t.Fatalf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Load looks at this host's own addresses: loopback is one.
	p := filepath.Join(t.TempDir(), "rmqlb.yaml")
	file := "listeners:\n  - {name: l, bind: 127.0.0.1:5672, backends: [{name: a, address: 127.0.0.2:5672}]}\n"
	if err := os.WriteFile(p, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := Load(p); err != nil || len(c.Warnings) != 0 {
		t.Fatalf("Load of a listener on loopback: %v, warnings %q", err, c.Warnings)
	}
}

// TestOnLoginRefusedBuilt: on_login_refused reaches the AMQP check's
// configuration; without it the check degrades.
func TestOnLoginRefusedBuilt(t *testing.T) {
	c, err := Parse([]byte(strings.Replace(base, "check: {type: tcp}", "check: {mode: login, user: u, on_login_refused: down}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	bs := c.Listeners[0].Backends
	if got := bs[0].Check.AMQPConfig().OnLoginRefused; got != amqpcheck.RefusedDegraded {
		t.Errorf("default: %q, want %q", got, amqpcheck.RefusedDegraded)
	}
	if got := bs[1].Check.AMQPConfig().OnLoginRefused; got != amqpcheck.RefusedDown {
		t.Errorf("on_login_refused down: %q, want %q", got, amqpcheck.RefusedDown)
	}
}

// TestClusterBuilt: a check's cluster reaches the AMQP check's
// configuration; without it any cluster passes.
func TestClusterBuilt(t *testing.T) {
	c, err := Parse([]byte(strings.Replace(base, "check: {type: tcp}", "check: {cluster: rabbit-prod}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	bs := c.Listeners[0].Backends
	if got := bs[0].Check.AMQPConfig().Cluster; got != "" {
		t.Errorf("default: %q, want none", got)
	}
	if got := bs[1].Check.AMQPConfig().Cluster; got != "rabbit-prod" {
		t.Errorf("cluster rabbit-prod: %q", got)
	}
}

// TestInterfaceWarnings: a VRRP instance on an interface this host lacks
// is warned about; Load looks the interfaces up on this host.
func TestInterfaceWarnings(t *testing.T) {
	c, err := Parse([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	none := func(name string) (*net.Interface, error) { return nil, errors.New("no such network interface") }
	want := []string{`vrrp_instances[0].interface (line 3): this host has no interface "eth0": the instance waits in FAULT until it exists (a bond or VLAN created later)`}
	if got := (HostLacks{Interfaces: c.missingInterfaces(none)}).Warnings(); !slices.Equal(got, want) {
		t.Fatalf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	p := filepath.Join(t.TempDir(), "rmqlb.yaml")
	for iface, warned := range map[string]bool{"lo": false, "rmqlbnope0": true} {
		file := "vrrp_instances:\n  - {name: v, interface: " + iface + ", virtual_router_id: 1, virtual_ipaddress: [10.0.0.100]}\n"
		if err := os.WriteFile(p, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.ContainsFunc(c.Warnings, func(w string) bool { return strings.Contains(w, "this host has no interface") }); got != warned {
			t.Errorf("interface %s: warnings %q, want one about it: %v", iface, c.Warnings, warned)
		}
	}
}

// warningCase is a file and the warnings Parse must give it, in order.
type warningCase struct {
	name, data string
	want       []string
}

// testWarnings parses each case's file and compares its warnings.
func testWarnings(t *testing.T, cases []warningCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.Warnings, tc.want) {
				t.Fatalf("warnings:\n%s\nwant:\n%s", strings.Join(c.Warnings, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestManagementWarnings: an http check of the management API that every
// node answers 401 (no credentials, or guest off loopback) is warned
// about, once for a shared section; with a user, with OPTIONS, where 401
// is expected, or off the API, it is not.
func TestManagementWarnings(t *testing.T) {
	shared := strings.Replace(base, "    proxy_protocol: v2\n", "    proxy_protocol: v2\n    check: {type: http, path: /api/health/checks/alarms}\n", 1)
	check := func(c string) string { return strings.Replace(base, "check: {type: tcp}", c, 1) }
	testWarnings(t, []warningCase{
		{"no credentials", check("check: {type: http, path: /api/health/checks/alarms}"),
			[]string{"listeners[0].backends[1].check.path (line 19): RabbitMQ's management API answers 401 without credentials, so every node fails this check and its backends are DOWN from the start: give it the user and password of a user tagged monitoring"}},
		{"shared section, once", strings.Replace(shared, ", check: {type: tcp}}", "}", 1),
			[]string{"listeners[0].check.path (line 17): RabbitMQ's management API answers 401 without credentials, so every node fails this check and its backends are DOWN from the start: give it the user and password of a user tagged monitoring"}},
		{"guest", check("check: {type: http, path: /api/overview, user: guest, password: guest}"),
			[]string{"listeners[0].backends[1].check.user (line 19): RabbitMQ refuses guest from anywhere but localhost unless the brokers set loopback_users.guest = false (by default every node answers this check 401, and its backends are DEGRADED from the start, DOWN with on_login_refused: down): give the check a user of its own, tagged monitoring"}},
		{"guest on loopback", check("check: {type: http, address: 127.0.0.1:15672, path: /api/overview, user: guest, password: guest}"), nil},
		{"a user", check("check: {type: http, path: /api/health/checks/alarms, user: monitor, password: p}"), nil},
		{"OPTIONS", check("check: {type: http, method: OPTIONS, path: /api/health/checks/alarms}"), nil},
		{"401 expected", check("check: {type: http, path: /api/overview, expect_status: \"200,401\"}"), nil},
		{"the UI", check("check: {type: http}"), nil},
		{"Prometheus", check("check: {type: http, path: /metrics}"), nil},
	})
}

// TestGuestWarnings: a login check (AMQP login, MQTT, STOMP) as guest to
// a broker off loopback is warned about (once for a shared section); on
// loopback, or with another user, or in handshake mode, or without a
// user, it is not.
func TestGuestWarnings(t *testing.T) {
	shared := strings.Replace(base, "    proxy_protocol: v2\n", "    proxy_protocol: v2\n    check: {mode: login, user: guest, password: guest}\n", 1)
	testWarnings(t, []warningCase{
		{"own section", strings.Replace(base, "check: {type: tcp}", "check: {mode: login, user: guest, password: guest}", 1),
			[]string{"listeners[0].backends[1].check.user (line 19): RabbitMQ refuses guest from anywhere but localhost unless the brokers set loopback_users.guest = false (by default they refuse this check, and its backends are DEGRADED from the start): give the check a user of its own"}},
		{"shared section, once", strings.Replace(shared, ", check: {type: tcp}}", "}", 1),
			[]string{"listeners[0].check.user (line 17): RabbitMQ refuses guest from anywhere but localhost unless the brokers set loopback_users.guest = false (by default they refuse this check, and its backends are DEGRADED from the start): give the check a user of its own"}},
		{"on loopback", strings.Replace(base, "check: {type: tcp}", "check: {mode: login, user: guest, password: guest, address: 127.0.0.1:5672}", 1), nil},
		{"another user", strings.Replace(base, "check: {type: tcp}", "check: {mode: login, user: rmqlb, password: x}", 1), nil},
		{"handshake", strings.Replace(base, "check: {type: tcp}", "check: {user: guest}", 1), nil},
		{"mqtt", strings.Replace(base, "check: {type: tcp}", "check: {type: mqtt, user: guest, password: guest}", 1),
			[]string{"listeners[0].backends[1].check.user (line 19): RabbitMQ refuses guest from anywhere but localhost unless the brokers set loopback_users.guest = false (by default they refuse this check, and its backends are DEGRADED from the start): give the check a user of its own"}},
		{"stomp", strings.Replace(base, "check: {type: tcp}", "check: {type: stomp, user: guest, password: guest}", 1),
			[]string{"listeners[0].backends[1].check.user (line 19): RabbitMQ refuses guest from anywhere but localhost unless the brokers set loopback_users.guest = false (by default they refuse this check, and its backends are DEGRADED from the start): give the check a user of its own"}},
		{"stream", strings.Replace(base, "check: {type: tcp}", "check: {type: stream, user: guest, password: guest}", 1), []string{"listeners[0].backends[1].check.user (line 19): RabbitMQ refuses guest from anywhere but localhost unless the brokers set loopback_users.guest = false (by default they refuse this check, and its backends are DEGRADED from the start): give the check a user of its own"}},
		{"stomp without a user", strings.Replace(base, "check: {type: tcp}", "check: {type: stomp}", 1), nil},
	})
}

// TestHeartbeatWarnings: an AMQP listener's idle_timeout below RabbitMQ's
// default heartbeat timeout is warned about; at or above it, off, or on a
// listener that is not AMQP, it is not.
func TestHeartbeatWarnings(t *testing.T) {
	idle := func(d string) string {
		return strings.Replace(base, "    keepalive: 30s\n", "    keepalive: 30s\n    idle_timeout: "+d+"\n", 1)
	}
	notAMQP := strings.ReplaceAll(idle("30s"), "5672", "15672")
	notAMQP = strings.Replace(notAMQP, "{name: a, address: 10.0.0.1:15672}", "{name: a, address: 10.0.0.1:15672, check: {type: http}}", 1)
	testWarnings(t, []warningCase{
		{"30s", idle("30s"), []string{"listeners[0].idle_timeout (line 16): 30s is shorter than RabbitMQ's default heartbeat timeout (60s): an idle AMQP connection carries only heartbeat frames, each side sending one every 30s, so rmqlb closes healthy idle connections whose frames come late or whose clients negotiate a longer heartbeat (they reconnect, and their consumers' unacknowledged messages are delivered again): set it above the heartbeat timeout, or 0 (the heartbeats find dead peers)"}},
		{"59s", idle("59s"), []string{"listeners[0].idle_timeout (line 16): 59s is shorter than RabbitMQ's default heartbeat timeout (60s): an idle AMQP connection carries only heartbeat frames, each side sending one every 30s, so rmqlb closes healthy idle connections whose frames come late or whose clients negotiate a longer heartbeat (they reconnect, and their consumers' unacknowledged messages are delivered again): set it above the heartbeat timeout, or 0 (the heartbeats find dead peers)"}},
		{"60s", idle("60s"), nil},
		{"3h", idle("3h"), nil},
		{"off", base, nil},
		{"the management UI", notAMQP, nil},
	})
}

// TestUnusedCheckKeyWarnings: a check key its type has no use for is
// warned about, once for a shared section, and the file still loads: a
// file that ran before must still start.
func TestUnusedCheckKeyWarnings(t *testing.T) {
	check := func(c string) string { return strings.Replace(base, "check: {type: tcp}", c, 1) }
	const at = "listeners[0].backends[1].check."
	testWarnings(t, []warningCase{
		{"mode on stomp", check("check: {type: stomp, mode: login}"), []string{at + "mode (line 19): has no use in a stomp check (mode is an AMQP check's), which runs without it"}},
		{"mechanism on http", check("check: {type: http, mechanism: plain}"), []string{at + "mechanism (line 19): has no use in an http check (mechanism is an AMQP login's), which runs without it"}},
		{"on_alarm on stream", check("check: {type: stream, on_alarm: down}"), []string{at + "on_alarm (line 19): has no use in a stream check (on_alarm is an AMQP login check's), which runs without it"}},
		{"vhost on mqtt", check("check: {type: mqtt, vhost: prod}"), []string{at + "vhost (line 19): has no use in an mqtt check (it names its vhost in user, VHOST:USER), which runs without it"}},
		{"vhost on http", check("check: {type: http, vhost: prod}"), []string{at + "vhost (line 19): has no use in an http check (it opens no vhost), which runs without it"}},
		{"credentials on tcp", check("check: {type: tcp, user: u, password: p}"), []string{
			at + "user (line 19): has no use in a tcp check (it does not log in), which runs without it",
			at + "password (line 19): has no use in a tcp check (it does not log in), which runs without it"}},
		{"shared section, once", strings.Replace(strings.Replace(base, "    proxy_protocol: v2\n", "    proxy_protocol: v2\n    check: {type: tcp, vhost: prod}\n", 1), ", check: {type: tcp}}", "}", 1),
			[]string{"listeners[0].check.vhost (line 17): has no use in a tcp check (it opens no vhost), which runs without it"}},
		{"vhost on amqp", check("check: {mode: login, user: u, vhost: prod}"), nil},
		{"vhost and user on stomp", check("check: {type: stomp, user: u, vhost: prod}"), nil},
	})
}

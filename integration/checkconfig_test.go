package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/integration/netlab"
)

// checkConfigCases are files `rmqlb check-config` accepts (ok) or refuses.
// IF, SRC and SOCK are replaced by the host's interface, its address and a
// control socket path.
var checkConfigCases = []struct {
	name string
	ok   bool
	file string
}{
	{"vrrp only", true, `control_socket: SOCK
vrrp_instances:
  - {name: v, interface: IF, virtual_router_id: 11, version: 3, advert_interval: 100ms, virtual_ipaddress: [10.77.0.111/24]}
`},
	{"listener only", true, `control_socket: SOCK
listeners:
  - name: amqp
    bind: 10.77.0.111:5672
    check: {type: tcp, interval: 500ms}
    backends: [{name: a, address: 10.77.0.2:5672}]
`},
	{"everything", true, `control_socket: SOCK
log_level: debug
vrrp_instances:
  - name: v
    interface: IF
    virtual_router_id: 12
    version: 3
    advert_interval: 100ms
    unicast_src: SRC
    unicast_peers: [10.77.0.2]
    allowed_peers: [10.77.0.2, 10.77.0.3]
    max_adopted_advert_interval: 1s
    virtual_ipaddress: [10.77.0.112/24]
    garp: {count: 2, interval: 100ms, refresh: 100ms}
    track: [{check: amqp/a, weight: -60}, {listener: amqp, weight: -100}]
listeners:
  - name: amqp
    bind: 10.77.0.112:5672
    policy: leastconn
    persistence_timeout: 60s
    keepalive: 32767s
    tcp_user_timeout: 300s
    proxy_protocol: v2
    handshake_timeout: 5s
    fin_timeout: 5s
    check: {type: amqp, mode: handshake, interval: 500ms, timeout: 400ms}
    backends:
      - {name: a, address: 10.77.0.2:5672, weight: 65535}
      - {name: b, address: 10.77.0.3:5672, proxy_protocol: none, check: {type: tcp}}
`},
	{"v2 password", true, `control_socket: SOCK
vrrp_instances:
  - {name: v, interface: IF, virtual_router_id: 13, auth_pass: passwd, virtual_ipaddress: [10.77.0.113]}
`},
	{"IPv6 VIP", false, `control_socket: SOCK
vrrp_instances:
  - {name: v, interface: IF, virtual_router_id: 14, version: 3, advert_interval: 100ms, virtual_ipaddress: [fd00::114/64]}
`},
	{"peer is the source", false, `control_socket: SOCK
vrrp_instances:
  - {name: v, interface: IF, virtual_router_id: 15, unicast_src: SRC, unicast_peers: [SRC], virtual_ipaddress: [10.77.0.115]}
`},
	{"garp refresh", false, `control_socket: SOCK
vrrp_instances:
  - {name: v, interface: IF, virtual_router_id: 16, garp: {refresh: 50ms}, virtual_ipaddress: [10.77.0.116]}
`},
	{"keepalive", false, `control_socket: SOCK
listeners:
  - {name: l, bind: 10.77.0.117:5672, keepalive: 32768s, backends: [{name: a, address: 10.77.0.2:5672}]}
`},
	{"negative tcp user timeout", false, `control_socket: SOCK
listeners:
  - {name: l, bind: 10.77.0.125:5672, tcp_user_timeout: -1s, backends: [{name: a, address: 10.77.0.2:5672}]}
`},
	{"track on an unchecked backend", false, `control_socket: SOCK
vrrp_instances:
  - {name: v, interface: IF, virtual_router_id: 18, virtual_ipaddress: [10.77.0.118], track: [{check: a, weight: -10}]}
listeners:
  - {name: l, bind: 10.77.0.118:5672, backends: [{name: a, address: 10.77.0.2:5672, check: {type: none}}]}
`},
	{"slash in a name", false, `control_socket: SOCK
listeners:
  - {name: l, bind: 10.77.0.119:5672, backends: [{name: a/b, address: 10.77.0.2:5672}]}
`},
	{"two listeners on one port", false, `control_socket: SOCK
listeners:
  - {name: l, bind: 0.0.0.0:5672, backends: [{name: a, address: 10.77.0.2:5672}]}
  - {name: m, bind: 10.77.0.120:5672, backends: [{name: a, address: 10.77.0.2:5672}]}
`},
	{"v3 with a password", false, `control_socket: SOCK
vrrp_instances:
  - {name: v, interface: IF, virtual_router_id: 21, version: 3, auth_pass: x, virtual_ipaddress: [10.77.0.121]}
`},
	{"max adopted interval not whole centiseconds", false, `control_socket: SOCK
vrrp_instances:
  - {name: v, interface: IF, virtual_router_id: 23, version: 3, advert_interval: 100ms, max_adopted_advert_interval: 1005ms, virtual_ipaddress: [10.77.0.123]}
`},
	{"listener and backend rules", false, `control_socket: SOCK
listeners:
  - {name: l, bind: 10.77.0.124:5672, retries: 101, backends: [{name: a, address: 10.77.0.2:0, check: {rise: 101}}, {name: a, address: 10.77.0.3:5672}]}
`},
	{"a backend at the listener's own bind", false, `control_socket: SOCK
listeners:
  - {name: l, bind: 10.77.0.126:5672, backends: [{name: a, address: 10.77.0.126:5672}]}
`},
	{"unknown key", false, `control_socket: SOCK
listeners:
  - {name: l, bind: 10.77.0.122:5672, timeout: 5s, backends: [{name: a, address: 10.77.0.2:5672}]}
`},
}

var errLine = regexp.MustCompile(`(?:^|:| )(\d+): (\S+: .*|.*)$`)

// problems returns the "LINE: field: message" lines of an error output,
// whatever the command's prefix.
func problems(out string) []string {
	var ps []string
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if i := strings.Index(l, "line "); i >= 0 {
			l = l[i+len("line "):]
		} else if m := errLine.FindStringSubmatch(l); m != nil {
			l = m[1] + ": " + m[2]
		} else {
			continue
		}
		ps = append(ps, l)
	}
	slices.Sort(ps)
	return ps
}

// TestCheckConfigAgreesWithRun: every file `rmqlb check-config` accepts
// starts in a network namespace (its control socket answers), and every
// file it refuses is refused by `rmqlb run` with the same problems.
func TestCheckConfigAgreesWithRun(t *testing.T) {
	bin := rmqlbBinary(t)
	l := newLab(t)
	h := l.Host("h1")
	for i, tc := range checkConfigCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(l.Dir, fmt.Sprintf("cc%d", i))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			sock := filepath.Join(dir, "rmqlb.sock")
			path := filepath.Join(dir, "rmqlb.yaml")
			file := strings.NewReplacer("IF", netlab.Iface, "SRC", h.Addr.String(), "SOCK", sock).Replace(tc.file)
			if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
				t.Fatal(err)
			}
			cc := exec.Command(bin, "check-config", "--config", path)
			ccOut, ccErr := cc.CombinedOutput()
			if (ccErr == nil) != tc.ok {
				t.Fatalf("check-config: %v, want ok=%v\n%s", ccErr, tc.ok, ccOut)
			}
			p, err := h.Start(fmt.Sprintf("cc%d", i), nil, bin, "run", "--config", path)
			if err != nil {
				t.Fatal(err)
			}
			if tc.ok {
				// Running means: every VRRP instance out of INIT and
				// every listener listening, and still so a moment later.
				if err := waitFor(20*time.Second, func() (bool, error) {
					if p.Exited() {
						return false, fmt.Errorf("rmqlb run exited: %v\n%s", p.Wait(0), p.Tail(20))
					}
					// Exit 1 is a degraded daemon (its backends are not
					// there): it answered all the same.
					out, err := exec.Command(bin, "status", "--socket", sock, "--json").Output()
					if ee := (*exec.ExitError)(nil); err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
						return false, err
					}
					var st status
					if err := json.Unmarshal(out, &st.raw); err != nil {
						return false, err
					}
					for _, v := range st.list("vrrp_instances") {
						if s, _ := v["state"].(string); s != "BACKUP" && s != "MASTER" {
							return false, fmt.Errorf("instance %v is %q", v["name"], s)
						}
					}
					for _, l := range st.list("listeners") {
						if on, _ := l["listening"].(bool); !on {
							return false, fmt.Errorf("listener %v is not listening", l["name"])
						}
					}
					return true, nil
				}); err != nil {
					t.Fatalf("a file check-config accepts does not run: %v", err)
				}
				time.Sleep(200 * time.Millisecond)
				if p.Exited() {
					t.Fatalf("rmqlb run exited after starting: %v\n%s", p.Wait(0), p.Tail(20))
				}
				p.Signal(syscall.SIGTERM)
				if err := p.Wait(15 * time.Second); err != nil {
					t.Fatalf("stop: %v\n%s", err, p.Tail(20))
				}
				return
			}
			err = p.Wait(10 * time.Second)
			if err == nil || !p.Exited() {
				p.Signal(syscall.SIGKILL)
				t.Fatalf("a file check-config refuses ran: %v\n%s", err, p.Tail(20))
			}
			want, got := problems(string(ccOut)), problems(p.Tail(50))
			if len(want) == 0 || !slices.Equal(want, got) {
				t.Fatalf("check-config and run disagree:\ncheck-config: %q\nrun:          %q\nrun's output:\n%s", want, got, p.Tail(50))
			}
			t.Logf("both refuse it: %q", want)
		})
	}
}

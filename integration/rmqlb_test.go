package integration

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/integration/netlab"
)

// Gratuitous ARPs of every rmqlb instance of the tests: five 100 ms apart,
// fast enough to finish within a test; the first one is what the client
// needs.
const (
	garpCount    = 5
	garpInterval = 100 * time.Millisecond
)

// vrrpConf is the VRRP instance of one rmqlb host.
type vrrpConf struct {
	Name         string // default "vip"
	Interface    string // default netlab.Iface
	VRID         int    // default 1
	Priority     int
	Version      int           // default 3
	Advert       time.Duration // default 100ms
	NoPreempt    bool
	AuthPass     string
	UnicastPeers []netip.Addr
	VIPs         []netip.Prefix // default [vipPfx]
	GARPRefresh  time.Duration  // default 60s
	// TrackCheck, when set, lowers the priority by TrackWeight while the
	// named backend's check fails.
	TrackCheck  string
	TrackWeight int
	// Notify is YAML text put in the instance as is (may be empty), such
	// as "    notify: {master: [/path]}\n".
	Notify string
	// Extra is YAML text of other keys put in the instance as is (may be
	// empty), such as "    max_adopted_advert_interval: 2s\n".
	Extra string
}

// daemonConf is an rmqlb config file for one host.
type daemonConf struct {
	VRRP []vrrpConf
	// Listeners is YAML text put under `listeners:` as is (may be empty).
	Listeners string
	LogLevel  string // default debug
	// Global is YAML text of daemon keys put at the top as is (may be
	// empty), such as "vrrp_sender: process\n".
	Global string
	// Conflicts lets the daemon count VIP conflicts (another host
	// announcing a VIP of its MASTER without taking it over: a split
	// brain, a host given the VIP by hand). Without it, a daemon still
	// running when its test ends must have counted none (newDaemon).
	Conflicts bool
}

func (c daemonConf) yaml(h *netlab.Host, sock string) string {
	var b strings.Builder
	level := c.LogLevel
	if level == "" {
		level = "debug"
	}
	fmt.Fprintf(&b, "control_socket: %s\nlog_level: %s\n", sock, level)
	if c.Global != "" {
		b.WriteString(strings.TrimSpace(c.Global) + "\n")
	}
	if len(c.VRRP) > 0 {
		b.WriteString("vrrp_instances:\n")
	}
	for _, v := range c.VRRP {
		if v.Name == "" {
			v.Name = "vip"
		}
		if v.VRID == 0 {
			v.VRID = 1
		}
		if v.Version == 0 {
			v.Version = 3
		}
		if v.Advert == 0 {
			v.Advert = 100 * time.Millisecond
		}
		if len(v.VIPs) == 0 {
			v.VIPs = []netip.Prefix{vipPfx}
		}
		if v.Interface == "" {
			v.Interface = netlab.Iface
		}
		fmt.Fprintf(&b, "  - name: %s\n    interface: %s\n    virtual_router_id: %d\n    priority: %d\n    version: %d\n    advert_interval: %s\n",
			v.Name, v.Interface, v.VRID, v.Priority, v.Version, v.Advert)
		fmt.Fprintf(&b, "    preempt: %v\n", !v.NoPreempt)
		if v.AuthPass != "" {
			fmt.Fprintf(&b, "    auth_pass: %s\n", v.AuthPass)
		}
		if len(v.UnicastPeers) > 0 {
			fmt.Fprintf(&b, "    unicast_src: %s\n    unicast_peers: [", h.Addr)
			for i, p := range v.UnicastPeers {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(p.String())
			}
			b.WriteString("]\n")
		}
		b.WriteString("    virtual_ipaddress: [")
		for i, p := range v.VIPs {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(p.String())
		}
		b.WriteString("]\n")
		if v.GARPRefresh == 0 {
			v.GARPRefresh = time.Minute
		}
		fmt.Fprintf(&b, "    garp: {count: %d, interval: %s, refresh: %s}\n", garpCount, garpInterval, v.GARPRefresh)
		if v.TrackCheck != "" {
			fmt.Fprintf(&b, "    track: [{check: %s, weight: %d}]\n", v.TrackCheck, v.TrackWeight)
		}
		b.WriteString(v.Notify)
		b.WriteString(v.Extra)
	}
	if c.Listeners != "" {
		b.WriteString("listeners:\n")
		b.WriteString(c.Listeners)
	}
	return b.String()
}

// daemon is one rmqlb process on a lab host.
type daemon struct {
	t    *testing.T
	bin  string
	host *netlab.Host
	conf daemonConf
	path string // config file
	sock string // control socket
	proc *netlab.Proc
	runs int
}

// newDaemon writes the host's config file; start runs it.
func newDaemon(t *testing.T, l *netlab.Lab, h *netlab.Host, conf daemonConf) *daemon {
	t.Helper()
	d := &daemon{t: t, bin: rmqlbBinary(t), host: h, conf: conf}
	dir := filepath.Join(l.Dir, "rmqlb-"+h.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	d.sock = filepath.Join(dir, "rmqlb.sock")
	d.path = filepath.Join(dir, "rmqlb.yaml")
	if err := os.WriteFile(d.path, []byte(conf.yaml(h, d.sock)), 0o644); err != nil {
		t.Fatal(err)
	}
	// Before the lab's clean-up stops the daemon (clean-ups run last
	// registered first).
	t.Cleanup(d.checkNoConflict)
	return d
}

// checkNoConflict fails the test if the daemon, still running, counted a
// VIP conflict and its configuration does not allow for one: VRRP's own
// moves (takeovers, preemptions, handovers, keepalived beside rmqlb) are
// none.
func (d *daemon) checkNoConflict() {
	if d.conf.Conflicts || d.proc == nil || d.proc.Exited() {
		return
	}
	s, err := d.status()
	if err != nil {
		return // stopped by the test meanwhile
	}
	for _, v := range d.conf.VRRP {
		name := v.Name
		if name == "" {
			name = "vip"
		}
		if in := s.instance(name); in != nil && in.Conflict != nil {
			d.t.Errorf("rmqlb on %s counted a VIP conflict of %s (%s, %d): another host announced its VIP while it was MASTER, with no router advertising",
				d.host.Name, name, in.Conflict.Addr, in.Conflict.Count)
		}
	}
}

// startDaemon writes the config and starts rmqlb on h, waiting until its
// control socket answers.
func startDaemon(t *testing.T, l *netlab.Lab, h *netlab.Host, conf daemonConf) *daemon {
	t.Helper()
	d := newDaemon(t, l, h, conf)
	d.start()
	return d
}

// start (re)starts the daemon and waits for its status to answer.
func (d *daemon) start() {
	d.t.Helper()
	d.runs++
	p, err := d.host.Start(fmt.Sprintf("rmqlb%d", d.runs), nil, d.bin, "run", "--config", d.path)
	if err != nil {
		d.t.Fatal(err)
	}
	d.proc = p
	if err := waitFor(10*time.Second, func() (bool, error) {
		if p.Exited() {
			return false, fmt.Errorf("rmqlb exited: %v\n%s", p.Wait(0), p.Tail(30))
		}
		_, err := d.status()
		return err == nil, err
	}); err != nil {
		d.t.Fatalf("rmqlb on %s did not come up: %v", d.host.Name, err)
	}
}

// status runs `rmqlb status --socket S --json` (from the root namespace: the
// control socket is a path in the file system) and decodes it.
func (d *daemon) status() (*status, error) {
	cmd := exec.Command(d.bin, "status", "--socket", d.sock, "--json")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if !statusAnswered(err) {
		return nil, fmt.Errorf("rmqlb status on %s: %v: %s", d.host.Name, err, bytes.TrimSpace(stderr.Bytes()))
	}
	var s status
	if err := json.Unmarshal(out, &s.raw); err != nil {
		return nil, fmt.Errorf("decoding status of %s: %w\n%s", d.host.Name, err, out)
	}
	s.text = string(out)
	return &s, nil
}

// backendState returns the state of backend name in d's status, lower
// case, and the backend's status as JSON.
func (d *daemon) backendState(name string) (state, detail string, err error) {
	s, err := d.status()
	if err != nil {
		return "", "", err
	}
	bs := s.backend(name)
	if bs == nil {
		return "", "", fmt.Errorf("no backend %s in status", name)
	}
	raw, _ := json.Marshal(bs.raw)
	return strings.ToLower(bs.State), string(raw), nil
}

// waitBackendState waits until backend name is in state want (lower
// case), failing t after timeout, and returns its status as JSON.
func (d *daemon) waitBackendState(t *testing.T, name, want string, timeout time.Duration) string {
	t.Helper()
	var detail string
	if err := waitFor(timeout, func() (bool, error) {
		state, det, err := d.backendState(name)
		detail = det
		if err != nil {
			return false, err
		}
		return state == want, fmt.Errorf("backend %s is %s: %s", name, state, det)
	}); err != nil {
		t.Fatal(err)
	}
	return detail
}

// statusAnswered reports whether err, of an `rmqlb status` command, still
// means that the daemon answered: exit 1 is a degraded daemon.
func statusAnswered(err error) bool {
	var ee *exec.ExitError
	return err == nil || errors.As(err, &ee) && ee.ExitCode() == control.ExitDegraded
}

// mustStatusText runs `rmqlb status --socket S` with flags and returns
// its tables; the test fails unless it answered (healthy or degraded).
func (d *daemon) mustStatusText(flags ...string) string {
	d.t.Helper()
	out, err := exec.Command(d.bin, append([]string{"status", "--socket", d.sock}, flags...)...).CombinedOutput()
	if !statusAnswered(err) {
		d.t.Fatalf("rmqlb status on %s: %v\n%s", d.host.Name, err, out)
	}
	return string(out)
}

// mustStatus is status that fails the test on error.
func (d *daemon) mustStatus() *status {
	d.t.Helper()
	s, err := d.status()
	if err != nil {
		d.t.Fatal(err)
	}
	return s
}

// instance returns the named VRRP instance of the daemon's status.
func (d *daemon) instance(name string) (*instanceStatus, error) {
	s, err := d.status()
	if err != nil {
		return nil, err
	}
	in := s.instance(name)
	if in == nil {
		return nil, fmt.Errorf("status of %s has no VRRP instance %q:\n%s", d.host.Name, name, s.text)
	}
	return in, nil
}

// state returns the state of instance "vip" or "" on error.
func (d *daemon) state() string {
	in, err := d.instance("vip")
	if err != nil {
		return ""
	}
	return in.State
}

// waitState waits until instance "vip" is in state want.
func (d *daemon) waitState(want string, timeout time.Duration) error {
	return waitFor(timeout, func() (bool, error) {
		in, err := d.instance("vip")
		if err != nil {
			return false, err
		}
		return in.State == want, fmt.Errorf("%s is %s, want %s", d.host.Name, in.State, want)
	})
}

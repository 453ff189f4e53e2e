package netlab

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
)

// TB is the part of testing.TB a Lab uses. A benchmark driver that is not a
// test can implement it.
type TB interface {
	Helper()
	Logf(format string, args ...any)
	Cleanup(func())
	Failed() bool
	TempDir() string
}

// HostSpec describes one host of a lab.
type HostSpec struct {
	// Name is the short host name (for example "h1"); it is the host's name
	// in /etc/netns/NS/hosts and part of its namespace name. At most 8
	// characters of [a-z0-9].
	Name string
	// Addr is the host's address with its prefix length, for example
	// 10.77.0.1/24.
	Addr netip.Prefix
}

// Config describes a lab. The zero value is not usable: Hosts must be set.
type Config struct {
	// Hosts lists the hosts joined to the lab's bridge.
	Hosts []HostSpec
	// KeepIPv6 leaves IPv6 enabled in the host namespaces. By default it is
	// disabled so that DAD and MLD do not add noise to captures.
	KeepIPv6 bool
	// LogDir is where process output goes. Empty means t.TempDir(), which
	// the testing package removes; the environment variable NETLAB_LOGDIR
	// overrides both (kept after the run, for debugging).
	LogDir string
}

// Lab is a set of network namespaces joined by a bridge. Its methods may be
// called from several goroutines. A Lab owns its namespaces, /etc/netns
// directories and every process started through its hosts; Close (registered
// with t.Cleanup by New) releases all of them.
type Lab struct {
	// ID is the unique prefix of every namespace name of the lab.
	ID string
	// Switch is the name of the namespace that holds the bridge br0.
	Switch string
	// Dir is the directory of the lab's logs and files.
	Dir string

	t     TB
	hosts []*Host
	byNm  map[string]*Host

	mu     sync.Mutex
	procs  []*Proc
	closed bool
	// nsMade and etcMade are the namespaces and /etc/netns directories
	// this lab created: Close deletes these and no others, so that a lab
	// that failed on a name another lab holds leaves that lab alone. (The
	// veths live inside the namespaces and go with them.)
	nsMade, etcMade []string
}

// Host is one namespace of a lab.
type Host struct {
	// Name is the short host name, NS the namespace name.
	Name, NS string
	// Addr is the host's address on eth0, Prefix the address with its
	// prefix length.
	Addr   netip.Addr
	Prefix netip.Prefix
	// MAC is the hardware address of the host's eth0.
	MAC net.HardwareAddr
	// Port is the name of the switch end of the host's veth, a port of br0
	// in the switch namespace.
	Port string

	lab *Lab
	idx int

	nlMu sync.Mutex      // guards nlh
	nlh  *netlink.Handle // netlink in the host's namespace, made on first use
}

// AddrPort returns the host's address on eth0 with port: where a server of
// the host listens.
func (h *Host) AddrPort(port uint16) netip.AddrPort { return netip.AddrPortFrom(h.Addr, port) }

// Iface is the name of every host's interface to the lab's bridge.
const Iface = "eth0"

var nameRE = regexp.MustCompile(`^[a-z0-9]{1,8}$`)

// nsPrefixRE matches the namespace names of labs and captures the pid of the
// process that made them (with 8 hex digits of lab ID; earlier versions
// made 4).
var nsPrefixRE = regexp.MustCompile(`^nl([0-9]+)_[0-9a-f]{4,}-`)

// Require skips the test unless it runs as root and the tools exist.
func Require(t interface {
	Helper()
	Skipf(string, ...any)
}, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("netlab needs root (euid %d)", os.Geteuid())
	}
	for _, tool := range append([]string{"ip", "sysctl"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("netlab needs %s: %v", tool, err)
		}
	}
}

// New builds a lab. Failures are reported with t.Fatalf-like semantics through
// the returned error; the caller decides. Close is registered with t.Cleanup
// before anything is created, so a half-built lab is torn down too.
//
// Each host namespace gets: lo up, eth0 up with its address and MAC
// 02:77:00:00:LL:NN (LL from the lab, NN the host's index + 1), and the sysctls
// net.ipv4.tcp_tw_reuse=1, a wide ip_local_port_range, arp_ignore=1 and
// arp_announce=2 (answer ARP only for addresses of the asking interface and
// announce with the best local source, as a VIP host should), rp_filter=0,
// and IPv6 disabled unless cfg.KeepIPv6.
func New(t TB, cfg Config) (*Lab, error) {
	t.Helper()
	if len(cfg.Hosts) == 0 {
		return nil, fmt.Errorf("creating lab: no hosts")
	}
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("creating lab id: %w", err)
	}
	return newLab(t, cfg, rnd)
}

// newLab is New with the lab's random bytes given: the ID is
// "nl<pid>_<rnd in hex>" (labs of one process run in parallel; interface
// names do not derive from it, so its length is free), and rnd[0] is in
// every host's MAC.
func newLab(t TB, cfg Config, rnd [4]byte) (*Lab, error) {
	id := fmt.Sprintf("nl%d_%s", os.Getpid(), hex.EncodeToString(rnd[:]))
	dir := cfg.LogDir
	if env := os.Getenv("NETLAB_LOGDIR"); env != "" {
		dir = filepath.Join(env, id)
	}
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating lab dir: %w", err)
	}
	l := &Lab{ID: id, Switch: id + "-sw", Dir: dir, t: t, byNm: map[string]*Host{}}
	t.Cleanup(l.Close)

	for i, hs := range cfg.Hosts {
		if !nameRE.MatchString(hs.Name) || hs.Name == "sw" {
			return nil, fmt.Errorf("creating lab: bad host name %q", hs.Name)
		}
		if _, dup := l.byNm[hs.Name]; dup {
			return nil, fmt.Errorf("creating lab: duplicate host %q", hs.Name)
		}
		if !hs.Addr.Addr().Is4() {
			return nil, fmt.Errorf("creating lab: host %s: address %s is not IPv4", hs.Name, hs.Addr)
		}
		h := &Host{
			Name: hs.Name, NS: id + "-" + hs.Name,
			Addr: hs.Addr.Addr(), Prefix: hs.Addr,
			MAC:  net.HardwareAddr{0x02, 0x77, 0, 0, rnd[0], byte(i + 1)},
			Port: "p-" + hs.Name,
			lab:  l, idx: i,
		}
		l.hosts = append(l.hosts, h)
		l.byNm[h.Name] = h
	}

	if err := l.addNS(l.Switch); err != nil {
		return nil, err
	}
	if err := ipCmd("-n", l.Switch, "link", "set", "lo", "up"); err != nil {
		return nil, err
	}
	if err := ipCmd("-n", l.Switch, "link", "add", "br0", "type", "bridge",
		"forward_delay", "0", "stp_state", "0", "mcast_snooping", "0"); err != nil {
		return nil, err
	}
	if err := ipCmd("-n", l.Switch, "link", "set", "br0", "up"); err != nil {
		return nil, err
	}

	var hosts bytes.Buffer
	hosts.WriteString("127.0.0.1\tlocalhost\n")
	for _, h := range l.hosts {
		fmt.Fprintf(&hosts, "%s\t%s\n", h.Addr, h.Name)
	}
	for _, h := range l.hosts {
		if err := l.addHost(h, cfg, hosts.Bytes()); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// addNS creates namespace ns and records it as the lab's.
func (l *Lab) addNS(ns string) error {
	if err := ipCmd("netns", "add", ns); err != nil {
		return err
	}
	l.mu.Lock()
	l.nsMade = append(l.nsMade, ns)
	l.mu.Unlock()
	return nil
}

func (l *Lab) addHost(h *Host, cfg Config, hosts []byte) error {
	if err := l.addNS(h.NS); err != nil {
		return err
	}
	if err := os.MkdirAll("/etc/netns", 0o755); err != nil {
		return fmt.Errorf("creating /etc/netns: %w", err)
	}
	etc := filepath.Join("/etc/netns", h.NS)
	if err := os.Mkdir(etc, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", etc, err)
	}
	l.mu.Lock()
	l.etcMade = append(l.etcMade, h.NS)
	l.mu.Unlock()
	if err := os.WriteFile(filepath.Join(etc, "hosts"), hosts, 0o644); err != nil {
		return fmt.Errorf("writing hosts of %s: %w", h.Name, err)
	}
	if err := ipCmd("-n", h.NS, "link", "set", "lo", "up"); err != nil {
		return err
	}
	if err := l.CreateLink(h); err != nil {
		return err
	}
	if err := l.AddAddr(h); err != nil {
		return err
	}
	sysctls := []string{
		"net.ipv4.tcp_tw_reuse=1",
		"net.ipv4.ip_local_port_range=10000 65000",
		"net.ipv4.conf.all.arp_ignore=1",
		"net.ipv4.conf.all.arp_announce=2",
		"net.ipv4.conf.all.rp_filter=0",
		"net.ipv4.conf.default.rp_filter=0",
		"net.ipv4.conf." + Iface + ".rp_filter=0",
	}
	if !cfg.KeepIPv6 {
		sysctls = append(sysctls, "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	}
	args := append([]string{"netns", "exec", h.NS, "sysctl", "-q", "-w"}, sysctls...)
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("setting sysctls of %s: %v: %s", h.Name, err, bytes.TrimSpace(out))
	}
	return nil
}

// Hosts returns the lab's hosts in the order of Config.Hosts.
func (l *Lab) Hosts() []*Host { return append([]*Host(nil), l.hosts...) }

// Host returns the host called name, or nil.
func (l *Lab) Host(name string) *Host { return l.byNm[name] }

// Close kills every process of the lab (those started through it and any
// other process still in one of its namespaces), deletes the namespaces and
// /etc/netns directories it created, and, when the test failed, logs the
// tail of every process's output. It is safe to call more than once.
func (l *Lab) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	procs := append([]*Proc(nil), l.procs...)
	nsMade, etcMade := l.nsMade, l.etcMade
	l.mu.Unlock()

	for _, p := range procs {
		p.kill()
	}
	failed := l.t.Failed()
	for _, p := range procs {
		p.waitQuiet()
		if failed {
			l.t.Logf("--- output of %s (%s), last lines:\n%s", p.Name, p.LogPath, p.Tail(80))
		}
	}
	for _, h := range l.hosts {
		h.closeNL()
	}
	for _, ns := range nsMade {
		if err := deleteNetns(ns); err != nil {
			l.t.Logf("netlab: %v", err)
		}
	}
	for _, ns := range etcMade {
		if err := removeEtcNetns(ns); err != nil {
			l.t.Logf("netlab: %v", err)
		}
	}
}

// deleteNS kills what runs in ns, deletes it and its /etc/netns directory.
// A namespace that does not exist is not an error.
func deleteNS(ns string) error {
	if err := deleteNetns(ns); err != nil {
		return err
	}
	return removeEtcNetns(ns)
}

// deleteNetns kills what runs in ns and deletes it; a namespace that does
// not exist is not an error.
func deleteNetns(ns string) error {
	if _, err := os.Stat(filepath.Join("/run/netns", ns)); err == nil {
		if out, err := exec.Command("ip", "netns", "pids", ns).Output(); err == nil {
			for _, f := range strings.Fields(string(out)) {
				if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
					_ = syscallKill(pid)
				}
			}
		}
		if err := ipCmd("netns", "del", ns); err != nil {
			return err
		}
	}
	return nil
}

// removeEtcNetns removes the /etc/netns directory of ns.
func removeEtcNetns(ns string) error {
	if err := os.RemoveAll(filepath.Join("/etc/netns", ns)); err != nil {
		return fmt.Errorf("removing /etc/netns/%s: %w", ns, err)
	}
	return nil
}

// Sweep deletes the namespaces and /etc/netns directories of labs whose
// creating process is gone (a run that crashed or was killed before its
// cleanup). Labs of live processes, this one included, are left alone. It
// returns the names it deleted.
func Sweep() ([]string, error) {
	names := map[string]bool{}
	if ents, err := os.ReadDir("/run/netns"); err == nil {
		for _, e := range ents {
			names[e.Name()] = true
		}
	}
	if ents, err := os.ReadDir("/etc/netns"); err == nil {
		for _, e := range ents {
			names[e.Name()] = true
		}
	}
	var deleted []string
	var firstErr error
	for ns := range names {
		m := nsPrefixRE.FindStringSubmatch(ns)
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			continue
		}
		if err := deleteNS(ns); err != nil && firstErr == nil {
			firstErr = err
		}
		deleted = append(deleted, ns)
	}
	return deleted, firstErr
}

// ipCmd runs ip(8) with args in the current (root) mount namespace.
func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("running ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

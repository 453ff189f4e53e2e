package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"syscall"
)

// Host is one host of the lab: a network namespace with one address.
type Host struct {
	// Netns is the namespace name (for `ip netns exec`).
	Netns string `json:"netns"`
	// Addr is the host's address on the lab's /24.
	Addr netip.Addr `json:"addr"`
}

// Lab is a built lab. Its fields are read-only after New; Close is safe to
// call more than once and from another goroutine than New's.
type Lab struct {
	// ID is the unique suffix shared by the lab's namespace names.
	ID     string `json:"id"`
	Bridge string `json:"bridge_netns"`
	Client Host   `json:"client"`
	Proxy  Host   `json:"proxy"`
	Server Host   `json:"server"`

	mu      sync.Mutex
	created []string // namespaces made so far, guarded by mu
}

// Prefix starts every namespace name the lab creates.
const Prefix = "rmqlbbench-"

// New builds a lab. On error it removes whatever it had created. The caller
// owns the result and must Close it (also when later steps fail).
func New(ctx context.Context) (*Lab, error) {
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("generating lab id: %w", err)
	}
	id := hex.EncodeToString(rnd[:])
	l := &Lab{
		ID:     id,
		Bridge: Prefix + id + "-br",
		Client: Host{Netns: Prefix + id + "-c", Addr: netip.MustParseAddr("10.88.0.50")},
		Proxy:  Host{Netns: Prefix + id + "-p", Addr: netip.MustParseAddr("10.88.0.1")},
		Server: Host{Netns: Prefix + id + "-s", Addr: netip.MustParseAddr("10.88.0.2")},
	}
	if err := l.build(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("building lab %s: %w", id, err), l.Close())
	}
	return l, nil
}

func (l *Lab) build(ctx context.Context) error {
	for _, ns := range []string{l.Bridge, l.Client.Netns, l.Proxy.Netns, l.Server.Netns} {
		if err := ip(ctx, "netns", "add", ns); err != nil {
			return err
		}
		l.mu.Lock()
		l.created = append(l.created, ns)
		l.mu.Unlock()
	}
	steps := [][]string{
		{"-n", l.Bridge, "link", "add", "br0", "type", "bridge"},
		{"-n", l.Bridge, "link", "set", "br0", "up"},
	}
	for _, h := range []struct {
		host Host
		veth string
	}{{l.Client, "vc"}, {l.Proxy, "vp"}, {l.Server, "vs"}} {
		steps = append(steps,
			[]string{"-n", l.Bridge, "link", "add", h.veth, "type", "veth", "peer", "name", "eth0", "netns", h.host.Netns},
			[]string{"-n", l.Bridge, "link", "set", h.veth, "master", "br0", "up"},
			[]string{"-n", h.host.Netns, "link", "set", "lo", "up"},
			[]string{"-n", h.host.Netns, "addr", "add", h.host.Addr.String() + "/24", "dev", "eth0"},
			[]string{"-n", h.host.Netns, "link", "set", "eth0", "up"},
		)
	}
	for _, s := range steps {
		if err := ip(ctx, s...); err != nil {
			return err
		}
	}
	for _, h := range l.Hosts() {
		cmd := l.Command(ctx, h, "sysctl", "-q", "-w",
			"net.ipv4.tcp_tw_reuse=1",
			"net.ipv4.ip_local_port_range=1024 65535",
			"net.core.somaxconn=8192",
			"net.ipv4.tcp_max_syn_backlog=8192")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("setting sysctls in %s: %w: %s", h.Netns, err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// Hosts returns the client, proxy and server hosts.
func (l *Lab) Hosts() []Host { return []Host{l.Client, l.Proxy, l.Server} }

// Command returns an unstarted command that runs name with args inside h's
// namespace (through `ip netns exec`, which execs the program: the started
// process's PID is the program's). The process gets its own process group
// and SIGKILL if the calling thread dies, so a crashed orchestrator does not
// leave load running.
func (l *Lab) Command(ctx context.Context, h Host, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.Netns, name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	return cmd
}

// Close deletes the lab's namespaces (which removes their interfaces and
// the bridge). Processes still running in them must be stopped first by
// their owner; Close does not look for them.
func (l *Lab) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for i := len(l.created) - 1; i >= 0; i-- {
		// A fresh context: cleanup must run even when the caller's is done.
		if err := ip(context.Background(), "netns", "del", l.created[i]); err != nil {
			errs = append(errs, err)
		}
	}
	l.created = nil
	return errors.Join(errs...)
}

func ip(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("running ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

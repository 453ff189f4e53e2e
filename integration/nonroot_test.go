package integration

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdlayher/arp"

	"github.com/rmqlb/rmqlb/integration/netlab"
	"github.com/rmqlb/rmqlb/internal/sdnotifytest"
)

// unitCaps are the capabilities of the systemd unit (dist/systemd):
// CAP_NET_BIND_SERVICE (10), CAP_NET_ADMIN (12) and CAP_NET_RAW (13), as
// setpriv names them and as /proc/PID/status shows them.
const (
	unitCaps    = "net_admin,net_raw,net_bind_service"
	unitCapMask = 1<<10 | 1<<12 | 1<<13
)

// asUnit returns the command line that runs argv as the systemd unit
// does: as user u and group g with only the unit's capabilities (ambient,
// bounding set) and no new privileges.
func asUnit(u, g string, argv ...string) []string {
	return append([]string{"setpriv", "--reuid=" + u, "--regid=" + g, "--init-groups", "--no-new-privs",
		"--bounding-set=-all,+" + strings.ReplaceAll(unitCaps, ",", ",+"),
		"--inh-caps=-all,+" + strings.ReplaceAll(unitCaps, ",", ",+"),
		"--ambient-caps=-all,+" + strings.ReplaceAll(unitCaps, ",", ",+"),
		"--"}, argv...)
}

// TestNonRootDaemon runs the real rmqlb as the systemd unit runs it, as an
// unprivileged user (nobody) with CAP_NET_ADMIN, CAP_NET_RAW and
// CAP_NET_BIND_SERVICE only, on a lab host: it reads a config file it may
// only read through its group, makes its control socket and lock in a
// directory of its own (the unit's RuntimeDirectory), says READY=1 to a
// service manager, becomes VRRP master, puts the VIP on the interface,
// announces it with a gratuitous ARP that a client sees, proxies client
// connections through the VIP on port 5672 and on port 443 (below 1024) to
// a backend, follows its link (FAULT while the carrier is lost), comes
// back after SIGKILL (removing the VIP it left), and on SIGTERM says
// STOPPING=1, removes the VIP and exits 0.
func TestNonRootDaemon(t *testing.T) {
	l := newLab(t, "setpriv")
	h1, h2, client := l.Host("h1"), l.Host("h2"), l.Host("client")
	usr, err := user.Lookup("nobody")
	if err != nil {
		t.Fatalf("the unprivileged user of this test: %v", err)
	}
	grp, err := user.LookupGroupId(usr.Gid)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(usr.Uid)
	gid, _ := strconv.Atoi(usr.Gid)

	// A directory the user can enter (the test's own are 0700): the
	// binary, the config (root-owned, read through the group, as
	// installed), and run/ owned by the user as systemd makes it.
	dir, err := os.MkdirTemp("", "rmqlb-nonroot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	run := filepath.Join(dir, "run")
	for _, step := range []func() error{
		func() error { return os.Chmod(dir, 0o755) },
		func() error { return os.Mkdir(run, 0o755) },
		func() error { return os.Chown(run, uid, gid) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "rmqlb")
	src, err := os.ReadFile(rmqlbBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, src, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(run, "rmqlb.sock")
	low := netip.AddrPortFrom(vip, 443)
	conf := daemonConf{
		VRRP: []vrrpConf{{Priority: 150}},
		Listeners: fmt.Sprintf(`  - name: amqp
    bind: %s
    check: {type: tcp, interval: 200ms, timeout: 200ms, rise: 1, fall: 1}
    backends:
      - {name: h2, address: %s:5672}
  - name: low
    bind: %s
    check: {type: tcp, interval: 200ms, timeout: 200ms, rise: 1, fall: 1}
    backends:
      - {name: h2, address: %s:5672}
`, vipAP, h2.Addr, low, h2.Addr),
	}
	cfg := filepath.Join(dir, "rmqlb.yaml")
	if err := os.WriteFile(cfg, []byte(conf.yaml(h1, sock)), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(cfg, 0, gid); err != nil {
		t.Fatal(err)
	}
	if _, err := h2.ServeBanner(h2.AddrPort(vipPort)); err != nil {
		t.Fatal(err)
	}
	mgr := sdnotifytest.Listen(t, dir)
	garp := watchGARP(t, client, vip, h1.MAC)

	start := func(name string) *netlab.Proc {
		t.Helper()
		p, err := h1.Start(name, []string{mgr.Env()}, asUnit(usr.Username, grp.Name, bin, "run", "--config", cfg)...)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := start("rmqlb")
	d := &daemon{t: t, bin: bin, host: h1, conf: conf, path: cfg, sock: sock, proc: p, runs: 1}
	if msg := mgr.NextLifecycle(t, nil); !msg.Has("READY=1") {
		t.Fatalf("first notification %q, want READY=1", msg)
	}

	// The process is the user, with the unit's capabilities and no more.
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid()))
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%016x", unitCapMask)
	for _, line := range []string{
		fmt.Sprintf("Uid:\t%d\t%d\t%d\t%d", uid, uid, uid, uid),
		"CapEff:\t" + want, "CapPrm:\t" + want, "CapBnd:\t" + want, "NoNewPrivs:\t1",
	} {
		if !strings.Contains(string(st), line+"\n") {
			t.Errorf("/proc/%d/status lacks %q:\n%s", p.Pid(), line, st)
		}
	}
	for _, f := range []string{sock, sock + ".lock"} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Error(err)
		} else if owner := fi.Sys().(*syscall.Stat_t).Uid; int(owner) != uid {
			t.Errorf("%s is owned by uid %d, want %d", f, owner, uid)
		}
	}

	if err := d.waitState("MASTER", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(3*time.Second, func() (bool, error) { return h1.HasAddr(vip) }); err != nil {
		t.Fatalf("VIP on %s: %v", h1.Name, err)
	}
	// The adverts go out from the sender process (the default
	// vrrp_sender), which needs no capability of its own: it sends on the
	// daemon's socket, and runs as the daemon's user.
	if err := waitFor(3*time.Second, func() (bool, error) {
		return strings.HasPrefix(senderOfInstance(t, d), "process ("), nil
	}); err != nil {
		t.Errorf("adverts of the non-root master sent by %q, want the sender process", senderOfInstance(t, d))
	}
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", senderOf(t, d))); err != nil || !strings.Contains(string(st), fmt.Sprintf("Uid:\t%d\t%d\t%d\t%d\n", uid, uid, uid, uid)) {
		t.Errorf("the sender process does not run as %s: %v\n%s", usr.Username, err, st)
	}
	select {
	case err := <-garp:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the client saw no gratuitous ARP for the VIP from h1 within 10 s")
	}
	for _, target := range []netip.AddrPort{vipAP, low} {
		for i := range 10 {
			if got, err := banner(client, target); err != nil || got != h2.Name+"\n" {
				t.Fatalf("connection %d to %s through rmqlb: %q, %v; want the banner of %s", i, target, got, err, h2.Name)
			}
		}
	}

	// Its link watch works without CAP_SYS_ADMIN: a lost carrier puts the
	// instance in FAULT, and it is master again once the carrier is back.
	if err := l.CutLink(h1); err != nil {
		t.Fatal(err)
	}
	if err := d.waitState("FAULT", 5*time.Second); err != nil {
		t.Fatalf("after the link of %s was cut: %v", h1.Name, err)
	}
	if err := l.RestoreLink(h1); err != nil {
		t.Fatal(err)
	}
	if err := d.waitState("MASTER", 5*time.Second); err != nil {
		t.Fatalf("after the link of %s was restored: %v", h1.Name, err)
	}

	// Killed, it is restarted as systemd would (Restart=on-failure; the
	// run directory kept): the killed daemon's socket and lock do not stop
	// the new one, which removes the VIP left behind before it is master
	// again.
	if err := p.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.Wait(5 * time.Second)
	mgr.Drain(t)
	if has, err := h1.HasAddr(vip); err != nil || !has {
		t.Fatalf("the killed daemon left no VIP behind (%v): the test cannot check its removal", err)
	}
	stopWatch := watchGone(h1, vip)
	p = start("rmqlb-restarted")
	d.proc = p
	if msg := mgr.NextLifecycle(t, nil); !msg.Has("READY=1") {
		t.Fatalf("first notification after the restart %q, want READY=1", msg)
	}
	if err := d.waitState("MASTER", 5*time.Second); err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	if _, removed := stopWatch(); !removed {
		t.Error("the VIP left by the killed daemon was never seen removed by the restarted one")
	}
	if err := waitFor(3*time.Second, func() (bool, error) { return h1.HasAddr(vip) }); err != nil {
		t.Fatalf("VIP on %s after the restart: %v", h1.Name, err)
	}

	if err := p.Stop(15 * time.Second); err != nil {
		t.Fatalf("stop: %v", err)
	}
	rest := mgr.Drain(t)
	if len(rest) == 0 || !rest[len(rest)-1].Has("STOPPING=1") {
		t.Errorf("notifications at stop: %q, want STOPPING=1 last", rest)
	}
	if has, err := h1.HasAddr(vip); err != nil || has {
		t.Errorf("VIP on %s after stop: %v %v", h1.Name, has, err)
	}
}

// banner connects from host c to target and reads until the server
// closes.
func banner(c *netlab.Host, target netip.AddrPort) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := c.DialContext(ctx, "tcp4", target.String())
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(conn)
	return string(b), err
}

// watchGARP listens for ARP on host h's interface and sends on the
// returned channel nil once a gratuitous ARP (a request whose sender and
// target are addr) from mac arrives, or the read error. The test's cleanup
// closes the socket.
func watchGARP(t *testing.T, h *netlab.Host, addr netip.Addr, mac net.HardwareAddr) <-chan error {
	t.Helper()
	var c *arp.Client
	if err := h.Do(func() error {
		ifi, err := net.InterfaceByName(netlab.Iface)
		if err != nil {
			return err
		}
		c, err = arp.Dial(ifi)
		return err
	}); err != nil {
		t.Fatalf("listening for ARP on %s: %v", h.Name, err)
	}
	out := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			p, _, err := c.Read()
			if err != nil {
				out <- fmt.Errorf("reading ARP on %s: %w", h.Name, err)
				return
			}
			if p.Operation == arp.OperationRequest && p.SenderIP == addr && p.TargetIP == addr &&
				p.SenderHardwareAddr.String() == mac.String() {
				out <- nil
				return
			}
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return out
}

package integration

import (
	"errors"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/integration/netlab"
)

// TestStatusShowsRefusedPeer: keepalived 2.2.7 on h2 and rmqlb on h1 run
// the same virtual router (VRRPv2, VRID 1) with different passwords, the
// classic split brain: each drops the other's adverts and both hold the
// VIP. `rmqlb status` says so (exit 1) and names the router, its priority
// and the setting that differs. With the password made equal by a reload,
// rmqlb yields to keepalived's higher priority, and the status is healthy
// again once no advert has been dropped for ten seconds.
func TestStatusShowsRefusedPeer(t *testing.T) {
	l := newLab(t, "keepalived")
	h1, h2 := l.Host("h1"), l.Host("h2")
	kp, err := h2.StartKeepalived(netlab.KeepalivedInstance{VRID: 1, Priority: 200, Version: 2, Advert: time.Second,
		AuthPass: "other", VIPs: []netip.Prefix{vipPfx}})
	if err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, l, h1, daemonConf{VRRP: []vrrpConf{{Priority: 100, Version: 2, Advert: time.Second, AuthPass: "passwd"}}})
	if err := d.waitState("MASTER", 6*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(6*time.Second, func() (bool, error) {
		a, err := h1.HasAddr(vip)
		if err != nil {
			return false, err
		}
		b, err := h2.HasAddr(vip)
		return a && b, err
	}); err != nil {
		t.Fatalf("no split brain to show (the VIP on h1 and on h2): %v\n%s", err, kp.Tail(20))
	}

	status := func() (string, int) {
		t.Helper()
		out, err := exec.Command(d.bin, "status", "--socket", d.sock).CombinedOutput()
		var ee *exec.ExitError
		switch {
		case err == nil:
			return string(out), control.ExitHealthy
		case errors.As(err, &ee):
			return string(out), ee.ExitCode()
		}
		t.Fatalf("rmqlb status: %v\n%s", err, out)
		return "", 0
	}
	want := "VRRP vip: adverts of VRID 1 from " + h2.Addr.String() + " (priority 200) dropped, its authentication (auth_type, auth_pass) differs"
	out, code := status()
	if code != control.ExitDegraded || !strings.Contains(out, want) {
		t.Fatalf("split brain: rmqlb status exit %d, want %d with %q:\n%s", code, control.ExitDegraded, want, out)
	}
	t.Logf("split brain: %s", strings.SplitN(out, "\n", 2)[0])

	d.reload(func(c *daemonConf) { c.VRRP[0].AuthPass = "other" })
	if err := waitSoleHolder(l, h2, 6*time.Second); err != nil {
		t.Fatalf("after the reload: %v", err)
	}
	start := time.Now()
	if err := waitFor(15*time.Second, func() (bool, error) {
		_, code := status()
		return code == control.ExitHealthy, nil
	}); err != nil {
		out, code := status()
		t.Fatalf("settings equal: rmqlb status exit %d:\n%s", code, out)
	}
	t.Logf("healthy %v after the reload", time.Since(start).Round(100*time.Millisecond))
	if s := d.mustStatus(); s.instance("vip").State != "BACKUP" {
		t.Errorf("rmqlb state %s, want BACKUP", s.instance("vip").State)
	}
}

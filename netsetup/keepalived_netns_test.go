package netsetup

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestKeepalivedGARPNetns runs a real keepalived (the Debian package rmqlb
// replaces) as VRRP master in namespace A, captures its gratuitous ARP on
// the B side and checks that GARPFrame builds the same bytes. keepalived
// sends a 42-byte frame and lets the driver pad; we pad to 60 with zeros, so
// the comparison is on the first 42 bytes and the padding must be zero.
func TestKeepalivedGARPNetns(t *testing.T) {
	if os.Getenv(labEnv) == "" {
		if _, err := exec.LookPath("keepalived"); err != nil {
			t.Skip("needs keepalived")
		}
	}
	l := setupLab(t)
	if l == nil {
		return
	}
	macA := mustMAC(t, l.MACA)
	vip := netip.MustParseAddr("10.201.0.170")
	dir := t.TempDir()
	conf := filepath.Join(dir, "keepalived.conf")
	err := os.WriteFile(conf, []byte(fmt.Sprintf(`global_defs {
    router_id rmqlb_netsetup_test
}
vrrp_instance T {
    state MASTER
    interface %s
    virtual_router_id 201
    priority 150
    advert_int 1
    virtual_ipaddress {
        %s/24
    }
}
`, l.IfA, vip)), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	capB := captureARP(t, l.NSB, l.IfB)
	cmd := exec.Command("keepalived", "--dont-fork", "--log-console", "--no-syslog", "--vrrp",
		"--use-file", conf, "--pid", filepath.Join(dir, "k.pid"), "--vrrp_pid", filepath.Join(dir, "v.pid"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting keepalived: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("keepalived output:\n%s", out.String())
		}
	})

	f := capB.garps(t, macA, 1, 20*time.Second)[0]
	want, err := GARPFrame(macA, vip)
	if err != nil {
		t.Fatal(err)
	}
	if len(f) < 42 || !bytes.Equal(f[:42], want[:42]) {
		t.Fatalf("keepalived's gratuitous ARP\n% x\nours\n% x", f, want)
	}
	if pad := f[42:]; len(pad) > 0 && !bytes.Equal(pad, make([]byte, len(pad))) {
		t.Errorf("keepalived's frame has non-zero padding % x", pad)
	}
	t.Logf("keepalived frame (%d bytes): % x", len(f), f)
}

package integration

import (
	"bytes"
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

// blogAddr matches the blog post's addresses, 192.168.1.x, which the lab
// has as 10.77.0.x (192.168.1.100, the VIP, is the lab's VIP).
var blogAddr = regexp.MustCompile(`\b192\.168\.1\.(\d+)\b`)

// blogFile writes the blog post's file (from the migrate package's test
// data) into dir with the lab's addresses, and returns its path.
func blogFile(t *testing.T, dir, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "migrate", "testdata", "blog", name))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, blogAddr.ReplaceAll(data, []byte("10.77.0.$1")), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// importedConf runs `rmqlb import` with args and writes what it prints,
// after a control_socket in dir and the daemon keys keys, as
// dir/rmqlb.yaml: the file and the control socket's paths.
func importedConf(t *testing.T, bin, dir, keys string, args ...string) (conf, sock string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"import"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("rmqlb import: %v\n%s", err, stderr.String())
	}
	sock = filepath.Join(dir, "rmqlb.sock")
	conf = filepath.Join(dir, "rmqlb.yaml")
	if err := os.WriteFile(conf, append([]byte(fmt.Sprintf("control_socket: %s\n%s", sock, keys)), out...), 0o600); err != nil {
		t.Fatal(err)
	}
	return conf, sock
}

// TestImportBesideKeepalived is the README's migration of one host: h1
// runs keepalived with the blog post's keepalived.conf of rabbitmq01
// (VRRPv2, auth PASS, advert_int 5, priority 150), h2 runs rmqlb with the
// file `rmqlb import` writes from rabbitmq02's keepalived.conf and the
// blog post's haproxy.cfg. On the shared VRID rmqlb is a backup that hears
// keepalived and drops none of its adverts; when keepalived stops, rmqlb
// takes the VIP over; when keepalived starts again (the rollback), the VIP
// goes back to it by priority.
func TestImportBesideKeepalived(t *testing.T) {
	l := newLab(t, "keepalived")
	bin := rmqlbBinary(t)
	h1, h2 := l.Host("h1"), l.Host("h2")
	dir := filepath.Join(l.Dir, "import")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	// h2: rmqlb import, then the daemon keys of the lab.
	conf, sock := importedConf(t, bin, dir, "log_level: debug\n",
		"--keepalived", blogFile(t, dir, "rabbitmq02-keepalived.conf"), "--haproxy", blogFile(t, dir, "haproxy.cfg"))

	// h1: keepalived with rabbitmq01's file as the blog post has it (VRRP
	// only: the virtual_server needs LVS, which rmqlb replaces).
	kConf := blogFile(t, dir, "rabbitmq01-keepalived.conf")
	startKeepalived := func() *netlab.Proc {
		t.Helper()
		p, err := h1.Start("keepalived", nil, "keepalived", "-n", "-l", "-D", "-P", "-f", kConf,
			"-p", filepath.Join(dir, "keepalived.pid"), "-r", filepath.Join(dir, "vrrp.pid"))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	advert := 5 * time.Second
	kp := startKeepalived()
	if err := waitSoleHolder(l, h1, masterDown(advert, 150)+netlab.SchedulingSlack); err != nil {
		t.Fatalf("keepalived on h1 never held the VIP: %v\n%s", err, kp.Tail(20))
	}

	d := &daemon{t: t, bin: bin, host: h2, path: conf, sock: sock}
	d.start()
	inst := func() *instanceStatus {
		t.Helper()
		in, err := d.instance("rabbitmq")
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	// rmqlb starts its VRRP instance once every backend has had its
	// first health check (the imported checks' first runs are spread
	// over their interval): from then on it hears keepalived.
	if err := waitFor(2*advert+30*time.Second, func() (bool, error) {
		in := inst()
		return in.Counters.AdvertsReceived > 0, fmt.Errorf("rmqlb is %s and heard no advert", in.State)
	}); err != nil {
		t.Fatalf("rmqlb beside keepalived: %v\nrmqlb: %s", err, d.proc.Tail(20))
	}
	// Two more of keepalived's adverts, heard and none dropped, and the
	// VIP where it was all along.
	in0 := inst()
	if err := stableHolder(l, h1, 2*advert+netlab.SchedulingSlack); err != nil {
		t.Fatalf("rmqlb beside keepalived: %v\nrmqlb: %s", err, d.proc.Tail(20))
	}
	in1 := inst()
	t.Logf("rmqlb beside keepalived: %s, master %v, received +%d, dropped {%s}", in1.State, in1.Master,
		in1.Counters.AdvertsReceived-in0.Counters.AdvertsReceived, in1.dropped())
	if in1.State != "BACKUP" || in1.Master == nil || in1.Master.Addr != h1.Addr.String() || in1.Master.Priority != 150 {
		t.Errorf("rmqlb is %s hearing master %+v, want BACKUP hearing %s at priority 150", in1.State, in1.Master, h1.Addr)
	}
	if in1.Counters.AdvertsReceived == in0.Counters.AdvertsReceived {
		t.Error("rmqlb received none of keepalived's adverts")
	}
	if n := sumDropped(in1); n != 0 {
		t.Errorf("rmqlb dropped %d of keepalived's adverts: {%s}", n, in1.dropped())
	}

	// keepalived stops (priority 0): rmqlb takes over after Skew_Time.
	stop := time.Now()
	if err := kp.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	b := cleanStopBound(advert, 100)
	if err := waitSoleHolder(l, h2, b.d+time.Second); err != nil {
		t.Fatalf("rmqlb never took the VIP over: %v\nrmqlb: %s", err, d.proc.Tail(20))
	}
	within(t, "keepalived stopped: rmqlb holds the VIP", time.Since(stop), b)

	// Rollback: keepalived starts again and takes the VIP back by
	// priority (150 > 100): rmqlb, hearing a higher priority, backs off.
	kp = startKeepalived()
	defer kp.Stop(10 * time.Second)
	if err := waitSoleHolder(l, h1, masterDown(advert, 150)+netlab.SchedulingSlack); err != nil {
		t.Fatalf("keepalived restarted never took the VIP back: %v\nkeepalived: %s\nrmqlb: %s", err, kp.Tail(20), d.proc.Tail(20))
	}
	if err := waitFor(advert+netlab.SchedulingSlack, func() (bool, error) {
		in := inst()
		return in.State == "BACKUP", fmt.Errorf("rmqlb is %s", in.State)
	}); err != nil {
		t.Error(err)
	}
}

// TestImportedNotifyScript: a keepalived notify script, translated by
// rmqlb import, gets under rmqlb the arguments keepalived gives it. h1 runs
// keepalived, h2 rmqlb with the file rmqlb import writes from the same
// keepalived.conf at a higher priority; each host's instance runs the
// same generic `notify` script, which appends its arguments to a file of
// its own. keepalived on h1 takes the VIP, rmqlb on h2 preempts it and
// stops, and keepalived stops: both scripts saw INSTANCE, the instance's
// name, BACKUP, MASTER and STOP, and their own priority.
func TestImportedNotifyScript(t *testing.T) {
	l := newLab(t, "keepalived")
	bin := rmqlbBinary(t)
	h1, h2 := l.Host("h1"), l.Host("h2")
	dir := filepath.Join(l.Dir, "notify-import")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "notify.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nout=$1\nshift\necho \"$*\" >> \"$out\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	keepalivedConf := func(prio int, out string) string {
		p := filepath.Join(dir, fmt.Sprintf("keepalived-%d.conf", prio))
		c := fmt.Sprintf(`vrrp_instance VI_RMQ {
    state BACKUP
    interface %s
    virtual_router_id 51
    priority %d
    advert_int 1
    virtual_ipaddress {
        %s
    }
    notify "%s %s"
}
`, netlab.Iface, prio, vipPfx, script, out)
		if err := os.WriteFile(p, []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	outK, outR := filepath.Join(dir, "keepalived.out"), filepath.Join(dir, "rmqlb.out")

	conf, sock := importedConf(t, bin, dir, "", "--keepalived", keepalivedConf(150, outR))

	const advert = time.Second
	kConf := keepalivedConf(100, outK)
	kp, err := h1.Start("keepalived", nil, "keepalived", "-n", "-l", "-D", "-P", "-f", kConf,
		"-p", filepath.Join(dir, "keepalived.pid"), "-r", filepath.Join(dir, "vrrp.pid"))
	if err != nil {
		t.Fatal(err)
	}
	defer kp.Stop(10 * time.Second)
	if err := waitSoleHolder(l, h1, masterDown(advert, 100)+netlab.SchedulingSlack); err != nil {
		t.Fatalf("keepalived on h1 never held the VIP: %v\n%s", err, kp.Tail(20))
	}

	d := &daemon{t: t, bin: bin, host: h2, path: conf, sock: sock}
	d.start()
	if err := waitSoleHolder(l, h2, masterDown(advert, 150)+netlab.SchedulingSlack); err != nil {
		t.Fatalf("rmqlb on h2 never took the VIP: %v\n%s", err, d.proc.Tail(20))
	}
	if err := d.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := d.proc.Wait(10 * time.Second); err != nil {
		t.Fatalf("rmqlb exit after SIGTERM: %v\n%s", err, d.proc.Tail(30))
	}
	if err := waitSoleHolder(l, h1, masterDown(advert, 100)+netlab.SchedulingSlack); err != nil {
		t.Fatalf("keepalived on h1 never took the VIP back: %v\n%s", err, kp.Tail(20))
	}
	if err := kp.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}

	// keepalived runs its notify scripts without waiting for them, so
	// that two of them close together (MASTER as it takes the VIP back,
	// STOP as it is stopped) may write in either order: wait for its
	// STOP line, wherever it lands.
	lines := func(p, stop string) []string {
		t.Helper()
		var ls []string
		if err := waitFor(5*time.Second, func() (bool, error) {
			b, err := os.ReadFile(p)
			ls = strings.Split(strings.TrimSpace(string(b)), "\n")
			return err == nil && slices.Contains(ls, stop), fmt.Errorf("%s: %q, %v", p, ls, err)
		}); err != nil {
			t.Fatal(err)
		}
		return ls
	}
	k := lines(outK, "INSTANCE VI_RMQ STOP 100")
	r := lines(outR, "INSTANCE VI_RMQ STOP 150")
	t.Logf("keepalived's script saw %q; rmqlb's %q", k, r)
	for _, c := range []struct {
		who  string
		got  []string
		prio string
	}{{"keepalived", k, "100"}, {"rmqlb", r, "150"}} {
		for _, st := range []string{"BACKUP", "MASTER", "STOP"} {
			if want := "INSTANCE VI_RMQ " + st + " " + c.prio; !slices.Contains(c.got, want) {
				t.Errorf("%s's script never saw %q: %q", c.who, want, c.got)
			}
		}
		for _, l := range c.got {
			if f := strings.Fields(l); len(f) != 4 || f[0] != "INSTANCE" || f[1] != "VI_RMQ" || f[3] != c.prio {
				t.Errorf("%s's script saw %q, not INSTANCE VI_RMQ STATE %s", c.who, l, c.prio)
			}
		}
	}
	if want := []string{"INSTANCE VI_RMQ BACKUP 150", "INSTANCE VI_RMQ MASTER 150", "INSTANCE VI_RMQ STOP 150"}; !slices.Equal(r, want) {
		t.Errorf("rmqlb's script saw %q, want %q", r, want)
	}
}

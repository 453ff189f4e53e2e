package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/integration/netlab"
	"github.com/rmqlb/rmqlb/internal/sdnotifytest"
)

// upgradeListeners are the listeners of the upgrade test: "probe" on the
// VIP over two banner servers of h3 (the probe learns a backend answered),
// and three echo listeners over an echo server of h3 for long sessions:
// one that lets them finish for 30 s, one for 2 s, and one for 3 s that
// closes those left over its last 2 s (close_spread).
func upgradeListeners(h3 *netlab.Host) string {
	return fmt.Sprintf(`  - name: probe
    bind: %s
    policy: roundrobin
    graceful_timeout: 3s
    check: {type: tcp, interval: 200ms, timeout: 200ms, rise: 1, fall: 2}
    backends:
      - {name: b1, address: %s:7001}
      - {name: b2, address: %s:7002}
  - name: echo
    bind: %s:5673
    graceful_timeout: 30s
    check: {type: none}
    backends:
      - {name: e, address: %s:7003}
  - name: echo-short
    bind: %s:5674
    graceful_timeout: 2s
    check: {type: none}
    backends:
      - {name: e, address: %s:7003}
  - name: echo-spread
    bind: %s:5675
    graceful_timeout: 3s
    close_spread: 2s
    check: {type: none}
    backends:
      - {name: e, address: %s:7003}
`, vipAP, h3.Addr, h3.Addr, vip, h3.Addr, vip, h3.Addr, vip, h3.Addr)
}

// echoSession is a long-lived client session through a listener.
type echoSession struct {
	c net.Conn
	r *bufio.Reader
}

func dialEcho(t *testing.T, client *netlab.Host, addr netip.AddrPort) *echoSession {
	t.Helper()
	c, err := client.Dialer(2*time.Second)("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s := &echoSession{c: c, r: bufio.NewReader(c)}
	if err := s.roundTrip("hello"); err != nil {
		t.Fatal(err)
	}
	return s
}

// roundTrip sends a line and reads it back.
func (s *echoSession) roundTrip(line string) error {
	_ = s.c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(s.c, line+"\n"); err != nil {
		return err
	}
	got, err := s.r.ReadString('\n')
	if err != nil {
		return err
	}
	if got != line+"\n" {
		return fmt.Errorf("echo %q, want %q", got, line)
	}
	return nil
}

// closedWithin reports whether the other side closes the session within d.
func (s *echoSession) closedWithin(d time.Duration) bool {
	_ = s.c.SetReadDeadline(time.Now().Add(d))
	_, err := s.r.ReadByte()
	return err != nil && !os.IsTimeout(err)
}

// pidAlive reports whether process pid exists (and is not a zombie).
func pidAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

// TestUpgradeInPlace: `rmqlb upgrade` replaces the running daemon by a new
// program, three times, under a connect probe every 10 ms through the
// VIP's proxy and beside a keepalived peer: not one connect fails, the VIP
// never leaves h1, keepalived sees no transition, every probe is answered
// by a backend. The control socket, the metrics endpoint and the lock go
// to each new process; the service manager hears MAINPID= of the new one
// from the old, then READY=1. A session established before the first
// upgrade is served by its process until its client ends it, and that
// process exits then; a session of a listener with a 2 s graceful_timeout
// is closed 2 s after its upgrade; the ten sessions of a listener with a
// 3 s graceful_timeout and a 2 s close_spread are closed one after another
// from 1 s after it on, not at once, and their clients reconnect to the
// new process.
func TestUpgradeInPlace(t *testing.T) {
	l := newLab(t, "keepalived")
	h1, h2, h3, client := l.Host("h1"), l.Host("h2"), l.Host("h3"), l.Host("client")
	for _, port := range []uint16{7001, 7002} {
		if _, err := h3.ServeBanner(h3.AddrPort(port)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h3.ServeEcho(h3.AddrPort(7003)); err != nil {
		t.Fatal(err)
	}
	kp, err := h2.StartKeepalived(netlab.KeepalivedInstance{VRID: 1, Priority: 100, Version: 3, Advert: 100 * time.Millisecond, VIPs: []netip.Prefix{vipPfx}})
	if err != nil {
		t.Fatal(err)
	}

	// Two copies of the program, so that each upgrade runs another file.
	bins := make([]string, 2)
	for i := range bins {
		bins[i] = filepath.Join(l.Dir, fmt.Sprintf("rmqlb-%c", 'a'+i))
		b, err := os.ReadFile(rmqlbBinary(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bins[i], b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	metrics := h1.AddrPort(9187)
	d := newDaemon(t, l, h1, daemonConf{LogLevel: "info", VRRP: []vrrpConf{{Priority: 150}}, Listeners: upgradeListeners(h3)})
	conf, err := os.ReadFile(d.path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.path, append([]byte("metrics_listen: "+metrics.String()+"\n"), conf...), 0o644); err != nil {
		t.Fatal(err)
	}
	sd := sdnotifytest.Listen(t, l.Dir)
	first, err := h1.Start("rmqlb", []string{sd.Env()}, bins[0], "run", "--config", d.path)
	if err != nil {
		t.Fatal(err)
	}
	if msg := sd.NextLifecycle(t, nil); !msg.Has("READY=1") {
		t.Fatalf("first notification %q, want READY=1", msg)
	}
	if err := waitSoleHolder(l, h1, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := d.waitState("MASTER", 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := d.waitBackendsUp(5*time.Second, "b1", "b2"); err != nil {
		t.Fatal(err)
	}
	if st := keepalivedStates(kp.Output()); len(st) == 0 || st[len(st)-1] != "BACKUP" {
		t.Fatalf("keepalived's states before the upgrades: %v", st)
	}
	kStates := len(keepalivedStates(kp.Output()))
	before := d.mustStatus().instance("vip")

	long := dialEcho(t, client, netip.AddrPortFrom(vip, 5673))
	probe, err := client.StartProbe(vipAP, netlab.ProbeConfig{ReadBanner: true})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)

	pids := []int{first.Pid()}
	var short *echoSession
	var shortAt time.Time
	var spread []*echoSession
	spreadEnds := make([]time.Time, 10)
	var spreadWait sync.WaitGroup
	const rounds = 3
	for i := range rounds {
		if i == rounds-1 {
			short = dialEcho(t, client, netip.AddrPortFrom(vip, 5674))
			for range len(spreadEnds) {
				spread = append(spread, dialEcho(t, client, netip.AddrPortFrom(vip, 5675)))
			}
		}
		bin := bins[(i+1)%2]
		start := time.Now()
		out, err := h1.Run(d.bin, "upgrade", "--socket", d.sock, "--binary", bin)
		took := time.Since(start)
		if err != nil {
			t.Fatalf("upgrade %d: %v\n%s\nold process log:\n%s", i, err, out, first.Tail(30))
		}
		if i == rounds-1 {
			shortAt = time.Now()
			for k, s := range spread {
				spreadWait.Go(func() {
					if s.closedWithin(8 * time.Second) {
						spreadEnds[k] = time.Now()
					}
				})
			}
		}
		t.Logf("upgrade %d (%v): %s", i, took.Round(time.Millisecond), strings.ReplaceAll(strings.TrimSpace(string(out)), "\n", "; "))
		s := d.mustStatus()
		pid := int(s.raw.(map[string]any)["pid"].(float64))
		if pid == pids[len(pids)-1] || !pidAlive(pid) {
			t.Fatalf("upgrade %d: status answered by pid %d (before: %v)", i, pid, pids)
		}
		if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err != nil || exe != bin {
			t.Errorf("upgrade %d: pid %d runs %q, want %s (%v)", i, pid, exe, bin, err)
		}
		pids = append(pids, pid)
		// MASTER carried on: since when and why as before the
		// upgrades, no state change.
		if in := s.instance("vip"); in == nil || in.State != "MASTER" || in.Reason != before.Reason ||
			in.Since.Sub(before.Since).Abs() > 50*time.Millisecond || len(in.RecentTransitions) != len(before.RecentTransitions) {
			t.Fatalf("upgrade %d: the new process's VRRP instance: %+v, before the upgrades %+v", i, in, before)
		}
		// The new process's adverts go out from its own sender process
		// (the default vrrp_sender) once it runs.
		if err := waitFor(3*time.Second, func() (bool, error) {
			return strings.HasPrefix(senderOfInstance(t, d), "process ("), nil
		}); err != nil {
			t.Errorf("upgrade %d: adverts sent by %q, want the new process's sender process", i, senderOfInstance(t, d))
		}
		// The service manager follows the new main process.
		msg := sd.NextLifecycle(t, nil)
		if v, _ := msg.Get("MAINPID"); v != strconv.Itoa(pid) {
			t.Fatalf("upgrade %d: notification %q, want MAINPID=%d", i, msg, pid)
		}
		if msg := sd.NextLifecycle(t, nil); !msg.Has("READY=1") {
			t.Fatalf("upgrade %d: notification %q, want READY=1 from the new process", i, msg)
		}
		// The metrics endpoint answers from the new process.
		body, err := scrape(client, metrics)
		if err != nil || !strings.Contains(body, "rmqlb_build_info") {
			t.Errorf("upgrade %d: metrics: %v", i, err)
		}
		if lock, err := os.ReadFile(d.sock + ".lock"); err != nil || strings.TrimSpace(string(lock)) != strconv.Itoa(pid) {
			t.Errorf("upgrade %d: lock file says %q, want %d (%v)", i, lock, pid, err)
		}
		if i == rounds-1 {
			// The new process's status names the old one, which finishes
			// the short and the spread sessions.
			prev, _ := s.raw.(map[string]any)["previous_process"].(map[string]any)
			if p, _ := prev["pid"].(float64); int(p) != pids[len(pids)-2] {
				t.Errorf("upgrade %d: previous_process in the status %v, want pid %d", i, prev, pids[len(pids)-2])
			} else if n, _ := prev["sessions"].(float64); n < float64(1+len(spread)) {
				t.Errorf("upgrade %d: previous_process has %v sessions, want at least the %d opened before", i, n, 1+len(spread))
			}
			if err := short.roundTrip("after its upgrade"); err != nil {
				t.Errorf("the 2 s session right after its upgrade: %v", err)
			}
		}
		// The second process had no session of its own: it exits at
		// once when replaced.
		if prev := pids[len(pids)-2]; i == 1 {
			if err := waitFor(5*time.Second, func() (bool, error) { return !pidAlive(prev), fmt.Errorf("pid %d still runs", prev) }); err != nil {
				t.Errorf("upgrade %d: the process it replaced: %v", i, err)
			}
		}
		if err := long.roundTrip(fmt.Sprintf("after upgrade %d", i)); err != nil {
			t.Fatalf("the session established before the upgrades, after upgrade %d: %v", i, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err := stableHolder(l, h1, 500*time.Millisecond); err != nil {
		t.Error(err)
	}
	res := probe.Stop()
	t.Logf("probe over %d upgrades: %s", rounds, res)
	if lost := lostConnects(t, res); lost != 0 {
		t.Errorf("%d failed connects over %d upgrades, want 0", lost, rounds)
	}
	unanswered := 0
	for _, a := range res.Attempts {
		if a.OK && a.Banner != h3.Name {
			unanswered++
		}
	}
	if unanswered > 0 {
		t.Errorf("%d of %d probes connected but no backend answered", unanswered, len(res.Attempts))
	}
	if n := len(keepalivedStates(kp.Output())) - kStates; n != 0 {
		t.Errorf("keepalived changed state %d times during the upgrades: %v", n, keepalivedStates(kp.Output()))
	}
	if holders, err := l.Holders(vip); err != nil || len(holders) != 1 || holders[0] != h1 {
		t.Errorf("VIP holders after the upgrades: %v %v", holders, err)
	}

	// The 2 s session is closed by its process 2 s after its upgrade,
	// not before; the process exits then.
	if !short.closedWithin(4 * time.Second) {
		t.Error("the 2 s session was not closed by its graceful_timeout")
	} else if after := time.Since(shortAt); after < 1500*time.Millisecond {
		t.Errorf("the 2 s session was closed %v after its upgrade", after.Round(time.Millisecond))
	}
	// The spread sessions: none closed in the first second of the grace
	// period, then one after another over the last two (not in one
	// burst), and their clients are served again, by the new process.
	spreadWait.Wait()
	var earliest, latest time.Duration
	for k, end := range spreadEnds {
		if end.IsZero() {
			t.Errorf("spread session %d was not closed within 8 s of its upgrade", k)
			continue
		}
		after := end.Sub(shortAt)
		if earliest == 0 || after < earliest {
			earliest = after
		}
		latest = max(latest, after)
	}
	t.Logf("close_spread 2s of graceful_timeout 3s: the %d sessions closed %v to %v after their upgrade",
		len(spreadEnds), earliest.Round(time.Millisecond), latest.Round(time.Millisecond))
	if earliest < 700*time.Millisecond {
		t.Errorf("the earliest spread session was closed %v after its upgrade, before the last 2 s of the 3 s grace period", earliest.Round(time.Millisecond))
	}
	if latest-earliest < time.Second {
		t.Errorf("the spread sessions were closed within %v of each other, want them spread over about 2 s", (latest - earliest).Round(time.Millisecond))
	}
	for range spread {
		dialEcho(t, client, netip.AddrPortFrom(vip, 5675)) // reconnects: served
	}
	if prev := pids[len(pids)-2]; waitFor(3*time.Second, func() (bool, error) { return !pidAlive(prev), nil }) != nil {
		t.Errorf("pid %d, replaced with its 2 s session, still runs after the session's end", prev)
	} else if p, ok := d.mustStatus().raw.(map[string]any)["previous_process"]; ok {
		t.Errorf("status still shows the previous process %v once it has exited", p)
	}

	// The first process still serves the long session; it exits once its
	// client ends it.
	if !pidAlive(pids[0]) {
		t.Fatal("the first process exited with a session open")
	}
	if err := long.roundTrip("last"); err != nil {
		t.Fatalf("the long session at the end: %v", err)
	}
	long.c.Close()
	if err := first.Wait(5 * time.Second); err != nil {
		t.Errorf("the first process after its last session: %v\n%s", err, first.Tail(20))
	}
	if _, err := os.Lstat(d.sock); err != nil {
		t.Errorf("the control socket file after the old processes left: %v", err)
	}
	d.mustStatus()

	// The last process is the service's: SIGTERM stops it as usual.
	last := pids[len(pids)-1]
	if err := syscall.Kill(last, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if msg := sd.NextLifecycle(t, nil); !msg.Has("STOPPING=1") {
		t.Errorf("notification %q, want STOPPING=1", msg)
	}
	if err := waitFor(10*time.Second, func() (bool, error) { return !pidAlive(last), fmt.Errorf("pid %d still runs", last) }); err != nil {
		t.Error(err)
	}
}

// scrape fetches /metrics at addr from host h.
func scrape(h *netlab.Host, addr netip.AddrPort) (string, error) {
	hc := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DialContext: h.DialContext}}
	resp, err := hc.Get("http://" + addr.String() + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// TestUpgradeBackupOfSlowerMaster: rmqlb, BACKUP to a keepalived master
// that advertises every second (ten times less often than rmqlb's own
// 100 ms), is upgraded in place five times: it stays BACKUP each time
// and takes nothing over, since it goes on with its master's interval
// (with its own it would take the master for silent before the master's
// next advert about two times in three, and give way again at that
// advert), and its status goes on naming the master, and the state's
// since and reason.
func TestUpgradeBackupOfSlowerMaster(t *testing.T) {
	l := newLab(t, "keepalived")
	h1, h2 := l.Host("h1"), l.Host("h2")
	kp, err := h2.StartKeepalived(netlab.KeepalivedInstance{VRID: 1, Priority: 200, Version: 3, Advert: time.Second, VIPs: []netip.Prefix{vipPfx}})
	if err != nil {
		t.Fatal(err)
	}
	if err := waitSoleHolder(l, h2, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, l, h1, daemonConf{LogLevel: "info",
		VRRP: []vrrpConf{{Priority: 100, Extra: "    max_adopted_advert_interval: 2s\n"}}})
	var before *instanceStatus
	if err := waitFor(5*time.Second, func() (bool, error) {
		before = d.mustStatus().instance("vip")
		return before != nil && before.State == "BACKUP" && before.Master != nil, nil
	}); err != nil {
		t.Fatalf("rmqlb BACKUP to keepalived: %+v", before)
	}
	kStates := len(keepalivedStates(kp.Output()))

	for i := range 5 {
		out, err := h1.Run(d.bin, "upgrade", "--socket", d.sock)
		if err != nil {
			t.Fatalf("upgrade %d: %v\n%s", i, err, out)
		}
		// Past three of rmqlb's own intervals and its skew, within
		// the master's next advert or two.
		time.Sleep(1500 * time.Millisecond)
		in := d.mustStatus().instance("vip")
		if in == nil || in.State != "BACKUP" || len(in.RecentTransitions) != len(before.RecentTransitions) {
			t.Fatalf("upgrade %d: the new process's instance %+v, before the upgrades %+v", i, in, before)
		}
		if in.Master == nil || in.Master.Addr != h2.Addr.String() || in.Master.Priority != 200 {
			t.Errorf("upgrade %d: master heard %+v, want %s priority 200", i, in.Master, h2.Addr)
		}
		if in.Since.Sub(before.Since).Abs() > 50*time.Millisecond || in.Reason != before.Reason {
			t.Errorf("upgrade %d: BACKUP since %v (%s), before the upgrades since %v (%s)", i, in.Since, in.Reason, before.Since, before.Reason)
		}
	}
	if err := waitSoleHolder(l, h2, time.Second); err != nil {
		t.Error(err)
	}
	if n := len(keepalivedStates(kp.Output())) - kStates; n != 0 {
		t.Errorf("keepalived changed state %d times during the upgrades: %v", n, keepalivedStates(kp.Output()))
	}
}

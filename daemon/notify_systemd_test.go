package daemon

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/internal/sdnotifytest"
	"github.com/rmqlb/rmqlb/netsetup"
	"github.com/rmqlb/rmqlb/vrrp"
)

// listenNotify makes a fake service manager and points $NOTIFY_SOCKET at
// it for the test.
func listenNotify(t *testing.T) *sdnotifytest.Manager {
	t.Helper()
	m := sdnotifytest.Listen(t, "")
	t.Setenv("NOTIFY_SOCKET", m.Path)
	return m
}

var readyStatus = regexp.MustCompile(`^(DEGRADED: (listener amqp: no backend serves .*; )?backend amqp/[ab] DOWN .* \| )?(INIT \(v\)|BACKUP \(v\), no master heard); [0-2]/2 backends up$`)

func monotonicUsec(t *testing.T) uint64 {
	t.Helper()
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return uint64(ts.Nano() / 1000)
}

// TestSystemdNotify: with $NOTIFY_SOCKET set the daemon tells the service
// manager: a starting status (no READY) while it waits for the first
// checks, READY=1 once Ready is closed, status lines that follow VRRP and
// the backends, RELOADING=1 with a MONOTONIC_USEC of the reload's time then
// READY=1 for a reload applied and for one refused, and STOPPING=1 last.
func TestSystemdNotify(t *testing.T) {
	mgr := listenNotify(t)
	l := newLab(t)
	h := newHarness(t, l.file())
	h.start()

	msg := mgr.Next(t)
	if st, _ := msg.Get("STATUS"); msg.Lifecycle() || !strings.HasPrefix(st, "starting") {
		t.Fatalf("first notification %q, want only a starting status", msg)
	}
	h.checks.get(idA).answer(t, healthcheck.Result{})
	h.checks.get(idB).answer(t, healthcheck.Result{})
	msg = mgr.Next(t)
	if v, _ := msg.Get("READY"); v != "1" {
		t.Fatalf("notification after the first checks %q, want READY=1", msg)
	}
	select {
	case <-h.d.Ready():
	default:
		t.Fatal("READY=1 before Ready was closed")
	}
	// The listeners learn the first results through the router, maybe
	// after READY=1: the count is what the daemon knew then.
	if st, _ := msg.Get("STATUS"); !readyStatus.MatchString(st) {
		t.Fatalf("status with READY=1: %q, want %v", st, readyStatus)
	}

	// The status line follows VRRP to MASTER (on the fake clock; the
	// refresher runs on it too), then a's check failing.
	h.checks.get(idA).always(healthcheck.Result{})
	h.checks.get(idB).always(healthcheck.Result{})
	waitStatus := func(want *regexp.Regexp) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			h.clk.Advance(20 * time.Millisecond)
			select {
			case msg := <-mgr.Messages():
				if msg.Lifecycle() {
					t.Fatalf("unexpected %q", msg)
				}
				if st, _ := msg.Get("STATUS"); want.MatchString(st) {
					return
				}
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("no status %q within 10 s (VRRP %v)", want, h.vrrpSnapshot().State)
			}
			time.Sleep(time.Millisecond) // let the daemon's goroutines run between steps of the fake clock
		}
	}
	waitStatus(regexp.MustCompile(`^MASTER of 192\.0\.2\.100 \(v\); 2/2 backends up$`))
	h.checks.get(idA).always(healthcheck.Result{Err: errors.New("refused")})
	waitStatus(regexp.MustCompile(`^DEGRADED: backend amqp/a DOWN \([^|]*refused\) \| MASTER of 192\.0\.2\.100 \(v\); 1/2 backends up$`))

	// A reload: RELOADING=1 (with the time), then READY=1.
	h.write(l.file("weight: 10}", "weight: 5}"))
	before := monotonicUsec(t)
	if r := h.d.Reload(); !r.OK() {
		t.Fatalf("reload: %+v", r)
	}
	after := monotonicUsec(t)
	msg = mgr.NextLifecycle(t, nil)
	if v, _ := msg.Get("RELOADING"); v != "1" {
		t.Fatalf("first notification of a reload %q, want RELOADING=1", msg)
	}
	us, _ := msg.Get("MONOTONIC_USEC")
	if n, err := strconv.ParseUint(us, 10, 64); err != nil || n < before || n > after {
		t.Fatalf("MONOTONIC_USEC=%q, want between %d and %d", us, before, after)
	}
	msg = mgr.NextLifecycle(t, nil)
	if v, _ := msg.Get("READY"); v != "1" {
		t.Fatalf("notification after a reload %q, want READY=1", msg)
	}
	if st, _ := msg.Get("STATUS"); strings.Contains(st, "reload refused") {
		t.Fatalf("status after a good reload: %q", st)
	}

	// A refused reload: the daemon runs on, READY=1 says so.
	h.write("listeners: [{name: amqp, bind: nowhere}]\n")
	if r := h.d.Reload(); r.Error == "" {
		t.Fatalf("a bad file was not refused: %+v", r)
	}
	if msg = mgr.NextLifecycle(t, nil); !msg.Has("RELOADING=1") {
		t.Fatalf("first notification of a refused reload %q, want RELOADING=1", msg)
	}
	msg = mgr.NextLifecycle(t, nil)
	if st, _ := msg.Get("STATUS"); !msg.Has("READY=1") || !strings.HasPrefix(st, "DEGRADED: last reload refused as a whole: ") {
		t.Fatalf("notification after a refused reload %q, want READY=1 and the refusal", msg)
	}

	// Stop: STOPPING=1, then nothing.
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	rest := mgr.Drain(t)
	i := slices.IndexFunc(rest, func(m sdnotifytest.Message) bool { return m.Lifecycle() })
	if i < 0 || !rest[i].Has("STOPPING=1") || i != len(rest)-1 {
		t.Fatalf("notifications at stop %q, want STOPPING=1 last", rest)
	}
}

// TestSystemdNotifyStopBeforeReady: a daemon stopped while it waits for
// its first checks never says READY=1, only STOPPING=1.
func TestSystemdNotifyStopBeforeReady(t *testing.T) {
	mgr := listenNotify(t)
	l := newLab(t)
	h := newHarness(t, l.file())
	h.start()
	if msg := mgr.Next(t); msg.Lifecycle() {
		t.Fatalf("first notification %q, want only a starting status", msg)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	got := mgr.Drain(t)
	if len(got) != 1 || !got[0].Has("STOPPING=1") {
		t.Fatalf("notifications of a daemon stopped while starting: %q, want STOPPING=1 alone", got)
	}
}

// TestSystemdNotifyNoManager: $NOTIFY_SOCKET naming a socket nobody
// listens on (a service manager gone) costs the daemon nothing: it
// starts, reloads and stops as without one.
func TestSystemdNotifyNoManager(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "nobody.sock"))
	l := newLab(t)
	h := newHarness(t, l.file())
	startChecked(t, h)
	h.write(l.file("weight: 10}", "weight: 5}"))
	if r := h.d.Reload(); !r.OK() {
		t.Fatalf("reload: %+v", r)
	}
	if err := h.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

// TestSystemdNotifyOff: without $NOTIFY_SOCKET no status refresher runs.
func TestSystemdNotifyOff(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	l := newLab(t)
	h := newHarness(t, l.file())
	startChecked(t, h)
	if r := h.d.Reload(); !r.OK() {
		t.Fatalf("reload: %+v", r)
	}
	h.d.sd.mu.Lock()
	refresh := h.d.sd.refresh
	h.d.sd.mu.Unlock()
	if refresh != nil {
		t.Fatal("a status refresher runs without $NOTIFY_SOCKET")
	}
	if err := h.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

// TestStatusLine: the one-line status for the service manager is
// `rmqlb status`'s verdict (control.Assess): the summary when healthy;
// when degraded, the reasons, then the summary; a DEGRADED backend does
// not count as up. It stays one line whatever the names.
func TestStatusLine(t *testing.T) {
	vip := netip.MustParsePrefix("10.77.0.100/24")
	master := func(name string) control.VRRP {
		v := control.VRRP{Snapshot: vrrp.Snapshot{Name: name, Interface: "eth0", State: vrrp.StateMaster, VIPs: []netip.Prefix{vip}}}
		v.Addresses.VIPs = []netsetup.VIPSnapshot{{Prefix: vip, Present: true}}
		return v
	}
	listener := func(states ...backend.State) balancer.Snapshot {
		l := balancer.Snapshot{Name: "amqp", Listening: true}
		for i, st := range states {
			l.Backends = append(l.Backends, balancer.BackendSnapshot{Name: fmt.Sprintf("r%d", i+1), State: st, Weight: 10, LastChangeReason: "memory alarm"})
		}
		return l
	}
	for _, c := range []struct {
		s    control.Status
		want string
	}{
		{control.Status{}, "no VRRP instance, no listener"},
		{control.Status{VRRP: []control.VRRP{master("rabbitmq")}, Listeners: []balancer.Snapshot{listener(backend.Up, backend.Up, backend.Drain)}},
			"MASTER of 10.77.0.100 (rabbitmq); 2/3 backends up (1 DRAIN)"},
		{control.Status{VRRP: []control.VRRP{master("rabbitmq")}, Listeners: []balancer.Snapshot{listener(backend.Up, backend.Degraded, backend.Drain)}},
			"DEGRADED: backend amqp/r2 DEGRADED (memory alarm) | MASTER of 10.77.0.100 (rabbitmq); 1/3 backends up (1 DRAIN)"},
		{control.Status{VRRP: []control.VRRP{{Snapshot: vrrp.Snapshot{Name: "evil\nname", State: vrrp.StateInit}}, {Snapshot: vrrp.Snapshot{Name: "b", State: vrrp.StateInit}}}},
			"INIT (evil name); INIT (b)"},
	} {
		if got := statusLine(c.s); got != c.want {
			t.Errorf("statusLine = %q, want %q", got, c.want)
		}
	}
}

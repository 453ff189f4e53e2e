package healthcheck_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/amqpcheck"
	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/internal/rabbittest"
	"github.com/rmqlb/rmqlb/internal/wallclock"
	"go.uber.org/zap/zaptest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if l := rabbittest.Leftovers(); len(l) > 0 {
		fmt.Fprintf(os.Stderr, "leftover RabbitMQ processes: %v\n", l)
		code = 1
	}
	os.Exit(code)
}

// watcher collects events of a scheduler and lets a test wait for a state.
type watcher struct {
	mu     sync.Mutex
	events []healthcheck.Event
	ch     chan struct{}
}

func newWatcher() *watcher { return &watcher{ch: make(chan struct{}, 1)} }

func (w *watcher) handle(e healthcheck.Event) {
	w.mu.Lock()
	w.events = append(w.events, e)
	w.mu.Unlock()
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

// wait returns the first event of backend reaching state after index from, and its index.
func (w *watcher) wait(t *testing.T, name string, st backend.State, from int, timeout time.Duration) (healthcheck.Event, int) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		w.mu.Lock()
		for i := from; i < len(w.events); i++ {
			if e := w.events[i]; e.Backend == bid(name) && e.State == st && !e.WeightOnly {
				w.mu.Unlock()
				return e, i + 1
			}
		}
		w.mu.Unlock()
		select {
		case <-w.ch:
		case <-deadline:
			t.Fatalf("%s did not become %v within %v (events since: %+v)", name, st, timeout, w.since(from))
		}
	}
}

func (w *watcher) since(i int) []healthcheck.Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]healthcheck.Event(nil), w.events[i:]...)
}

func (w *watcher) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.events)
}

// TestBrokerScheduler runs the scheduler with AMQP checks against a real RabbitMQ node through
// stop_app / start_app, SIGSTOP / SIGCONT, a memory alarm, a wrong password and a missing
// vhost (DEGRADED, see amqpcheck's Refused logins).
func TestBrokerScheduler(t *testing.T) {
	n := rabbittest.StartT(t, rabbittest.Options{Name: "hc"})
	cfg := healthcheck.CheckConfig{Interval: time.Second, Timeout: 500 * time.Millisecond, Rise: 2, Fall: 3, StartJitter: -1}
	s := healthcheck.NewScheduler(healthcheck.Options{Logger: zaptest.NewLogger(t)})
	add := func(name string, c amqpcheck.Config, onAlarm healthcheck.AlarmAction) {
		c.Addr = n.Addr
		chk, err := amqpcheck.New(c)
		if err != nil {
			t.Fatal(err)
		}
		cfg := cfg
		cfg.OnAlarm = onAlarm
		if err := s.Add(bid(name), cfg, chk); err != nil {
			t.Fatal(err)
		}
	}
	add("login", amqpcheck.Config{Mode: amqpcheck.ModeLogin}, healthcheck.AlarmDegraded)
	add("handshake", amqpcheck.Config{Mode: amqpcheck.ModeHandshake}, healthcheck.AlarmDegraded)
	add("badpass", amqpcheck.Config{Mode: amqpcheck.ModeLogin, User: "guest", Password: "wrong"}, healthcheck.AlarmDegraded)
	add("novhost", amqpcheck.Config{Mode: amqpcheck.ModeLogin, VHost: "missing"}, healthcheck.AlarmDegraded)
	// on_alarm: down: the same login check takes the broker out under an alarm.
	add("alarmdown", amqpcheck.Config{Mode: amqpcheck.ModeLogin}, healthcheck.AlarmDown)
	w := newWatcher()
	s.Subscribe(w.handle)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	// Healthy: UP at the first check. Wrong password and missing vhost: the broker refused the
	// check's own login, which RabbitMQ would refuse on every node alike: DEGRADED (still
	// served) with the refusal as the reason.
	w.wait(t, "login", backend.Up, 0, 5*time.Second)
	w.wait(t, "handshake", backend.Up, 0, 5*time.Second)
	for name, want := range map[string]string{"badpass": "403 ACCESS_REFUSED", "novhost": "530 NOT_ALLOWED - vhost missing not found"} {
		deadline := time.Now().Add(5 * time.Second)
		for {
			st := status(s, name)
			if st.State == backend.Degraded && strings.Contains(st.Reason, "login refused: "+want) {
				t.Logf("%s: DEGRADED: %s", name, st.Reason)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %+v, want DEGRADED with %q", name, st, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// stop_app: the listener closes: DOWN (refused); start_app: UP after rise.
	mark := w.len()
	n.MustCtl(t, "stop_app")
	e, mark := w.wait(t, "login", backend.Down, mark, 10*time.Second)
	t.Logf("stop_app: %s", e.Reason)
	if !strings.Contains(e.Reason, "refused") {
		t.Errorf("stop_app reason %q", e.Reason)
	}
	n.MustCtl(t, "start_app")
	w.wait(t, "login", backend.Up, mark, 20*time.Second)
	_, mark = w.wait(t, "handshake", backend.Up, mark, 20*time.Second)

	// SIGSTOP: DOWN within fall x interval + timeout.
	bound := time.Duration(cfg.Fall)*cfg.Interval + cfg.Timeout
	if err := n.Freeze(); err != nil {
		t.Fatal(err)
	}
	frozen := time.Now()
	thawed := false
	defer func() {
		if !thawed {
			n.Thaw()
		}
	}()
	for _, b := range []string{"login", "handshake"} {
		e, _ := w.wait(t, b, backend.Down, mark, 2*bound)
		took := e.Time.Sub(frozen)
		t.Logf("SIGSTOP -> %s DOWN after %v (bound fall x interval + timeout = %v): %s", b, took.Round(time.Millisecond), bound, e.Reason)
		// The bound is exact when the freeze follows a passing check at once (as here); the
		// slack is for goroutines and timers kept off a CPU on a shared machine.
		if took > bound+wallclock.SchedulingSlack {
			t.Errorf("%s DOWN after %v, more than %v + scheduling slack %v", b, took, bound, wallclock.SchedulingSlack)
		}
		if !strings.Contains(e.Reason, "timeout") {
			t.Errorf("reason %q", e.Reason)
		}
	}
	mark = w.len()
	thawAt := time.Now()
	n.Thaw()
	thawed = true
	for _, b := range []string{"login", "handshake"} {
		e, _ := w.wait(t, b, backend.Up, mark, 10*time.Second)
		t.Logf("SIGCONT -> %s UP after %v: %s", b, e.Time.Sub(thawAt).Round(time.Millisecond), e.Reason)
		if !strings.Contains(e.Reason, "2 consecutive passes") {
			t.Errorf("reason %q", e.Reason)
		}
	}

	// Memory alarm: the login backend is DEGRADED (still served), not DOWN; handshake stays UP.
	mark = w.len()
	n.MustCtl(t, "set_vm_memory_high_watermark", "0.0001")
	reset := true
	defer func() {
		if reset {
			n.MustCtl(t, "set_vm_memory_high_watermark", "0.4")
		}
	}()
	e, _ = w.wait(t, "login", backend.Degraded, mark, 30*time.Second)
	t.Logf("memory alarm: %s DEGRADED: %s", e.Backend, e.Reason)
	if !strings.Contains(e.Reason, "low on memory") || !e.State.Serving() {
		t.Errorf("alarm event %+v", e)
	}
	e, _ = w.wait(t, "alarmdown", backend.Down, mark, 30*time.Second)
	t.Logf("memory alarm with on_alarm down: %s DOWN: %s", e.Backend, e.Reason)
	if !strings.Contains(e.Reason, "resource alarm") || !strings.Contains(e.Reason, "on_alarm: down") {
		t.Errorf("alarm-down event %+v", e)
	}
	for _, ev := range w.since(mark) {
		if ev.State == backend.Down && (ev.Backend == bid("login") || ev.Backend == bid("handshake")) {
			t.Errorf("DOWN under alarm: %+v", ev)
		}
	}
	if st := status(s, "handshake"); st.State != backend.Up {
		t.Errorf("handshake under alarm: %+v", st)
	}
	mark = w.len()
	n.MustCtl(t, "set_vm_memory_high_watermark", "0.4")
	reset = false
	e, _ = w.wait(t, "login", backend.Up, mark, 30*time.Second)
	t.Logf("alarm cleared: %s", e.Reason)
	w.wait(t, "alarmdown", backend.Up, mark, 30*time.Second)
}

// bid names backend name of a listener "l".
func bid(name string) backend.ID { return backend.ID{Listener: "l", Name: name} }

func status(s *healthcheck.Scheduler, name string) healthcheck.BackendStatus {
	for _, b := range s.Snapshot().Backends {
		if b.Backend == bid(name) {
			return b
		}
	}
	return healthcheck.BackendStatus{}
}

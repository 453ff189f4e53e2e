package amqpload

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/internal/rabbittest"
)

func TestPeakPerWindow(t *testing.T) {
	ms := func(vs ...int) []time.Duration {
		var ds []time.Duration
		for _, v := range vs {
			ds = append(ds, time.Duration(v)*time.Millisecond)
		}
		return ds
	}
	for _, tc := range []struct {
		at   []time.Duration
		w    time.Duration
		want int
	}{
		{nil, time.Second, 0},
		{ms(5), time.Second, 1},
		{ms(0, 0, 0, 0), time.Second, 4},
		// Evenly one every 100 ms: ten fall in any second, not eleven
		// (an interval of 1 s holds 0 and 900 ms, not 1000 ms).
		{ms(0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1100), time.Second, 10},
		// The burst is at the end.
		{ms(0, 2000, 2500, 2501, 2502, 2990), time.Second, 5},
		{ms(0, 2000, 2500, 2501, 2502, 2990), 10 * time.Millisecond, 3},
	} {
		if got := PeakPerWindow(tc.at, tc.w); got != tc.want {
			t.Errorf("PeakPerWindow(%v, %v) = %d, want %d", tc.at, tc.w, got, tc.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	r := ReconnectResult{Clients: 4, Times: []time.Duration{30 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond}}
	// Four closed (not in order), three back; one never got in again.
	r.summarize([]time.Time{at(500), at(100), at(900), at(300)}, []time.Time{at(930), at(110), at(320)})
	if r.Closed != 4 || r.Back != 3 {
		t.Fatalf("closed %d, back %d, want 4 and 3", r.Closed, r.Back)
	}
	if !r.FirstClose.Equal(at(100)) || r.CloseSpan != 800*time.Millisecond || r.AllBack != 830*time.Millisecond {
		t.Fatalf("close span %v, all back %v, want 800ms and 830ms", r.CloseSpan, r.AllBack)
	}
	want := []time.Duration{10 * time.Millisecond, 220 * time.Millisecond, 830 * time.Millisecond}
	for i, w := range want {
		if r.BackAt[i] != w {
			t.Fatalf("back at %v, want %v", r.BackAt, want)
		}
	}
	if r.Times[0] != 10*time.Millisecond || r.Times[2] != 30*time.Millisecond {
		t.Fatalf("times %v not sorted", r.Times)
	}
	var none ReconnectResult
	none.summarize(nil, nil)
	if none.Closed != 0 || !none.FirstClose.IsZero() || none.CloseSpan != 0 || none.AllBack != 0 {
		t.Fatalf("nothing closed: %+v", none)
	}
}

// forwarder is a TCP forwarder to a broker that can be shut, closing every
// connection it carries and refusing new ones, and opened again on the
// same port.
type forwarder struct {
	addr, to string
	mu       sync.Mutex
	l        net.Listener
	conns    []net.Conn
}

func (f *forwarder) open() error {
	l, err := net.Listen("tcp", f.addr)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.l, f.addr = l, l.Addr().String()
	f.mu.Unlock()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", f.to)
			if err != nil {
				c.Close()
				continue
			}
			f.mu.Lock()
			f.conns = append(f.conns, c, b)
			f.mu.Unlock()
			go func() { _, _ = io.Copy(b, c); b.Close() }()
			go func() { _, _ = io.Copy(c, b); c.Close() }()
		}
	}()
	return nil
}

func (f *forwarder) shut() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.l.Close()
	for _, c := range f.conns {
		c.Close()
	}
	f.conns = nil
}

// TestReconnect: clients of a real RabbitMQ node, first closed by the
// broker (rabbitmqctl close_all_connections), then cut by the path to it
// going away for a while: each time every client is closed and connects
// again, and the attempts that found nothing listening are counted.
func TestReconnect(t *testing.T) {
	n := rabbittest.StartT(t, rabbittest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	target := Target{URL: n.URL(), Timeout: 5 * time.Second}

	r, err := Reconnect(ctx, target, ReconnectConfig{Clients: 20, Parallel: 5, Wait: 30 * time.Second, Ready: func() {
		if _, err := n.Ctl(ctx, "close_all_connections", "amqp-bench test"); err != nil {
			t.Errorf("close_all_connections: %v", err)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Clients != 20 || r.Closed != 20 || r.Back != 20 || len(r.Times) != 20 || len(r.BackAt) != 20 || r.FailedAttempts != 0 {
		t.Fatalf("closed by the broker: %+v", r)
	}
	if r.AllBack != r.BackAt[19] || r.AllBack < r.CloseSpan {
		t.Fatalf("all back after %v (back at %v), closes over %v", r.AllBack, r.BackAt, r.CloseSpan)
	}
	t.Logf("closed by the broker over %v, all back after %v, p50 %v", r.CloseSpan, r.AllBack, Percentile(r.Times, 50))

	f := &forwarder{addr: "127.0.0.1:0", to: n.Addr.String()}
	if err := f.open(); err != nil {
		t.Fatal(err)
	}
	defer f.shut()
	target.URL = "amqp://guest:guest@" + f.addr + "/"
	const away = 500 * time.Millisecond
	r, err = Reconnect(ctx, target, ReconnectConfig{Clients: 10, Retry: 100 * time.Millisecond, Wait: 30 * time.Second, Ready: func() {
		f.shut()
		time.AfterFunc(away, func() {
			if err := f.open(); err != nil {
				t.Errorf("listening again: %v", err)
			}
		})
	}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Closed != 10 || r.Back != 10 || r.FailedAttempts == 0 {
		t.Fatalf("path away for %v: %+v", away, r)
	}
	for msg := range r.Errors {
		if !strings.Contains(msg, "connection refused") {
			t.Errorf("error %q, want connection refused", msg)
		}
	}
	if r.Times[0] < away/2 {
		t.Errorf("a client got in again %v after its close, with nothing listening for %v", r.Times[0], away)
	}
	t.Logf("path away for %v: %d attempts failed, back %v to %v after their close", away, r.FailedAttempts, r.Times[0], r.Times[9])

	// Clients that cannot connect at the start are an error, not a
	// measurement.
	f.shut()
	if _, err := Reconnect(ctx, target, ReconnectConfig{Clients: 3, Wait: time.Second}); err == nil || !strings.Contains(err.Error(), "opening client") {
		t.Fatalf("nothing listening at the start: %v", err)
	}
}

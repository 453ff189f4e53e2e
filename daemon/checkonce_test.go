package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/internal/freeport"
)

// TestRunChecksOnce: every backend with a check is checked once, at the same time, within its
// check's timeout, the results in the file's order; a backend without a check is left out, and
// a checker that cannot be set up is a failed result.
func TestRunChecksOnce(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	open, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	go func() { // accept and close, as a broker's kernel would for the TCP check
		for {
			c, err := open.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts (the kernel) but never answers
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	closed := freeport.Addr(t, "127.0.0.1")
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" || r.Header.Get("User-Agent") != "rmqlb health check" {
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer web.Close()
	text := fmt.Sprintf(`listeners:
  - name: amqp
    bind: %s
    check: {type: tcp, interval: 1s, timeout: 300ms}
    backends:
      - {name: up, address: %s}
      - {name: refused, address: %s}
      - {name: frozen, address: %s, check: {type: amqp, mode: login, user: u, password: p, interval: 1s, timeout: 300ms}}
      - {name: unchecked, address: %s, check: {type: none}}
      - {name: web, address: %s, check: {type: http, path: /health, interval: 1s, timeout: 300ms}}
`, freeport.Addr(t, "127.0.0.1"), open.Addr(), closed, silent.Addr(), open.Addr(), web.Listener.Addr())
	c, err := config.Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	got := RunChecksOnce(context.Background(), c, NewChecker)
	took := time.Since(t0)
	var names []string
	for _, r := range got {
		names = append(names, fmt.Sprintf("%s %s", r.Backend, r.Kind))
	}
	if want := "amqp/up tcp,amqp/refused tcp,amqp/frozen amqp login,amqp/web http GET /health"; strings.Join(names, ",") != want {
		t.Fatalf("results %q, want %q", strings.Join(names, ","), want)
	}
	if r := got[0]; !r.Result.Passed() || r.Address.String() != open.Addr().String() {
		t.Errorf("up: %+v", r)
	}
	if r := got[1]; r.Result.Passed() || !strings.Contains(r.Result.Err.Error(), "refused") {
		t.Errorf("refused: %+v", r)
	}
	var to interface{ Timeout() bool }
	if r := got[2]; r.Result.Passed() || !errors.As(r.Result.Err, &to) || !to.Timeout() || r.Took < 250*time.Millisecond {
		t.Errorf("frozen: %+v, want a timeout after the check's 300ms", r)
	}
	if r := got[3]; !r.Result.Passed() || r.Result.Info != "HTTP 200 OK" {
		t.Errorf("web: %+v, want a pass", r)
	}
	t.Logf("took %v", took)

	// A checker that cannot be made is a failed result of its backend.
	broken := errors.New("no checker here")
	got = RunChecksOnce(context.Background(), c, func(*config.Backend) (healthcheck.Checker, error) { return nil, broken })
	for _, r := range got {
		if !errors.Is(r.Result.Err, broken) {
			t.Errorf("%s: %+v, want the checker's error", r.Backend, r)
		}
	}

	// Checkers that keep something are closed.
	cc := &closeCounter{}
	RunChecksOnce(context.Background(), c, func(*config.Backend) (healthcheck.Checker, error) { return cc, nil })
	if n := cc.closes.Load(); n != 4 {
		t.Errorf("%d checkers closed, want 4", n)
	}
}

// closeCounter is a checker that passes and counts its Close calls.
type closeCounter struct{ closes atomic.Int32 }

func (c *closeCounter) Check(context.Context) healthcheck.Result { return healthcheck.Result{} }

func (c *closeCounter) Close() error {
	c.closes.Add(1)
	return nil
}

var _ io.Closer = (*closeCounter)(nil)

// scripted is a checker that returns its result.
type scripted healthcheck.Result

func (s scripted) Check(context.Context) healthcheck.Result { return healthcheck.Result(s) }

// TestRunChecksOnceRefusedAlone: a check refused on one backend names the
// backends of its listener where the same login was let in; not those
// of another login, of another listener, or that were refused or failed
// too.
func TestRunChecksOnceRefusedAlone(t *testing.T) {
	text := fmt.Sprintf(`listeners:
  - name: amqp
    bind: %s
    check: {mode: login, user: u, password: p}
    backends:
      - {name: rmq1, address: 127.0.0.1:1}
      - {name: rmq2, address: 127.0.0.1:2}
      - {name: rmq3, address: 127.0.0.1:3}
      - {name: other, address: 127.0.0.1:4, check: {mode: login, user: v, password: p}}
      - {name: failed, address: 127.0.0.1:5}
      - {name: refusedtoo, address: 127.0.0.1:6}
  - name: amqp2
    bind: %s
    check: {mode: login, user: u, password: p}
    backends:
      - {name: rmq1, address: 127.0.0.1:7}
`, freeport.Addr(t, "127.0.0.1"), freeport.Addr(t, "127.0.0.1"))
	c, err := config.Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	refused := healthcheck.Result{Warning: "login refused: 403 ACCESS_REFUSED", Refused: true}
	results := map[string]healthcheck.Result{
		"amqp/rmq1": {Info: "RabbitMQ"}, "amqp/rmq2": refused, "amqp/rmq3": {Info: "RabbitMQ"}, "amqp/other": {Info: "RabbitMQ"},
		"amqp/failed": {Err: errors.New("timeout")}, "amqp/refusedtoo": refused, "amqp2/rmq1": {Info: "RabbitMQ"},
	}
	got := RunChecksOnce(context.Background(), c, func(b *config.Backend) (healthcheck.Checker, error) {
		return scripted(results[b.ID.String()]), nil
	})
	for _, r := range got {
		var want string
		if r.Result.Refused {
			want = "amqp/rmq1 amqp/rmq3"
		}
		if gotIDs := strings.Trim(fmt.Sprint(r.PassedElsewhere), "[]"); gotIDs != want {
			t.Errorf("%s: passed elsewhere %q, want %q", r.Backend, gotIDs, want)
		}
	}
}

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

package testserver

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/checkconn"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/internal/rabbittest"
)

// Check runs one check of a test within timeout.
type Check func(timeout time.Duration) healthcheck.Result

// Silent listens on a free port of 127.0.0.1 and never accepts: the
// kernel completes the handshakes alone, as a frozen node's does. The
// listener closes when t ends.
func Silent(t testing.TB) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return netip.MustParseAddrPort(ln.Addr().String())
}

// WantTimeout fails t unless r is a failure by timeout, one the scheduler
// takes for a timeout (checkconn.ErrTimeout, with a Timeout method), whose
// reason begins with prefix.
func WantTimeout(t testing.TB, r healthcheck.Result, prefix string) {
	t.Helper()
	var to interface{ Timeout() bool }
	if r.Passed() || r.Inconclusive || !errors.Is(r.Err, checkconn.ErrTimeout) || !errors.As(r.Err, &to) || !to.Timeout() ||
		!strings.HasPrefix(r.Err.Error(), prefix) {
		t.Fatalf("result %+v, want a timeout %q...", r, prefix)
	}
}

// WaitPass waits up to 30 s for check to pass, failing t after that: a
// plugin of a node listens a moment after the node booted.
func WaitPass(t testing.TB, what string, check Check) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for r := check(time.Second); !r.Passed(); r = check(time.Second) {
		if time.Now().After(deadline) {
			t.Fatalf("%s never answered: %v", what, r.Err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Frozen freezes n (SIGSTOP) and fails t unless check, of n's listener
// at addr, then fails by timeout within 1 s while a TCP connect to addr
// still passes (n's kernel completes it); then it thaws n and fails t
// unless check passes again within 10 s. n is thawed also when t fails.
// It returns the frozen node's result.
func Frozen(t testing.TB, n *rabbittest.Node, addr netip.AddrPort, check Check) healthcheck.Result {
	t.Helper()
	if err := n.Freeze(); err != nil {
		t.Fatal(err)
	}
	thawed := false
	defer func() {
		if !thawed {
			n.Thaw()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if r := (&healthcheck.TCPCheck{Addr: addr}).Check(ctx); !r.Passed() {
		t.Fatalf("TCP connect to the frozen node's %s: %v (its kernel should complete it)", addr, r.Err)
	}
	frozen := check(time.Second)
	if frozen.Passed() || !errors.Is(frozen.Err, checkconn.ErrTimeout) {
		t.Fatalf("frozen node: %+v, want a timeout", frozen)
	}
	t.Logf("frozen node: %v", frozen.Err)
	thawed = true
	if err := n.Thaw(); err != nil {
		t.Fatal(err)
	}
	if r := check(10 * time.Second); !r.Passed() {
		t.Fatalf("thawed node: %v", r.Err)
	}
	return frozen
}

// WantResult fails t unless r is what a test of a check wants: with err
// set, a failure (not inconclusive) whose reason begins with err; else a
// pass whose Info and Warning are info and warning, marked Refused when
// the warning names a refused login or client certificate (a part of it
// that begins "login refused: " or "client certificate refused: ").
func WantResult(t testing.TB, r healthcheck.Result, info, warning, err string) {
	t.Helper()
	if err != "" {
		if r.Passed() || r.Inconclusive || !strings.HasPrefix(r.Err.Error(), err) {
			t.Fatalf("result %+v, want a failure %q", r, err)
		}
		return
	}
	if !r.Passed() || r.Info != info || r.Warning != warning {
		t.Fatalf("result %+v, want a pass with info %q, warning %q", r, info, warning)
	}
	if want := namesRefusal(warning); r.Refused != want {
		t.Fatalf("result %+v: Refused %v, want %v for warning %q", r, r.Refused, want, warning)
	}
}

// namesRefusal reports whether a check's warning names a refused login or
// client certificate.
func namesRefusal(warning string) bool {
	for _, part := range strings.Split(warning, "; ") {
		if strings.HasPrefix(part, "login refused: ") || strings.HasPrefix(part, "client certificate refused: ") {
			return true
		}
	}
	return false
}

// Run makes a check of cfg with newCheck (a check package's New) and
// runs it once within timeout; t fails when newCheck does.
func Run[C any, K healthcheck.Checker](t testing.TB, newCheck func(C) (K, error), cfg C, timeout time.Duration) healthcheck.Result {
	t.Helper()
	c, err := newCheck(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.Check(ctx)
}

// WantPass fails t unless r is a pass whose Info begins with info and
// whose Warning begins with warning, and is empty when warning is, marked
// Refused as WantResult wants it: what a test against a real node, whose
// versions and names vary, can want.
func WantPass(t testing.TB, r healthcheck.Result, info, warning string) {
	t.Helper()
	if !r.Passed() || !strings.HasPrefix(r.Info, info) || !strings.HasPrefix(r.Warning, warning) || (warning == "") != (r.Warning == "") {
		t.Fatalf("result %+v, want a pass with info %q..., warning %q...", r, info, warning)
	}
	if want := namesRefusal(warning); r.Refused != want {
		t.Fatalf("result %+v: Refused %v, want %v for warning %q...", r, r.Refused, want, warning)
	}
}

// NoBrokerWarnings runs checks and fails t when n's log gains a warning
// or an error line meanwhile: a health check that costs the broker a
// warning per check fills its log for nothing.
func NoBrokerWarnings(t testing.TB, n *rabbittest.Node, checks func()) {
	t.Helper()
	// The broker writes its log a moment after what it logs: lines of
	// what came before must be in before.
	time.Sleep(time.Second)
	before, err := os.ReadFile(n.LogFile())
	if err != nil {
		t.Fatal(err)
	}
	checks()
	time.Sleep(time.Second)
	after, err := os.ReadFile(n.LogFile())
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(after[min(len(before), len(after)):]), "\n") {
		if strings.Contains(line, "[warning]") || strings.Contains(line, "[error]") {
			t.Errorf("the broker logged: %s", line)
		}
	}
}

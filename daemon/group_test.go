package daemon

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
)

// TestGroupManyFailures: any number of failing parts is recorded and
// stops nothing but through onFail: no fixed buffer to fill and deadlock.
func TestGroupManyFailures(t *testing.T) {
	var fails atomic.Int32
	g := &group{onFail: func() { fails.Add(1) }}
	const n = 200
	for i := range n {
		g.start(context.Background(), fmt.Sprintf("part %d", i), true, func(context.Context) error {
			return errors.New("broken")
		})
	}
	// A part that is not critical keeps its error to itself.
	p := g.start(context.Background(), "reloaded", false, func(context.Context) error { return errors.New("bind") })
	// A part stopped by its context is not a failure.
	q := g.start(context.Background(), "stopped", true, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	q.stop()
	g.wait()
	err := g.err()
	if got := strings.Count(err.Error(), "broken"); got != n || fails.Load() != n {
		t.Fatalf("%d errors recorded, onFail called %d times, want %d", got, fails.Load(), n)
	}
	if strings.Contains(err.Error(), "reloaded") || strings.Contains(err.Error(), "stopped") {
		t.Fatalf("errors: %v", err)
	}
	if p.err == nil || !strings.Contains(p.err.Error(), "reloaded: bind") || q.err != nil {
		t.Fatalf("part errors: %v, %v", p.err, q.err)
	}
}

// A part started as not critical keeps its failure to itself until it is
// made critical; made critical, its failure stops the daemon, also one
// that came before.
func TestPartMakeCritical(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name          string
		failFirst     bool
		makeCritical  bool
		wantFailCalls int
	}{
		{"not critical, failed", true, false, 0},
		{"failed, then made critical", true, true, 1},
		{"made critical, then failed", false, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fails := 0
			g := &group{onFail: func() { fails++ }}
			release := make(chan struct{})
			p := g.start(context.Background(), "x", false, func(context.Context) error {
				<-release
				return boom
			})
			if tc.failFirst {
				close(release)
				<-p.done
			}
			if tc.makeCritical {
				p.makeCritical()
			}
			if !tc.failFirst {
				close(release)
				<-p.done
			}
			g.wait()
			if fails != tc.wantFailCalls {
				t.Fatalf("onFail called %d times, want %d", fails, tc.wantFailCalls)
			}
			if err := g.err(); (err != nil) != (tc.wantFailCalls > 0) || err != nil && !errors.Is(err, boom) {
				t.Fatalf("group err %v", err)
			}
		})
	}
}

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rmqlb/rmqlb/internal/rabbittest"
)

// TestStoppedAppRepaired runs a real RabbitMQ node: with its application
// running the soak finds nothing to repair; with it stopped (as
// pause_minority leaves a node) it is found by asking RabbitMQ, the tail
// of its log goes to the events, and start_app runs it again.
func TestStoppedAppRepaired(t *testing.T) {
	n := rabbittest.StartT(t, rabbittest.Options{})
	var events bytes.Buffer
	l := &lab{
		cluster: &rabbitCluster{nodes: map[string]*rabbittest.Node{"rmq1": n}, order: []string{"rmq1"}},
		tl:      newTimeline(&events),
	}
	ctx := context.Background()
	if got := l.cluster.stoppedApps(ctx); len(got) != 0 {
		t.Fatalf("stoppedApps with the application running = %v, want none", got)
	}
	if _, err := n.Ctl(ctx, "stop_app"); err != nil {
		t.Fatal(err)
	}
	got := l.cluster.stoppedApps(ctx)
	if len(got) != 1 || got["rmq1"] != "application not running" {
		t.Fatalf("stoppedApps after stop_app = %v, want rmq1: application not running", got)
	}
	if d := byHost(got, ": "); d != "rmq1: application not running" {
		t.Errorf("byHost = %q", d)
	}
	// The log's last line before the repair must reach the events.
	log, err := os.ReadFile(n.LogFile())
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(log)), "\n")
	last := lines[len(lines)-1]
	l.restartStopped(ctx, got)
	if ok, err := l.cluster.appRunning(ctx, "rmq1"); !ok || err != nil {
		t.Fatalf("after restartStopped: application running %v (%v), events:\n%s", ok, err, events.String())
	}
	for _, want := range []string{
		"rmq1: RabbitMQ application not running after the repair",
		n.LogFile(),
		last,
		"rmq1: start_app started RabbitMQ's application",
	} {
		if !strings.Contains(events.String(), want) {
			t.Errorf("events lack %q:\n%s", want, events.String())
		}
	}
}

// TestLastLines: the last n lines of a file, all of a shorter one, and
// the error of one that cannot be read.
func TestLastLines(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(p, []byte("a\nb\nc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		n    int
		want string
	}{{2, "b\nc"}, {3, "a\nb\nc"}, {10, "a\nb\nc"}} {
		if got := lastLines(p, c.n); got != c.want {
			t.Errorf("lastLines(%d) = %q, want %q", c.n, got, c.want)
		}
	}
	if got := lastLines(filepath.Join(t.TempDir(), "none"), 2); !strings.HasPrefix(got, "(") || !strings.Contains(got, "no such file") {
		t.Errorf("lastLines of a missing file = %q", got)
	}
}

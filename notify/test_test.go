package notify

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestTestRun: an operator's test run goes through the queue behind the
// state changes, with their environment and output, returns its outcome
// and output, and counts nowhere.
func TestTestRun(t *testing.T) {
	dir := t.TempDir()
	order := filepath.Join(dir, "order")
	gate := fifo(t, dir, "gate")
	slow := script(t, dir, "slow", `read line < "$2"
echo "$RMQLB_STATE" >> "$1"
`)
	say := script(t, dir, "say", `echo "$RMQLB_STATE $RMQLB_PREV_STATE $RMQLB_REASON" >> "$1"
echo "to stdout: $RMQLB_PRIORITY"
echo "to stderr" >&2
exit "$2"
`)
	reg := prometheus.NewRegistry()
	r, err := NewRunner("v", Config{Backup: []string{slow, order, gate}, Master: []string{say, order, "0"}, Fault: []string{say, order, "4"}},
		Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	stop := startRunner(t, r)
	r.Notify(event(Backup, "INIT")) // blocked on the gate
	got := make(chan TestRun, 1)
	go func() {
		ev := event(Master, "BACKUP")
		ev.Reason, ev.Priority = "operator test", 77
		res, err := r.Test(context.Background(), ev)
		if err != nil {
			t.Error(err)
		}
		got <- res
	}()
	waitUntil(t, "the test queued behind the backup hook", func() bool { return r.Snapshot().Queued == 1 })
	writeFIFO(t, gate, "go\n")
	res := <-got
	if !res.OK() || res.State != "MASTER" || !slices.Equal(res.Argv, []string{say, order, "0"}) ||
		!slices.Contains(res.Output, "stdout: to stdout: 77") || !slices.Contains(res.Output, "stderr: to stderr") {
		t.Fatalf("test run %+v", res)
	}
	b, err := os.ReadFile(order)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Split(strings.TrimSpace(string(b)), "\n"), []string{"BACKUP", "MASTER BACKUP operator test"}; !slices.Equal(got, want) {
		t.Fatalf("runs in order %q, want %q", got, want)
	}

	res, err = r.Test(context.Background(), event(Fault, "BACKUP"))
	if err != nil || res.OK() || res.Result != ResultFailed || !strings.Contains(res.Error, "exit status 4") {
		t.Fatalf("failing test run %+v, %v", res, err)
	}
	if _, err := r.Test(context.Background(), event(Stop, "BACKUP")); !errors.Is(err, ErrNoHook) {
		t.Fatalf("test of a state without a hook: %v, want ErrNoHook", err)
	}
	// Only the backup hook's run counts.
	if s := r.Snapshot(); s.Runs != 1 || s.Failures != 0 || s.Last.State != "BACKUP" {
		t.Fatalf("snapshot %+v (last %+v)", s, s.Last)
	}
	if n := runs(t, reg, "fault", "failed") + runs(t, reg, "master", "ok"); n != 0 {
		t.Fatalf("test runs counted in the metrics: %v", n)
	}
	stop()
	if _, err := r.Test(context.Background(), event(Master, "BACKUP")); err == nil || !strings.Contains(err.Error(), "stopped") {
		t.Fatalf("test after Run returned: %v", err)
	}
}

// TestTestRunGivesWay: a test run waiting last in a full queue gives its
// place to a state change, whose hook must run, and says so.
func TestTestRunGivesWay(t *testing.T) {
	dir := t.TempDir()
	gate := fifo(t, dir, "gate")
	slow := script(t, dir, "slow", `read line < "$1"`)
	r, err := NewRunner("v", Config{Backup: []string{slow, gate}, Master: []string{"/bin/true"}, Fault: []string{"/bin/true"}}, Options{QueueLen: 2})
	if err != nil {
		t.Fatal(err)
	}
	stop := startRunner(t, r)
	r.Notify(event(Backup, "INIT")) // running, blocked on the gate
	waitUntil(t, "the backup hook running", func() bool { return r.Snapshot().Running })
	r.Notify(event(Master, "BACKUP"))
	got := make(chan TestRun, 1)
	go func() {
		res, err := r.Test(context.Background(), event(Master, "BACKUP"))
		if err != nil {
			t.Error(err)
		}
		got <- res
	}()
	waitUntil(t, "the test queued", func() bool { return r.Snapshot().Queued == 2 })
	if _, err := r.Test(context.Background(), event(Master, "BACKUP")); err == nil || !strings.Contains(err.Error(), "2 state changes wait") {
		t.Fatalf("test into a full queue: %v", err)
	}
	r.Notify(event(Fault, "MASTER"))
	res := <-got
	if res.Result != ResultDropped || !strings.Contains(res.Error, "a state change took its place") {
		t.Fatalf("test run that gave way: %+v", res)
	}
	writeFIFO(t, gate, "go\n")
	stop()
	if s := r.Snapshot(); s.Runs != 3 || s.Dropped != 0 {
		t.Fatalf("snapshot %+v: want the three state changes run, none dropped", s)
	}
}

// waitUntil waits for another goroutine to make cond true, failing the
// test after 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

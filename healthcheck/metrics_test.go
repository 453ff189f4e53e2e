package healthcheck

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rmqlb/rmqlb/internal/clock"
	"github.com/rmqlb/rmqlb/internal/metricstest"
)

// newTestMetrics returns Metrics registered with a new pedantic registry,
// and the registry.
func newTestMetrics(t *testing.T) (*prometheus.Registry, *Metrics) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	return reg, m
}

// TestMetrics: the check metrics are labelled listener and backend (the
// balancer's scheme), a backend's series exist at 0 from Add, each result
// is counted under its name and timed, the checks taking it DOWN are
// counted, the lint is clean, and Remove
// takes the backend's series away.
func TestMetrics(t *testing.T) {
	reg, met := newTestMetrics(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := NewScheduler(Options{Clock: clk, Metrics: met, Jitter: func(time.Duration) time.Duration { return 0 }})
	chk := &scripted{calls: make(chan int, 10), results: []Result{
		{}, {Err: errFail}, {Alarm: "publishers blocked: memory"}, {Warning: "alarm probe failed"},
		{Full: true, Warning: FullWarning("530 NOT_ALLOWED - connection refused: node connection limit (100) is reached")},
	}}
	cfg := CheckConfig{Interval: time.Second, Rise: 1, Fall: 1}
	if err := s.Add(bid("a"), cfg, chk); err != nil {
		t.Fatal(err)
	}

	mfs := metricstest.Gather(t, reg)
	metricstest.RequireFamilies(t, mfs, map[string][]string{
		"rmqlb_healthcheck_checks_total":        {"backend", "listener", "result"},
		"rmqlb_healthcheck_duration_seconds":    {"backend", "listener"},
		"rmqlb_healthcheck_up_down_total":       {"backend", "listener"},
		"rmqlb_healthcheck_login_refused":       {"backend", "listener"},
		"rmqlb_healthcheck_login_refused_alone": {"backend", "listener"},
	})
	results := []string{"pass", "warn", "alarm", "full", "fail"}
	zero := func(b string) {
		t.Helper()
		mfs := metricstest.Gather(t, reg)
		for _, r := range results {
			if v := metricstest.Value(t, mfs, "rmqlb_healthcheck_checks_total", map[string]string{"listener": "l", "backend": b, "result": r}); v != 0 {
				t.Errorf("checks of %s %s before the first check: %v", b, r, v)
			}
		}
		if v := metricstest.Value(t, mfs, "rmqlb_healthcheck_duration_seconds", map[string]string{"listener": "l", "backend": b}); v != 0 {
			t.Errorf("timed checks of %s before the first check: %v", b, v)
		}
		if v := metricstest.Value(t, mfs, "rmqlb_healthcheck_up_down_total", map[string]string{"listener": "l", "backend": b}); v != 0 {
			t.Errorf("DOWNs of %s before the first check: %v", b, v)
		}
	}
	zero("a")

	// The first check runs at once (no jitter); the loop arms its timer
	// for the next one once it has observed the result.
	ctx, cancel := context.WithCancel(context.Background())
	stop := runScheduler(t, s, ctx, cancel)
	<-chk.calls
	for range 4 {
		next := nextWake(t, clk)
		clk.Advance(next.Sub(clk.Now()))
		<-chk.calls
	}
	nextWake(t, clk) // the 5th result observed
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(bid("b"), cfg, &scripted{}); err != nil {
		t.Fatal(err)
	}
	zero("b")
	mfs = metricstest.Gather(t, reg)
	for _, r := range results {
		if v := metricstest.Value(t, mfs, "rmqlb_healthcheck_checks_total", map[string]string{"backend": "a", "result": r}); v != 1 {
			t.Errorf("checks of a with result %s: %v, want 1", r, v)
		}
	}
	if v := metricstest.Value(t, mfs, "rmqlb_healthcheck_duration_seconds", map[string]string{"backend": "a"}); v != 5 {
		t.Errorf("timed checks of a: %v, want 5", v)
	}
	// UP, DOWN at the failure (fall 1), UP at the alarm, DEGRADED at the warning and at the
	// full broker.
	if v := metricstest.Value(t, mfs, "rmqlb_healthcheck_up_down_total", map[string]string{"backend": "a"}); v != 1 {
		t.Errorf("DOWNs of a: %v, want 1", v)
	}
	metricstest.RequireClean(t, reg)

	if err := s.Remove(bid("a")); err != nil {
		t.Fatal(err)
	}
	mfs = metricstest.Gather(t, reg)
	for name, mf := range mfs {
		if ms := metricstest.Find(mf, map[string]string{"backend": "a"}); len(ms) != 0 {
			t.Errorf("%s keeps %d series of the removed backend a", name, len(ms))
		}
		if ms := metricstest.Find(mf, map[string]string{"backend": "b"}); len(ms) == 0 {
			t.Errorf("%s lost the series of b", name)
		}
	}
}

// TestMetricsOnAlarm: a check that sees a resource alarm counts as result="alarm" (passed)
// under on_alarm degraded, and as "fail" under on_alarm down, where the alarm fails it.
func TestMetricsOnAlarm(t *testing.T) {
	for action, want := range map[AlarmAction]string{AlarmDegraded: "alarm", AlarmDown: "fail"} {
		reg, met := newTestMetrics(t)
		clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		s := NewScheduler(Options{Clock: clk, Metrics: met})
		if err := s.Add(bid("a"), CheckConfig{Interval: time.Second, OnAlarm: action}, CheckerFunc(nil)); err != nil {
			t.Fatal(err)
		}
		s.mu.Lock()
		e := s.backends[bid("a")]
		e.m.Begin(clk.Now())
		s.mu.Unlock()
		s.observe(result{e: e, r: Result{Alarm: "publishers blocked: memory"}})
		mfs := metricstest.Gather(t, reg)
		for _, r := range []string{"alarm", "fail"} {
			v := metricstest.Value(t, mfs, "rmqlb_healthcheck_checks_total", map[string]string{"backend": "a", "result": r})
			if w := map[bool]float64{true: 1}[r == want]; v != w {
				t.Errorf("on_alarm %v: checks with result %s: %v, want %v", action, r, v, w)
			}
		}
	}
}

// TestClusterInfoMetric: rmqlb_healthcheck_cluster_info has one series
// per backend whose last check passed and named its cluster, labelled
// with it: a new cluster replaces the old series, a failed check or one
// that does not tell removes it, a busy or inconclusive one keeps it, and
// a removed backend's goes.
func TestClusterInfoMetric(t *testing.T) {
	reg, m := newTestMetrics(t)
	a := bid("a")
	m.add(a)
	for _, step := range []struct {
		r       Result
		excused bool
		want    string // the cluster label of a's one series, "" for none
	}{
		{Result{Cluster: "rabbit@rmq1"}, false, "rabbit@rmq1"},
		{Result{Cluster: "rabbit@rmq1", Warning: "alarm probe failed"}, false, "rabbit@rmq1"},
		{Result{Cluster: "rabbit@rmq3"}, false, "rabbit@rmq3"},
		{Result{Err: errFail}, true, "rabbit@rmq3"},
		{Result{Err: errFail, Inconclusive: true}, false, "rabbit@rmq3"},
		{Result{Err: errFail}, false, ""},
		{Result{Cluster: "rabbit@rmq1"}, false, "rabbit@rmq1"},
		{Result{}, false, ""},
	} {
		m.observe(a, step.r, time.Millisecond, step.excused)
		ms := metricstest.Find(metricstest.Gather(t, reg)["rmqlb_healthcheck_cluster_info"], map[string]string{"backend": "a"})
		var got []string
		for _, x := range ms {
			for _, lp := range x.GetLabel() {
				if lp.GetName() == "cluster" && x.GetGauge().GetValue() == 1 {
					got = append(got, lp.GetValue())
				}
			}
		}
		if len(got) != len(ms) || strings.Join(got, ",") != step.want {
			t.Errorf("after %+v (excused %v): clusters %q of %d series, want %q", step.r, step.excused, got, len(ms), step.want)
		}
	}
	m.observe(a, Result{Cluster: "rabbit@rmq1"}, time.Millisecond, false)
	m.forget(a)
	if ms := metricstest.Find(metricstest.Gather(t, reg)["rmqlb_healthcheck_cluster_info"], nil); len(ms) != 0 {
		t.Errorf("%d series after the backend went", len(ms))
	}
	metricstest.RequireClean(t, reg)
}

// TestLoginRefusedMetric: rmqlb_healthcheck_login_refused is 1 after a
// pass with a refused login, 0 after a clean pass, a warning of another
// kind or a failure, kept by an inconclusive or busy check, and goes with
// the backend.
func TestLoginRefusedMetric(t *testing.T) {
	reg, m := newTestMetrics(t)
	a := bid("a")
	m.add(a)
	const name = "rmqlb_healthcheck_login_refused"
	labels := map[string]string{"listener": "l", "backend": "a"}
	if v := metricstest.Value(t, metricstest.Gather(t, reg), name, labels); v != 0 {
		t.Errorf("after add: %v, want 0", v)
	}
	refused := Result{Warning: "login refused: 403 ACCESS_REFUSED", Refused: true}
	for i, step := range []struct {
		r       Result
		excused bool
		want    float64
	}{
		{refused, false, 1},
		{Result{Err: errFail, Inconclusive: true}, false, 1},
		{Result{Err: errFail}, true, 1},
		{Result{}, false, 0},
		{refused, false, 1},
		{Result{Warning: "alarm probe failed"}, false, 0},
		{refused, false, 1},
		{Result{Err: errFail}, false, 0},
	} {
		m.observe(a, step.r, time.Millisecond, step.excused)
		if v := metricstest.Value(t, metricstest.Gather(t, reg), name, labels); v != step.want {
			t.Errorf("step %d (%+v, excused %v): %v, want %v", i, step.r, step.excused, v, step.want)
		}
	}
	m.forget(a)
	if ms := metricstest.Find(metricstest.Gather(t, reg)[name], nil); len(ms) != 0 {
		t.Errorf("%d series after the backend went", len(ms))
	}
	metricstest.RequireClean(t, reg)
}

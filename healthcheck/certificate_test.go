package healthcheck

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rmqlb/rmqlb/internal/clock"
	"github.com/rmqlb/rmqlb/internal/metricstest"
)

var (
	certA = Certificate{Role: CertBroker, Subject: "CN=rmq1", NotAfter: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}
	certB = Certificate{Role: CertBroker, Subject: "CN=rmq1", NotAfter: time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)}
	certC = Certificate{Role: CertClient, Subject: "CN=rmqlb-check", NotAfter: time.Date(2026, 12, 20, 0, 0, 0, 0, time.UTC)}
)

// TestMachineCertificates: the status has the certificates of the last
// passing check, kept while checks fail (busy or not) and replaced by the
// next pass, which without TLS has none.
func TestMachineCertificates(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := NewMachine(bid("rmq1"), CheckConfig{Interval: time.Second, Rise: 1, Fall: 1, BusyGrace: time.Minute}, now, 0)
	for i, step := range []struct {
		r    Result
		want []Certificate
	}{
		{Result{Certificates: []Certificate{certA, certC}}, []Certificate{certA, certC}},
		{Result{Err: errFail, Busy: true}, []Certificate{certA, certC}},
		{Result{Err: errFail}, []Certificate{certA, certC}},
		{Result{Err: errFail, Inconclusive: true}, []Certificate{certA, certC}},
		{Result{Warning: "alarm probe failed", Certificates: []Certificate{certB}}, []Certificate{certB}},
		{Result{}, nil},
	} {
		now = m.Due()
		m.Begin(now)
		now = now.Add(10 * time.Millisecond)
		m.Observe(now, step.r, 10*time.Millisecond)
		if got := m.Status().Certificates; !slices.Equal(got, step.want) {
			t.Errorf("step %d (%+v): certificates %+v, want %+v", i, step.r, got, step.want)
		}
	}
}

// TestCertificateMetric: each role's certificate of the last passing
// check has its series, set to when it expires; a failed, busy or
// inconclusive check keeps them, a pass without one removes that role's,
// and a removed backend's go.
func TestCertificateMetric(t *testing.T) {
	reg, m := newTestMetrics(t)
	a := bid("a")
	m.add(a)
	const name = "rmqlb_healthcheck_tls_certificate_expiry_timestamp_seconds"
	for _, step := range []struct {
		r       Result
		excused bool
		want    map[string]time.Time // by the certificate label
	}{
		{Result{}, false, nil},
		{Result{Certificates: []Certificate{certA, certC}}, false, map[string]time.Time{"broker": certA.NotAfter, "client": certC.NotAfter}},
		{Result{Err: errFail}, false, map[string]time.Time{"broker": certA.NotAfter, "client": certC.NotAfter}},
		{Result{Err: errFail}, true, map[string]time.Time{"broker": certA.NotAfter, "client": certC.NotAfter}},
		{Result{Err: errFail, Inconclusive: true}, false, map[string]time.Time{"broker": certA.NotAfter, "client": certC.NotAfter}},
		{Result{Certificates: []Certificate{certB}}, false, map[string]time.Time{"broker": certB.NotAfter}},
		{Result{}, false, nil},
	} {
		m.observe(a, step.r, time.Millisecond, step.excused)
		ms := metricstest.Find(metricstest.Gather(t, reg)[name], map[string]string{"listener": "l", "backend": "a"})
		if len(ms) != len(step.want) {
			t.Errorf("after %+v: %d series, want %d", step.r, len(ms), len(step.want))
			continue
		}
		for role, at := range step.want {
			v := metricstest.Value(t, metricstest.Gather(t, reg), name, map[string]string{"listener": "l", "backend": "a", "certificate": role})
			if v != float64(at.Unix()) {
				t.Errorf("after %+v: %s %v, want %v", step.r, role, v, at.Unix())
			}
		}
	}
	m.observe(a, Result{Certificates: []Certificate{certA}}, time.Millisecond, false)
	m.forget(a)
	if ms := metricstest.Find(metricstest.Gather(t, reg)[name], nil); len(ms) != 0 {
		t.Errorf("%d series after the backend went", len(ms))
	}
	metricstest.RequireClean(t, reg)
}

// TestCertificatesToLog: a certificate of the last passing check that
// expires within CertificateWarning is to be logged at once, then once a
// day; one expiring later, or none, is not.
func TestCertificatesToLog(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	m := NewMachine(bid("rmq1"), CheckConfig{Interval: time.Second, Rise: 1, Fall: 1}, t0, 0)
	far := Certificate{Role: CertBroker, Subject: "CN=rmq1", NotAfter: t0.Add(60 * 24 * time.Hour)}
	near := Certificate{Role: CertClient, Subject: "CN=rmqlb-check", NotAfter: t0.Add(10 * 24 * time.Hour)}
	now := t0
	observe := func(certs ...Certificate) {
		now = m.Due()
		m.Begin(now)
		m.Observe(now, Result{Certificates: certs}, time.Millisecond)
	}
	observe(far)
	if got := m.certificatesToLog(now); got != nil {
		t.Errorf("a certificate of 60 days: %+v, want none", got)
	}
	observe(far, near)
	if got := m.certificatesToLog(now); !slices.Equal(got, []Certificate{near}) {
		t.Errorf("a certificate of 10 days: %+v, want it", got)
	}
	logged := now
	observe(far, near)
	if got := m.certificatesToLog(now); got != nil {
		t.Errorf("a second later: %+v, want none", got)
	}
	if got := m.certificatesToLog(logged.Add(23 * time.Hour)); got != nil {
		t.Errorf("23 hours later: %+v, want none", got)
	}
	if got := m.certificatesToLog(logged.Add(24 * time.Hour)); !slices.Equal(got, []Certificate{near}) {
		t.Errorf("a day later: %+v, want it again", got)
	}
	observe(far)
	if got := m.certificatesToLog(logged.Add(72 * time.Hour)); got != nil {
		t.Errorf("renewed: %+v, want none", got)
	}
}

// TestSchedulerLogsExpiringCertificate: the scheduler logs a warning of a
// check's certificate that expires within CertificateWarning, with the
// backend, whose certificate it is, its subject and expiry, and not
// again at the next check.
func TestSchedulerLogsExpiringCertificate(t *testing.T) {
	defer goleak.VerifyNone(t)
	clk := clock.NewFake(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	core, logs := observer.New(zap.InfoLevel)
	s := NewScheduler(Options{Clock: clk, Logger: zap.New(core), Jitter: func(time.Duration) time.Duration { return 0 }})
	near := Certificate{Role: CertBroker, Subject: "CN=rmq1", NotAfter: clk.Now().Add(5 * 24 * time.Hour)}
	chk := &scripted{calls: make(chan int, 10), results: []Result{{Certificates: []Certificate{near}}, {Certificates: []Certificate{near}}}}
	if err := s.Add(bid("rmq1"), CheckConfig{Interval: time.Second, Rise: 1, Fall: 1}, chk); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stop := runScheduler(t, s, ctx, cancel)
	<-chk.calls
	next := nextWake(t, clk)
	clk.Advance(next.Sub(clk.Now()))
	<-chk.calls
	nextWake(t, clk)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	warned := logs.FilterMessage("TLS certificate of the check expires soon").All()
	if len(warned) != 1 || warned[0].Level != zap.WarnLevel {
		t.Fatalf("logged %d warnings, want 1: %v", len(warned), logs.AllUntimed())
	}
	f := warned[0].ContextMap()
	if f["backend"] != "l/rmq1" || f["certificate"] != "broker" || f["subject"] != "CN=rmq1" || f["expires_in"] != 5*24*time.Hour {
		t.Errorf("log fields %v", f)
	}
}

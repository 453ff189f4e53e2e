package healthcheck

import (
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
	reg := prometheus.NewPedanticRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
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

package metricstest

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestQueryProblems: what a query uses and the scrape lacks is found; a
// query the scrape has everything for has no problem.
func TestQueryProblems(t *testing.T) {
	reg := prometheus.NewRegistry()
	state := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "rmqlb_x_state", Help: "x"}, []string{"listener", "state"})
	state.WithLabelValues("amqp", "UP").Set(1)
	state.WithLabelValues("amqp", "DOWN").Set(0)
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "rmqlb_x_seconds", Help: "x"}, []string{"listener"})
	latency.WithLabelValues("amqp").Observe(0.1)
	reg.MustRegister(state, latency)
	mfs := Gather(t, reg)
	for _, tc := range []struct {
		expr string
		want []string // one substring per problem, in order
	}{
		{`sum by (instance, listener) (rmqlb_x_state{instance=~"$instance",state=~"UP|DOWN"})`, nil},
		{`histogram_quantile(0.99, sum by (le, listener) (rate(rmqlb_x_seconds_bucket[5m])))`, nil},
		{`rmqlb_x_seconds_count + rmqlb_x_seconds_sum`, nil},
		{`rmqlb_y_total`, []string{"rmqlb_y_total is not in the daemon's scrape"}},
		{`up == 0`, []string{"no rmqlb metric"}},
		{`rmqlb_x_state{state=~"UP|DEGRADED"} == 1`, []string{`no series rmqlb_x_state{state="DEGRADED"}`}},
		{`rmqlb_x_state{backend="b"}`, []string{`no series rmqlb_x_state{backend="b"}`}},
		{`sum by (reason) (rmqlb_x_state)`, []string{"by reason, a label none of"}},
		{`sum by (le) (rmqlb_x_state)`, []string{"by le without a histogram's buckets"}},
		{`rmqlb_x_state_bucket`, []string{"rmqlb_x_state_bucket is not in the daemon's scrape"}},
	} {
		got := QueryProblems(Query{Name: "q", Where: "f: q", Expr: tc.expr}, mfs)
		if len(got) != len(tc.want) {
			t.Errorf("%s: problems %q, want %d", tc.expr, got, len(tc.want))
			continue
		}
		for i, w := range tc.want {
			if !strings.HasPrefix(got[i], "f: q: ") || !strings.Contains(got[i], w) {
				t.Errorf("%s: problem %q, want f: q: ...%s...", tc.expr, got[i], w)
			}
		}
	}
}

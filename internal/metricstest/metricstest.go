package metricstest

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Gather gathers g and returns its families by name; it fails the test if
// gathering fails.
func Gather(t testing.TB, g prometheus.Gatherer) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gathering metrics: %v", err)
	}
	out := make(map[string]*dto.MetricFamily, len(mfs))
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// LabelNames returns the sorted label names of the series of mf (the union
// over its series: they are the same for every series of a family that
// client_golang exports).
func LabelNames(mf *dto.MetricFamily) []string {
	var names []string
	for _, m := range mf.GetMetric() {
		for _, l := range m.GetLabel() {
			if !slices.Contains(names, l.GetName()) {
				names = append(names, l.GetName())
			}
		}
	}
	slices.Sort(names)
	return names
}

// Labels returns the labels of m as a map.
func Labels(m *dto.Metric) map[string]string {
	out := make(map[string]string, len(m.GetLabel()))
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// Find returns the series of mf whose labels include every pair of want.
func Find(mf *dto.MetricFamily, want map[string]string) []*dto.Metric {
	var out []*dto.Metric
	for _, m := range mf.GetMetric() {
		have := Labels(m)
		ok := true
		for k, v := range want {
			if have[k] != v {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, m)
		}
	}
	return out
}

// Value returns the value of the one series of family name in mfs whose
// labels include want: a counter's or gauge's value, a histogram's sample
// count. It fails the test when there is no such series or more than one.
func Value(t testing.TB, mfs map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	mf, ok := mfs[name]
	if !ok {
		t.Fatalf("no metric family %s", name)
	}
	ms := Find(mf, want)
	if len(ms) != 1 {
		t.Fatalf("%d series of %s with labels %v, want 1", len(ms), name, want)
	}
	m := ms[0]
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetHistogram() != nil:
		return float64(m.GetHistogram().GetSampleCount())
	}
	t.Fatalf("series of %s with labels %v has no counter, gauge or histogram value", name, want)
	return 0
}

// reservedLabels are label names a target must not use: Prometheus
// attaches instance and job to every series it scrapes, and renames a
// target's own (exported_instance).
var reservedLabels = []string{"instance", "job"}

// Lint returns the problems of the metrics of g: every one client_golang's
// promlint reports (help text, base units, _total on counters and only on
// them, unit abbreviations, type in the name), and these of rmqlb's:
//   - every family is named rmqlb_..., except the Go runtime's, the
//     process's and promhttp's (go_, process_, promhttp_), to which the
//     rules below do not apply;
//   - no label is named instance or job, nor exported_...;
//   - no name ends in _percent: shares are ratios 0..1 named _ratio;
//   - a family with a backend label has a listener label too, so that the
//     series of a backend join across families on (listener, backend);
//   - a gauge named _ratio stays within 0..1.
func Lint(g prometheus.Gatherer) ([]string, error) {
	problems, err := testutil.GatherAndLint(g)
	if err != nil {
		return nil, fmt.Errorf("linting metrics: %w", err)
	}
	var out []string
	for _, p := range problems {
		out = append(out, fmt.Sprintf("%s: %s", p.Metric, p.Text))
	}
	mfs, err := g.Gather()
	if err != nil {
		return nil, fmt.Errorf("gathering metrics: %w", err)
	}
	for _, mf := range mfs {
		name := mf.GetName()
		if !strings.HasPrefix(name, "rmqlb_") {
			if !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") && !strings.HasPrefix(name, "promhttp_") {
				out = append(out, name+": not in the rmqlb_ namespace")
			}
			continue
		}
		if strings.HasSuffix(name, "_percent") {
			out = append(out, name+": a share is a ratio 0..1 named _ratio, not _percent")
		}
		labels := LabelNames(mf)
		for _, l := range labels {
			if slices.Contains(reservedLabels, l) || strings.HasPrefix(l, "exported_") {
				out = append(out, fmt.Sprintf("%s: label %q is the scrape target's (Prometheus renames it exported_%s)", name, l, l))
			}
		}
		if slices.Contains(labels, "backend") && !slices.Contains(labels, "listener") {
			out = append(out, name+": has a backend label but no listener label")
		}
		if strings.HasSuffix(name, "_ratio") && mf.GetType() == dto.MetricType_GAUGE {
			for _, m := range mf.GetMetric() {
				if v := m.GetGauge().GetValue(); v < 0 || v > 1 {
					out = append(out, fmt.Sprintf("%s%v: ratio %v outside 0..1", name, Labels(m), v))
				}
			}
		}
	}
	return out, nil
}

// RequireClean fails the test with every problem Lint reports for g.
func RequireClean(t testing.TB, g prometheus.Gatherer) {
	t.Helper()
	problems, err := Lint(g)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("metrics lint: %s", p)
	}
}

// RequireFamilies fails the test unless mfs holds exactly the families of
// want (by name), each with the label names want gives (sorted).
func RequireFamilies(t testing.TB, mfs map[string]*dto.MetricFamily, want map[string][]string) {
	t.Helper()
	for name, labels := range want {
		mf, ok := mfs[name]
		if !ok {
			t.Errorf("no metric family %s", name)
			continue
		}
		if got := LabelNames(mf); !slices.Equal(got, labels) {
			t.Errorf("%s has labels %v, want %v", name, got, labels)
		}
	}
	for name := range mfs {
		if _, ok := want[name]; !ok {
			t.Errorf("metric family %s is not in the list of this test", name)
		}
	}
}

// ParseText parses a scrape in the text exposition format into its
// families by name.
func ParseText(r io.Reader) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parsing the scrape: %w", err)
	}
	return mfs, nil
}

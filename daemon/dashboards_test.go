package daemon

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	yaml "go.yaml.in/yaml/v3"
)

// The alerting rules, their unit tests and the Grafana dashboard, from
// this package's directory.
const (
	alertRules     = "../dist/prometheus/rmqlb-alerts.yml"
	alertRuleTests = "../dist/prometheus/rmqlb-alerts.test.yml"
	dashboardJSON  = "../dist/grafana/rmqlb.json"
)

// TestAlertRules: promtool accepts the rules and their unit tests pass
// (series in, alerts out), and the unit tests see every alert fire.
func TestAlertRules(t *testing.T) {
	for _, args := range [][]string{{"check", "rules", alertRules}, {"test", "rules", alertRuleTests}} {
		out, err := exec.Command("promtool", args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	b, err := os.ReadFile(alertRuleTests)
	if err != nil {
		t.Fatal(err)
	}
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				AlertName string      `yaml:"alertname"`
				ExpAlerts []yaml.Node `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		}
	}
	if err := yaml.Unmarshal(b, &tests); err != nil {
		t.Fatalf("%s: %v", alertRuleTests, err)
	}
	fired := map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fired[a.AlertName] = true
			}
		}
	}
	for _, q := range alertQueries(t) {
		if !fired[q.name] {
			t.Errorf("%s: no test of %s expects it to fire", alertRuleTests, q.name)
		}
	}
}

// query is a PromQL expression of the rules or the dashboard: name is
// the alert's or the panel's, where says which file and which of them.
type query struct {
	name, where, expr string
}

// alertQueries returns the alerting rules' expressions.
func alertQueries(t *testing.T) []query {
	t.Helper()
	b, err := os.ReadFile(alertRules)
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct{ Alert, Expr string }
		}
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatalf("%s: %v", alertRules, err)
	}
	var qs []query
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			qs = append(qs, query{r.Alert, alertRules + ": " + r.Alert, r.Expr})
		}
	}
	if len(qs) == 0 {
		t.Fatalf("%s: no alerting rule", alertRules)
	}
	return qs
}

// dashboardQueries returns the expressions of the alerting rules and of
// the dashboard's panels and variables.
func dashboardQueries(t *testing.T) []query {
	t.Helper()
	qs := alertQueries(t)
	b, err := os.ReadFile(dashboardJSON)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
		Templating struct {
			List []struct{ Name, Definition string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardJSON, err)
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			qs = append(qs, query{p.Title, dashboardJSON + ": panel " + p.Title, tg.Expr})
		}
	}
	for _, v := range dash.Templating.List {
		if v.Definition != "" {
			qs = append(qs, query{v.Name, dashboardJSON + ": variable " + v.Name, v.Definition})
		}
	}
	return qs
}

// Pieces of PromQL: a metric name, a selector's matchers, a matcher, a
// by clause.
var (
	metricRE   = regexp.MustCompile(`\brmqlb_[a-z_]+\b`)
	selectorRE = regexp.MustCompile(`(rmqlb_[a-z_]+)\{([^}]*)\}`)
	matcherRE  = regexp.MustCompile(`(\w+)\s*(=~|!=|!~|=)\s*"([^"]*)"`)
	byRE       = regexp.MustCompile(`\bby\s*\(([^)]*)\)`)
)

// family returns the scraped family of a series name (a histogram's
// _bucket, _sum and _count are its family's).
func family(mfs map[string]*dto.MetricFamily, name string) *dto.MetricFamily {
	if mf, ok := mfs[name]; ok {
		return mf
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if mf, ok := mfs[strings.TrimSuffix(name, suffix)]; ok && strings.HasSuffix(name, suffix) && mf.GetType() == dto.MetricType_HISTOGRAM {
			return mf
		}
	}
	return nil
}

// hasLabel reports whether a series of mf has the label, with the value
// if value is not "".
func hasLabel(mf *dto.MetricFamily, label, value string) bool {
	for _, m := range mf.GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == label && (value == "" || lp.GetValue() == value) {
				return true
			}
		}
	}
	return false
}

// TestDashboardMetrics: every metric the alerting rules and the Grafana
// dashboard use is in a real scrape of a running daemon (two VRRP
// instances, two listeners), and so is every label they select or group
// by, with every value they select (a state, a reason, a result).
func TestDashboardMetrics(t *testing.T) {
	l := newLab(t)
	maddr := freePort(t, "127.0.0.1")
	metricsHarness(t, l, maddr, freePort(t, "127.0.0.1"))
	mfs := scrapeText(t, maddr)
	qs := dashboardQueries(t)
	if len(qs) < 20 {
		t.Fatalf("only %d queries in the rules and the dashboard", len(qs))
	}
	for _, q := range qs {
		names := metricRE.FindAllString(q.expr, -1)
		if len(names) == 0 {
			t.Errorf("%s: no rmqlb metric in %q", q.where, q.expr)
		}
		var fams []*dto.MetricFamily
		for _, n := range names {
			mf := family(mfs, n)
			if mf == nil {
				t.Errorf("%s: %s is not in the daemon's scrape", q.where, n)
				continue
			}
			fams = append(fams, mf)
		}
		for _, s := range selectorRE.FindAllStringSubmatch(q.expr, -1) {
			mf := family(mfs, s[1])
			if mf == nil {
				continue
			}
			for _, m := range matcherRE.FindAllStringSubmatch(s[2], -1) {
				label, op, value := m[1], m[2], m[3]
				if label == "instance" {
					continue // the scrape target's, not the daemon's
				}
				values := []string{""}
				switch op {
				case "=":
					values = []string{value}
				case "=~":
					values = strings.Split(value, "|")
				}
				for _, v := range values {
					if !hasLabel(mf, label, v) {
						t.Errorf("%s: no series %s{%s=%q} in the scrape", q.where, s[1], label, v)
					}
				}
			}
		}
		for _, by := range byRE.FindAllStringSubmatch(q.expr, -1) {
			for _, label := range strings.Split(by[1], ",") {
				label = strings.TrimSpace(label)
				switch {
				case label == "instance":
				case label == "le":
					if !slices.ContainsFunc(names, func(n string) bool { return strings.HasSuffix(n, "_bucket") }) {
						t.Errorf("%s: by le without a histogram's buckets", q.where)
					}
				case !slices.ContainsFunc(fams, func(mf *dto.MetricFamily) bool { return hasLabel(mf, label, "") }):
					t.Errorf("%s: by %s, a label none of %q has", q.where, label, names)
				}
			}
		}
	}
}

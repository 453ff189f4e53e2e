package metricstest

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	yaml "go.yaml.in/yaml/v3"
)

// Query is a PromQL expression of the alerting rules or of the Grafana
// dashboard.
type Query struct {
	// Name is the alert's name, the panel's title or the variable's name.
	Name string
	// Where says which file and which rule, panel or variable.
	Where string
	Expr  string
}

// AlertQueries returns the expressions of the alerting rules file at
// path; it fails the test when the file cannot be read or has no rule.
func AlertQueries(t testing.TB, path string) []Query {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct{ Alert, Expr string }
		}
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var qs []Query
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			qs = append(qs, Query{r.Alert, path + ": " + r.Alert, r.Expr})
		}
	}
	if len(qs) == 0 {
		t.Fatalf("%s: no alerting rule", path)
	}
	return qs
}

// DashboardQueries returns the expressions of the alerting rules file
// and of the Grafana dashboard's panels and variables.
func DashboardQueries(t testing.TB, rules, dashboard string) []Query {
	t.Helper()
	qs := AlertQueries(t, rules)
	b, err := os.ReadFile(dashboard)
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
		t.Fatalf("%s: %v", dashboard, err)
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			qs = append(qs, Query{p.Title, dashboard + ": panel " + p.Title, tg.Expr})
		}
	}
	for _, v := range dash.Templating.List {
		if v.Definition != "" {
			qs = append(qs, Query{v.Name, dashboard + ": variable " + v.Name, v.Definition})
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

// QueryProblems returns what q uses that the scrape mfs lacks: an rmqlb
// metric (a query without one is a problem too), a label it selects on
// or groups by, a label value it selects (each alternative of a =~).
// The label instance, the scrape target's own, is not looked for.
func QueryProblems(q Query, mfs map[string]*dto.MetricFamily) []string {
	var problems []string
	report := func(format string, args ...any) {
		problems = append(problems, q.Where+": "+fmt.Sprintf(format, args...))
	}
	names := metricRE.FindAllString(q.Expr, -1)
	if len(names) == 0 {
		report("no rmqlb metric in %q", q.Expr)
	}
	var fams []*dto.MetricFamily
	for _, n := range names {
		mf := family(mfs, n)
		if mf == nil {
			report("%s is not in the daemon's scrape", n)
			continue
		}
		fams = append(fams, mf)
	}
	for _, s := range selectorRE.FindAllStringSubmatch(q.Expr, -1) {
		mf := family(mfs, s[1])
		if mf == nil {
			continue
		}
		for _, m := range matcherRE.FindAllStringSubmatch(s[2], -1) {
			label, op, value := m[1], m[2], m[3]
			if label == "instance" {
				continue
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
					report("no series %s{%s=%q} in the scrape", s[1], label, v)
				}
			}
		}
	}
	for _, by := range byRE.FindAllStringSubmatch(q.Expr, -1) {
		for _, label := range strings.Split(by[1], ",") {
			label = strings.TrimSpace(label)
			switch {
			case label == "instance":
			case label == "le":
				if !slices.ContainsFunc(names, func(n string) bool { return strings.HasSuffix(n, "_bucket") }) {
					report("by le without a histogram's buckets")
				}
			case !slices.ContainsFunc(fams, func(mf *dto.MetricFamily) bool { return hasLabel(mf, label, "") }):
				report("by %s, a label none of %q has", label, names)
			}
		}
	}
	return problems
}

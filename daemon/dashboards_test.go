package daemon

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/rmqlb/rmqlb/internal/freeport"
	"github.com/rmqlb/rmqlb/internal/metricstest"
	"github.com/rmqlb/rmqlb/vrrp/sendproc"
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
	for _, q := range metricstest.AlertQueries(t, alertRules) {
		if !fired[q.Name] {
			t.Errorf("%s: no test of %s expects it to fire", alertRuleTests, q.Name)
		}
	}
}

// TestDashboardMetrics: every metric the alerting rules and the Grafana
// dashboard use is in a real scrape of a running daemon (two VRRP
// instances, two listeners), and so is every label they select or group
// by, with every value they select (a state, a reason, a result). The
// integration test TestDashboardMetricsOfTheBinary scrapes the rmqlb
// program itself.
func TestDashboardMetrics(t *testing.T) {
	l := newLab(t)
	maddr := freeport.Addr(t, "127.0.0.1")
	h := metricsHarness(t, l, maddr, freeport.Addr(t, "127.0.0.1"))
	registerSenderMetrics(t, h)
	mfs := scrapeText(t, maddr)
	qs := metricstest.DashboardQueries(t, alertRules, dashboardJSON)
	if len(qs) < 20 {
		t.Fatalf("only %d queries in the rules and the dashboard", len(qs))
	}
	for _, q := range qs {
		for _, p := range metricstest.QueryProblems(q, mfs) {
			t.Error(p)
		}
	}
}

// registerSenderMetrics adds the family of the advert sender process
// (vrrp_sender: process) to h's registry, as the program has it: the
// harness's instances send their adverts themselves.
func registerSenderMetrics(t *testing.T, h *harness) {
	t.Helper()
	if _, err := sendproc.NewProcess(sendproc.ProcessConfig{Command: func() *exec.Cmd { return exec.Command("/bin/false") },
		Registerer: h.reg}); err != nil {
		t.Fatal(err)
	}
}

package daemon

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/internal/freeport"
	"github.com/rmqlb/rmqlb/internal/metricstest"
	"github.com/rmqlb/rmqlb/vrrp"
)

var updateREADME = flag.Bool("update-readme", false, "rewrite the metrics table of ../README.md from the registry")

// metricsFile is the lab's file with a metrics endpoint at metrics, a
// second VRRP instance w and a second listener mgmt on bind, whose one
// backend m has no check.
func (l *lab) metricsFile(metrics, bind string) string {
	f := l.file("control_socket: SOCKET", "control_socket: SOCKET\nmetrics_listen: "+metrics, "listeners:\n", `  - name: w
    interface: eth0
    virtual_router_id: 2
    version: 3
    advert_interval: 100ms
    priority: 100
    virtual_ipaddress: [192.0.2.101/32]
    notify: {master: [/bin/true]}
listeners:
`)
	return f + "  - name: mgmt\n    bind: " + bind + "\n    backends: [{name: m, address: " + l.c.addr() + ", check: {type: none}}]\n"
}

// metricsHarness starts a daemon on metricsFile with every check passing
// and both VRRP instances MASTER. The harness's fake VIP owners stand in
// for the netsetup.VIPSets, whose metrics the production wiring
// registers: each unit's are registered here by that same wiring
// (newVIPSet on the unit's registry), from VIPSets never acquired (a
// VIPSet does no I/O before Acquire).
func metricsHarness(t *testing.T, l *lab, metrics, bind string) *harness {
	t.Helper()
	h := newHarness(t, l.metricsFile(metrics, bind))
	h.d.mu.Lock()
	for _, u := range h.d.units {
		if _, err := h.d.newVIPSet(u.cfg, zap.NewNop(), u.reg); err != nil {
			h.d.mu.Unlock()
			t.Fatal(err)
		}
	}
	h.d.mu.Unlock()
	// Checks as an AMQP check over TLS, with a client certificate, of a
	// cluster's brokers passes them.
	pass := healthcheck.Result{Cluster: "rabbit@a", Certificates: []healthcheck.Certificate{
		{Role: healthcheck.CertBroker, Subject: "CN=rmq1", NotAfter: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		{Role: healthcheck.CertClient, Subject: "CN=rmqlb-check", NotAfter: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
	}}
	h.start()
	h.checks.get(idA).answer(t, pass)
	h.checks.get(idB).answer(t, pass)
	h.ready()
	h.checks.get(idA).always(pass)
	h.checks.get(idB).always(pass)
	h.eventually("both instances MASTER", func() bool {
		h.clk.Advance(20 * time.Millisecond)
		n := 0
		for _, in := range h.d.Status().VRRP {
			if in.State == vrrp.StateMaster {
				n++
			}
		}
		return n == 2
	})
	return h
}

// scrapeText gets /metrics at addr and parses the text exposition.
func scrapeText(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("content type %q", ct)
	}
	mfs, err := metricstest.ParseText(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// TestMetricsScrape: a running daemon's metrics, scraped over HTTP, parse
// as the text exposition format, pass the lint (promlint and rmqlb's
// rules: no instance label, no _percent, backend series joinable on
// listener and backend), hold the key families with their labels and
// values, count reloads, and lose the series of what a reload removes.
func TestMetricsScrape(t *testing.T) {
	l := newLab(t)
	maddr, mgmt := freeport.Addr(t, "127.0.0.1"), freeport.Addr(t, "127.0.0.1")
	h := metricsHarness(t, l, maddr, mgmt)
	c, err := net.Dial("tcp", l.bind)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := roundTrip(c, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	h.eventually("bytes counted", func() bool {
		mfs := metricstest.Gather(t, h.reg)
		sum := func(name string) (v float64) {
			for _, m := range metricstest.Find(mfs[name], map[string]string{"listener": "amqp"}) {
				v += m.GetCounter().GetValue()
			}
			return v
		}
		return sum("rmqlb_backend_sent_bytes_total") == 5 && sum("rmqlb_backend_received_bytes_total") == 5
	})

	scraped := scrapeText(t, maddr)
	metricstest.RequireClean(t, h.reg)
	gathered := metricstest.Gather(t, h.reg)
	for name := range gathered {
		if _, ok := scraped[name]; !ok {
			t.Errorf("%s gathered but not in the scrape", name)
		}
	}
	for name, want := range map[string]struct {
		typ    dto.MetricType
		labels []string
	}{
		"rmqlb_build_info":                                   {dto.MetricType_GAUGE, []string{"goversion", "revision", "version"}},
		"rmqlb_config_reloads_total":                         {dto.MetricType_COUNTER, []string{"result"}},
		"rmqlb_config_last_reload_successful":                {dto.MetricType_GAUGE, nil},
		"rmqlb_config_last_reload_success_timestamp_seconds": {dto.MetricType_GAUGE, nil},
		"rmqlb_config_file_changed":                          {dto.MetricType_GAUGE, nil},
		"rmqlb_state_file_failing":                           {dto.MetricType_GAUGE, nil},
		"rmqlb_config_warnings":                              {dto.MetricType_GAUGE, nil},
		"rmqlb_vrrp_state":                                   {dto.MetricType_GAUGE, []string{"state", "vrrp_instance"}},
		"rmqlb_vrrp_vip_present":                             {dto.MetricType_GAUGE, []string{"vip", "vrrp_instance"}},
		"rmqlb_vrrp_transitions_total":                       {dto.MetricType_COUNTER, []string{"vrrp_instance"}},
		"rmqlb_vrrp_role_changes_total":                      {dto.MetricType_COUNTER, []string{"vrrp_instance"}},
		"rmqlb_vrrp_owner_faults_total":                      {dto.MetricType_COUNTER, []string{"vrrp_instance"}},
		"rmqlb_vip_held":                                     {dto.MetricType_GAUGE, []string{"interface", "vips", "vrrp_instance"}},
		"rmqlb_vip_faults_total":                             {dto.MetricType_COUNTER, []string{"interface", "vips", "vrrp_instance"}},
		"rmqlb_backend_state":                                {dto.MetricType_GAUGE, []string{"backend", "listener", "state"}},
		"rmqlb_backend_up":                                   {dto.MetricType_GAUGE, []string{"backend", "listener"}},
		"rmqlb_backend_weight_ratio":                         {dto.MetricType_GAUGE, []string{"backend", "listener"}},
		"rmqlb_backend_backup":                               {dto.MetricType_GAUGE, []string{"backend", "listener"}},
		"rmqlb_backend_connect_failures_total":               {dto.MetricType_COUNTER, []string{"backend", "listener"}},
		"rmqlb_backend_sent_bytes_total":                     {dto.MetricType_COUNTER, []string{"backend", "listener"}},
		"rmqlb_backend_received_bytes_total":                 {dto.MetricType_COUNTER, []string{"backend", "listener"}},
		"rmqlb_listener_refused_connections_total":           {dto.MetricType_COUNTER, []string{"listener", "reason"}},
		"rmqlb_healthcheck_checks_total":                     {dto.MetricType_COUNTER, []string{"backend", "listener", "result"}},
		"rmqlb_healthcheck_duration_seconds":                 {dto.MetricType_HISTOGRAM, []string{"backend", "listener"}},
	} {
		mf, ok := scraped[name]
		if !ok {
			t.Errorf("no %s in the scrape", name)
			continue
		}
		if mf.GetType() != want.typ {
			t.Errorf("%s is a %v, want a %v", name, mf.GetType(), want.typ)
		}
		if got := metricstest.LabelNames(mf); !slices.Equal(got, want.labels) {
			t.Errorf("%s has labels %v, want %v", name, got, want.labels)
		}
	}
	start := float64(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Unix())
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"rmqlb_build_info", map[string]string{"version": "test", "goversion": runtime.Version()}, 1},
		{"rmqlb_config_reloads_total", map[string]string{"result": "success"}, 0},
		{"rmqlb_config_reloads_total", map[string]string{"result": "failure"}, 0},
		{"rmqlb_config_last_reload_successful", nil, 1},
		{"rmqlb_config_last_reload_success_timestamp_seconds", nil, start},
		{"rmqlb_config_file_changed", nil, 0},
		{"rmqlb_state_file_failing", nil, 0},
		{"rmqlb_vrrp_state", map[string]string{"vrrp_instance": "v", "state": "MASTER"}, 1},
		{"rmqlb_vrrp_state", map[string]string{"vrrp_instance": "v", "state": "BACKUP"}, 0},
		{"rmqlb_vrrp_state", map[string]string{"vrrp_instance": "w", "state": "MASTER"}, 1},
		{"rmqlb_vrrp_vip_present", map[string]string{"vrrp_instance": "v", "vip": "192.0.2.100"}, 1},
		{"rmqlb_vrrp_vip_present", map[string]string{"vrrp_instance": "w", "vip": "192.0.2.101"}, 1},
		{"rmqlb_vip_held", map[string]string{"vrrp_instance": "v", "interface": "eth0", "vips": "192.0.2.100/32"}, 0},
		{"rmqlb_backend_state", map[string]string{"listener": "amqp", "backend": "a", "state": "UP"}, 1},
		{"rmqlb_backend_state", map[string]string{"listener": "amqp", "backend": "a", "state": "DOWN"}, 0},
		{"rmqlb_backend_state", map[string]string{"listener": "mgmt", "backend": "m", "state": "UP"}, 1},
		{"rmqlb_backend_weight_ratio", map[string]string{"listener": "amqp", "backend": "a"}, 1},
		{"rmqlb_listener_connections_total", map[string]string{"listener": "amqp"}, 1},
	} {
		if v := metricstest.Value(t, scraped, c.name, c.labels); v != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
	if r := metricstest.Find(scraped["rmqlb_build_info"], nil); len(r) != 1 || metricstest.Labels(r[0])["revision"] == "" {
		t.Errorf("rmqlb_build_info: %v", r)
	}
	// The check series of a backend join its balancer series.
	for _, m := range scraped["rmqlb_healthcheck_checks_total"].GetMetric() {
		lb := metricstest.Labels(m)
		if len(metricstest.Find(scraped["rmqlb_backend_state"], map[string]string{"listener": lb["listener"], "backend": lb["backend"]})) == 0 {
			t.Errorf("no rmqlb_backend_state series to join the checks of %s/%s", lb["listener"], lb["backend"])
		}
	}

	reload := func(file string) control.Reload {
		t.Helper()
		h.write(file)
		return h.d.Reload()
	}
	// wantReloads checks the reload metrics: failures, successes, the
	// last one successful (0/1), the time of the last success and whether
	// the file is not the running configuration (0/1).
	wantReloads := func(when string, want ...float64) {
		t.Helper()
		mfs := metricstest.Gather(t, h.reg)
		got := []float64{
			metricstest.Value(t, mfs, "rmqlb_config_reloads_total", map[string]string{"result": "failure"}),
			metricstest.Value(t, mfs, "rmqlb_config_reloads_total", map[string]string{"result": "success"}),
			metricstest.Value(t, mfs, "rmqlb_config_last_reload_successful", nil),
			metricstest.Value(t, mfs, "rmqlb_config_last_reload_success_timestamp_seconds", nil),
			metricstest.Value(t, mfs, "rmqlb_config_file_changed", nil),
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: failures, successes, last successful, its time, file changed = %v, want %v", when, got, want)
		}
	}
	// A file refused: a failure; the last success is still the start.
	if r := reload("listeners: [{name: amqp, bind: nowhere}]\n"); r.OK() {
		t.Fatalf("bad file accepted: %+v", r)
	}
	wantReloads("after a refused file", 1, 0, 0, start, 1)
	// A reload that removes instance w, listener mgmt and backend b.
	h.clk.Advance(10 * time.Second)
	now := float64(h.clk.Now().UnixNano()) / 1e9
	smaller := l.file("control_socket: SOCKET", "control_socket: SOCKET\nmetrics_listen: "+maddr,
		"      - {name: b, address: "+l.b.addr()+", weight: 10}\n", "")
	if r := reload(smaller); !r.OK() {
		t.Fatalf("reload: %+v", r)
	}
	wantReloads("after a good reload", 1, 1, 1, now, 0)
	mfs := metricstest.Gather(t, h.reg)
	for name, mf := range mfs {
		for _, gone := range []map[string]string{{"vrrp_instance": "w"}, {"listener": "mgmt"}, {"listener": "amqp", "backend": "b"}} {
			if ms := metricstest.Find(mf, gone); len(ms) != 0 {
				t.Errorf("%s keeps %d series of %v, removed by the reload", name, len(ms), gone)
			}
		}
	}
	for name, kept := range map[string]map[string]string{
		"rmqlb_vrrp_state":               {"vrrp_instance": "v"},
		"rmqlb_vrrp_vip_present":         {"vrrp_instance": "v"},
		"rmqlb_vip_held":                 {"vrrp_instance": "v"},
		"rmqlb_backend_state":            {"listener": "amqp", "backend": "a"},
		"rmqlb_healthcheck_checks_total": {"listener": "amqp", "backend": "a"},
	} {
		if len(metricstest.Find(mfs[name], kept)) == 0 {
			t.Errorf("%s lost the series of %v, which stays", name, kept)
		}
	}
	metricstest.RequireClean(t, h.reg)
}

// TestRevision: the revision label follows prometheus/common's
// convention.
func TestRevision(t *testing.T) {
	for _, c := range []struct {
		info *debug.BuildInfo
		ok   bool
		want string
	}{
		{nil, false, "unknown"},
		{&debug.BuildInfo{}, true, "unknown"},
		{&debug.BuildInfo{Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "false"}}}, true, "abc123"},
		{&debug.BuildInfo{Settings: []debug.BuildSetting{{Key: "vcs.modified", Value: "true"}, {Key: "vcs.revision", Value: "abc123"}}}, true, "abc123-modified"},
	} {
		if got := revision(c.info, c.ok); got != c.want {
			t.Errorf("revision(%+v, %v) = %q, want %q", c.info, c.ok, got, c.want)
		}
	}
}

// Markers of the generated metrics table in README.md.
const (
	tableBegin = "<!-- metrics table: generated by TestREADMEMetricsTable (go test ./daemon -run TestREADMEMetricsTable -update-readme) -->\n"
	tableEnd   = "<!-- end of metrics table -->\n"
)

// TestREADMEMetricsTable: the metrics table of README.md is the one the
// registry of a running daemon (two VRRP instances, two listeners, checked
// and unchecked backends) gives: every family, its type, labels and help.
// With -update-readme it rewrites the table.
func TestREADMEMetricsTable(t *testing.T) {
	l := newLab(t)
	h := metricsHarness(t, l, freeport.Addr(t, "127.0.0.1"), freeport.Addr(t, "127.0.0.1"))
	registerSenderMetrics(t, h)
	table := metricsTable(metricstest.Gather(t, h.reg))
	const path = "../README.md"
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i, j := bytes.Index(readme, []byte(tableBegin)), bytes.Index(readme, []byte(tableEnd))
	if i < 0 || j < i {
		t.Fatalf("README.md has no metrics table between %q and %q", tableBegin, tableEnd)
	}
	have := string(readme[i+len(tableBegin) : j])
	if have == table {
		return
	}
	if *updateREADME {
		out := append(append(append([]byte(nil), readme[:i+len(tableBegin)]...), table...), readme[j:]...)
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote the metrics table of %s", path)
		return
	}
	t.Errorf("the metrics table of README.md differs from the registry; run go test ./daemon -run TestREADMEMetricsTable -update-readme\nwant:\n%s\nhave:\n%s", table, have)
}

// metricsTable renders the families of mfs (rmqlb's only, by name) as a
// Markdown table.
func metricsTable(mfs map[string]*dto.MetricFamily) string {
	var names []string
	for name := range mfs {
		if strings.HasPrefix(name, "rmqlb_") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteString("| metric | type | labels | meaning |\n| --- | --- | --- | --- |\n")
	for _, name := range names {
		mf := mfs[name]
		labels := []string{"–"}
		if names := metricstest.LabelNames(mf); len(names) > 0 {
			labels = nil
			for _, l := range names {
				labels = append(labels, "`"+l+"`")
			}
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", name, strings.ToLower(mf.GetType().String()),
			strings.Join(labels, " "), strings.ReplaceAll(mf.GetHelp(), "|", `\|`))
	}
	return b.String()
}

// TestDefaultRegistryLint: the registry a daemon makes for itself (its
// metrics with the Go runtime's and the process's) passes the lint.
func TestDefaultRegistryLint(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	d, err := New(h.d.cfg, Options{Path: h.path, Version: "test", NewChecker: h.checks.new, NewVRRP: h.vrrp.new})
	if err != nil {
		t.Fatal(err)
	}
	mfs := metricstest.Gather(t, d.reg)
	for _, name := range []string{"rmqlb_build_info", "rmqlb_backend_state", "rmqlb_vrrp_state", "go_goroutines", "process_open_fds"} {
		if _, ok := mfs[name]; !ok {
			t.Errorf("no %s in the daemon's own registry", name)
		}
	}
	metricstest.RequireClean(t, d.reg)
}

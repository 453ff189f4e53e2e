package main

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/bench/benchstat"
	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/internal/rabbittest"
)

var testAddrs = []netip.AddrPort{netip.MustParseAddrPort("10.77.0.1:5672"), netip.MustParseAddrPort("10.77.0.2:5672")}

func TestRmqlbConfigIsValid(t *testing.T) {
	c, err := config.Parse([]byte(rmqlbConfig(rmqlbSpec{Addrs: testAddrs, Weights: []int{10, 0}, Policy: "wrr", ConnectTimeout: 2 * time.Second, Socket: "/run/x.sock"})))
	if err != nil {
		t.Fatal(err)
	}
	l := c.Listeners[0]
	rt, err := config.Parse([]byte(rmqlbConfig(rmqlbSpec{Addrs: testAddrs, Weights: []int{1, 1}, Policy: "roundrobin", ConnectTimeout: 2 * time.Second,
		Global: "vrrp_rt_priority: 50", Socket: "/run/x.sock", GracefulTimeout: 10 * time.Second, CloseSpread: 8 * time.Second})))
	if err != nil {
		t.Fatal(err)
	}
	if got := rt.VRRPRealTimePriority; got != 50 {
		t.Fatalf("vrrp_rt_priority %d, want the global line's 50", got)
	}
	if got := rt.Listeners[0]; got.GracefulTimeout != 10*time.Second || got.CloseSpread != 8*time.Second {
		t.Fatalf("graceful_timeout %v, close_spread %v, want 10s and 8s", got.GracefulTimeout, got.CloseSpread)
	}
	atOnce, err := config.Parse([]byte(rmqlbConfig(rmqlbSpec{Addrs: testAddrs, Weights: []int{1, 1}, Policy: "roundrobin",
		Socket: "/run/x.sock", GracefulTimeout: 10 * time.Second})))
	if err != nil {
		t.Fatal(err)
	}
	if got := atOnce.Listeners[0]; got.GracefulTimeout != 10*time.Second || got.CloseSpread != 0 {
		t.Fatalf("graceful_timeout %v, close_spread %v, want 10s and 0 (all at once)", got.GracefulTimeout, got.CloseSpread)
	}
	if len(l.Backends) != 2 || l.Backends[0].Weight != 10 || l.Backends[1].Weight != 0 {
		t.Fatalf("backends %+v", l.Backends)
	}
	if l.ConnectTimeout != 2*time.Second || l.Bind != netip.AddrPortFrom(rmqlbVIP.Addr(), amqpPort) {
		t.Fatalf("listener %+v", l)
	}
	s := l.Backends[0].Check.Schedule
	if s.Interval != 300*time.Millisecond || s.Timeout != 500*time.Millisecond || s.Fall != 2 || s.Rise != 2 {
		t.Fatalf("check %+v, want the README's recommended 300ms/500ms/fall 2/rise 2", s)
	}
}

// TestHAProxyConfig checks the blog post's configuration with haproxy -c
// where HAProxy is installed.
func TestHAProxyConfig(t *testing.T) {
	cfg := haproxyConfig(testAddrs, []int{10, 0}, t.TempDir(), "hard-stop-after 10s", "close-spread-time 8s")
	for _, want := range []string{"listen rabbitmq_cluster\n    bind 0.0.0.0:5670", "balance roundrobin", "retries             3",
		"    stats socket ", "/haproxy.stats\n    hard-stop-after 10s\n    close-spread-time 8s\n\ndefaults\n",
		"option              redispatch", "timeout connect     5s",
		"server rabbitmq01 10.77.0.1:5672 check inter 2000 rise 2 fall 3 weight 10",
		"server rabbitmq02 10.77.0.2:5672 check inter 2000 rise 2 fall 3 weight 0"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
	if _, err := exec.LookPath("haproxy"); err != nil {
		t.Skip("haproxy not installed:", err)
	}
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("haproxy", "-c", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s\n%s", err, out, cfg)
	}
}

func TestRotate(t *testing.T) {
	l := []string{"a", "b", "c"}
	for n, want := range [][]string{{"a", "b", "c"}, {"b", "c", "a"}, {"c", "a", "b"}, {"a", "b", "c"}} {
		if got := rotate(l, n); !slices.Equal(got, want) {
			t.Errorf("rotate(%d) = %v, want %v", n, got, want)
		}
	}
}

// TestPrintTable checks the tables' cells: medians with their range, the
// medians of per-round ratios, the cost per message (a figure missing
// where it was not read), the blog post's ratios beside ours, the storm.
func TestPrintTable(t *testing.T) {
	b := &bench{
		o: options{rounds: 3, queues: []string{"classic", "mirrored"}, loads: []string{"write"},
			size: 1000, window: 16, prefetch: 100, fill: 10000, storm: 100, stormRounds: 2},
		loads: []string{"1.00 1.00 1.00"},
		figures: map[string][]float64{
			"classic/write/direct/rate":  {1000, 1200, 1100},
			"classic/write/rmqlb/rate":   {990, 1170, 1100},
			"classic/write/haproxy/rate": {900, 1000, 1000},
			"classic/write/direct/p50":   {2, 2, 2},
			"classic/write/rmqlb/p50":    {2.1, 2, 2},
			"mirrored/write/direct/rate": {300, 400, 350},
			"storm/rmqlb/all_in":         {1.5, 2.5},
			"storm/rmqlb/p50":            {0.5, 0.7},
			"storm/rmqlb/p99":            {1.4, 2.4},
			"storm/rmqlb/failed":         {0, 1},
			// Cost per message: a proxy's figures and none for direct;
			// the brokers' figure missing in one round.
			"classic/write/rmqlb/cost_proxy_us":        {10, 12, 11},
			"classic/write/rmqlb/cost_brokers_us":      {80, 90},
			"classic/write/rmqlb/cost_client_us":       {20, 21, 22},
			"classic/write/rmqlb/cost_machine_us":      {140, 150, 130},
			"classic/write/rmqlb/cost_busy_pct":        {60, 99.5, 70},
			"classic/write/rmqlb/cost_proxy_vol":       {0.5, 0.7, 0.6},
			"classic/write/rmqlb/cost_proxy_invol":     {0.1, 0.2, 0.3},
			"classic/write/rmqlb/cost_proxy_wait_us":   {1, 3, 2},
			"classic/write/rmqlb/cost_brokers_wait_us": {9, 7, 8, 10},
			"classic/write/direct/cost_client_wait_us": {4, 5, 6},
			"classic/write/direct/cost_client_us":      {19, 20, 21},
			"classic/write/direct/cost_machine_us":     {110, 120, 130},
		},
	}
	var out strings.Builder
	b.print(&out, time.Minute)
	cells := func(prefix string) []string {
		t.Helper()
		cs, ok := benchstat.RowCells(out.String(), prefix)
		if !ok {
			t.Fatalf("no table row %q in:\n%s", prefix, out.String())
		}
		return cs
	}
	// Per-round ratios 0.99, 0.975, 1 (median 0.99) and 0.9, 0.833, 0.909.
	if got, want := cells("classic, write"), []string{"classic, write", "1100 (1000-1200)", "1100 (990-1170)", "1000 (900-1000)",
		"0.99", "0.90", "2.00 / 2.00 / -", "1.00", "- / - / -"}; !slices.Equal(got, want) {
		t.Errorf("classic write row:\n got %q\nwant %q", got, want)
	}
	if got, want := cells("classic, write, rmqlb"), []string{"classic, write, rmqlb", "11.0 (10.0-12.0)", "85.0 (80.0-90.0)",
		"21.0 (20.0-22.0)", "140 (130-150)", "70.0 (60.0-99.5)", "2.00 / 8.50 / -", "0.600 (0.500-0.700)", "0.200 (0.100-0.300)"}; !slices.Equal(got, want) {
		t.Errorf("classic write rmqlb cost row:\n got %q\nwant %q", got, want)
	}
	if got, want := cells("classic, write, direct"), []string{"classic, write, direct", "-", "-", "20.0 (19.0-21.0)", "120 (110-130)",
		"-", "- / - / 5.00", "-", "-"}; !slices.Equal(got, want) {
		t.Errorf("classic write direct cost row:\n got %q\nwant %q", got, want)
	}
	// No row for a path without cost figures; the cost table comes after
	// the throughput table.
	if _, ok := benchstat.RowCells(out.String(), "classic, write, haproxy"); ok {
		t.Errorf("a cost row for HAProxy, which has no figures:\n%s", out.String())
	}
	if i, j := strings.Index(out.String(), "| queue, load "), strings.Index(out.String(), "| queue, load, path "); i < 0 || j < i {
		t.Errorf("the cost table is not after the throughput table:\n%s", out.String())
	}
	if got, want := cells("write"), []string{"write", "0.30-0.40", "0.32", "-", "-"}; !slices.Equal(got, want) {
		t.Errorf("blog ratio row:\n got %q\nwant %q", got, want)
	}
	if got, want := cells("rmqlb"), []string{"rmqlb", "2.00 (1.50-2.50)", "0.600", "1.90", "1"}; !slices.Equal(got, want) {
		t.Errorf("storm row:\n got %q\nwant %q", got, want)
	}
}

// TestBusyWait reads the busy-wait thresholds off beam.smp command lines:
// the last of each flag wins, Erlang's defaults where none is given.
func TestBusyWait(t *testing.T) {
	for _, c := range []struct {
		args string
		want string
	}{
		{"beam.smp -W w -sbwt none -sbwtdcpu none -sbwtdio none -B i",
			"+sbwt none +sbwtdcpu none +sbwtdio none"},
		{"beam.smp -sbwt none -sbwtdcpu none -sbwtdio none -sbwt medium -sbwtdio short",
			"+sbwt medium +sbwtdcpu none +sbwtdio short"},
		{"beam.smp -W w -- -root /usr/lib/erlang",
			"+sbwt medium (Erlang's default) +sbwtdcpu short (Erlang's default) +sbwtdio short (Erlang's default)"},
		{"beam.smp -sbwt", "+sbwt medium (Erlang's default) +sbwtdcpu short (Erlang's default) +sbwtdio short (Erlang's default)"},
	} {
		if got := busyWait(strings.Fields(c.args)); got != c.want {
			t.Errorf("busyWait(%q) = %q, want %q", c.args, got, c.want)
		}
	}
}

// TestFailedRoundPairsNothing records three rounds of direct and rmqlb,
// rmqlb's second failing: the ratios pair round with round (0.95, 0.96),
// the failed round is missing from the table and null in the JSON.
func TestFailedRoundPairsNothing(t *testing.T) {
	b := &bench{o: options{rounds: 3, queues: []string{"classic"}, loads: []string{"write"}}, figures: map[string][]float64{}}
	for r, v := range []float64{100, 100, 50} {
		b.record("classic/write/direct/rate", r, v)
	}
	b.record("classic/write/rmqlb/rate", 0, 95)
	b.record("classic/write/rmqlb/rate", 2, 48)
	if r, ok := benchstat.PairedRatio(b.figures["classic/write/rmqlb/rate"], b.figures["classic/write/direct/rate"]); !ok || r < 0.95 || r > 0.96 {
		t.Errorf("rmqlb/direct = %v, %v; want 0.955 (rounds 1 and 3 paired)", r, ok)
	}
	var out strings.Builder
	b.print(&out, time.Minute)
	cs, ok := benchstat.RowCells(out.String(), "classic, write")
	if !ok || cs[2] != "71.5 (48.0-95.0)" || (cs[4] != "0.95" && cs[4] != "0.96") {
		t.Errorf("classic write row %q, want rmqlb 71.5 (48.0-95.0) and a ratio of 0.95 or 0.96:\n%s", cs, out.String())
	}
	js, err := json.Marshal(jsonFigures(b.figures))
	if err != nil || !strings.Contains(string(js), `"classic/write/rmqlb/rate":[95,null,48]`) {
		t.Errorf("JSON figures %s, %v; want rmqlb's rounds as [95,null,48]", js, err)
	}
}

func TestBusiestStretch(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	s := func(ms int, cpuMs int) cpuSample {
		return cpuSample{at: t0.Add(time.Duration(ms) * time.Millisecond), cpu: time.Duration(cpuMs) * time.Millisecond}
	}
	if _, ok := busiestStretch([]cpuSample{s(0, 0), s(500, 100)}, time.Second); ok {
		t.Error("samples 0.5 s apart gave a busiest second")
	}
	// Idle at 0.1 CPUs, then a burst of 1.8 CPUs for a second, then idle.
	samples := []cpuSample{s(0, 0), s(500, 50), s(1000, 100), s(1500, 1000), s(2000, 1900), s(2500, 1950), s(3000, 2000)}
	got, ok := busiestStretch(samples, time.Second)
	if !ok || got < 1.79 || got > 1.81 {
		t.Errorf("busiest second %v (%v), want 1.8 CPUs", got, ok)
	}
	// A late sample stretches the interval rather than shortening it.
	got, ok = busiestStretch([]cpuSample{s(0, 0), s(900, 900), s(2000, 1000)}, time.Second)
	if !ok || got != 0.5 {
		t.Errorf("busiest stretch over a late sample %v (%v), want 0.5", got, ok)
	}
}

// TestMain lets this test binary stand for the benchmark's own: the
// benchmark runs each load as a child, itself with -run-load.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "-run-load" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestShortUpgradeRun is the benchmark's upgrade measurement in brief, as
// CI runs it: three real RabbitMQ nodes, 40 clients through rmqlb, one
// upgrade with the closes at once and one spread over 2 s of a 3 s grace
// period, and HAProxy reloaded with the same hard-stop-after and
// close-spread-time. Every client gets back in each time; at once (and
// through HAProxy, whose close-spread-time leaves TCP sessions alone) they
// are closed together, spread over most of the 2 s.
func TestShortUpgradeRun(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, RabbitMQ)")
	}
	if err := rabbittest.Available(); err != nil {
		t.Skip(err)
	}
	if err := benchstat.NeedTools("ip", "haproxy", "keepalived", "go"); err != nil {
		t.Skip(err)
	}
	o, _ := parseFlags([]string{"-queues", "", "-upgrade", "40", "-upgrade-rounds", "1", "-upgrade-grace", "3s",
		"-upgrade-spread", "2s", "-upgrade-retry", "200ms"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out strings.Builder
	b, err := run(ctx, o, &out)
	t.Logf("the benchmark's output:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(b.errs) > 0 {
		t.Fatalf("errors: %v", b.errs)
	}
	fig := func(mode, m string) float64 {
		v := benchstat.Present(b.figures["upgrade/"+mode+"/"+m])
		if len(v) != 1 {
			t.Fatalf("upgrade/%s/%s: %v, want one figure", mode, m, b.figures["upgrade/"+mode+"/"+m])
		}
		return v[0]
	}
	for _, mode := range upgradeModes {
		if n := fig(mode, "not_back"); n != 0 {
			t.Errorf("%s: %v clients not back", mode, n)
		}
		if p99 := fig(mode, "p99"); p99 <= 0 {
			t.Errorf("%s: reconnect p99 %v ms", mode, p99)
		}
		if cpus := fig(mode, "brokers_peak"); cpus <= 0 {
			t.Errorf("%s: brokers' busiest second %v CPUs", mode, cpus)
		}
	}
	// At once: when the 3 s grace period (hard-stop-after) ends; spread:
	// from a second on.
	for _, mode := range []string{closeAtOnce, closeHAProxy} {
		if first := fig(mode, "first_close"); first < 2.5 || first > 4 {
			t.Errorf("%s: first closed %v s after the upgrade, want about 3", mode, first)
		}
		if span := fig(mode, "close_span"); span > 1 {
			t.Errorf("%s: closed over %v s, want at once", mode, span)
		}
	}
	if first := fig(closeSpread, "first_close"); first < 0.8 || first > 2 {
		t.Errorf("spread: first closed %v s after the upgrade, want about 1", first)
	}
	if span := fig(closeSpread, "close_span"); span < 1.2 || span > 2.5 {
		t.Errorf("spread over 2 s: closed over %v s", span)
	}
	if !strings.Contains(out.String(), "| rmqlb, close_spread 2s ") || !strings.Contains(out.String(), "| HAProxy reload, close-spread-time 2s ") {
		t.Errorf("no table row of the spread upgrade in the output")
	}
}

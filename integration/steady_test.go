package integration

import (
	"context"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/bench/benchstat"
	"github.com/rmqlb/rmqlb/bench/vrrpsoak"
	"github.com/rmqlb/rmqlb/integration/netlab"
)

// steadyInterval and steadyWindow are the advert interval and the window of
// TestVRRPSteadyUnderProxyLoad: at 100 ms a backup takes over after more
// than 300 ms without an advert, a margin that no loaded machine should
// break; the 10 ms figures are the soak's (bench/README.md), reported, not
// asserted.
const (
	steadyInterval = 100 * time.Millisecond
	steadyWindow   = 2 * time.Minute
)

// TestVRRPSteadyUnderProxyLoad runs the VRRP soak (package bench/vrrpsoak)
// for two minutes at 100 ms adverts: three rmqlb hosts (priorities 150, 100,
// 50) whose master proxies bulk and connection-rate load, with keepalived
// and HAProxy in a lab of their own beside it under the same load, both
// with a real-time priority (vrrp_rt_priority 10). rmqlb must change
// state 0 times, no backup may advertise as master on the wire, no gap
// between the master's adverts at a backup may reach the master down
// interval, the master's adverts must leave from its advert sender process
// (vrrp_sender's default), and the load must have run. keepalived's
// figures are logged.
func TestVRRPSteadyUnderProxyLoad(t *testing.T) {
	netlab.Require(t, "bridge", "keepalived", "haproxy", "iperf3")
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(file))
	ctx := context.Background()
	loadgen := filepath.Join(t.TempDir(), "loadgen")
	if err := benchstat.GoBuild(ctx, root, loadgen, "./bench/cmd/loadgen"); err != nil {
		t.Fatalf("building loadgen: %v", err)
	}
	cfg := vrrpsoak.Config{
		Impls:                []string{vrrpsoak.ImplRmqlb, vrrpsoak.ImplKeepalived},
		Interval:             steadyInterval,
		Duration:             steadyWindow,
		Load:                 []string{vrrpsoak.LoadBulk, vrrpsoak.LoadConn},
		RmqlbBin:             rmqlbBinary(t),
		LoadgenBin:           loadgen,
		RmqlbGlobal:          "vrrp_rt_priority: 10",
		KeepalivedRTPriority: 10,
		Logf:                 t.Logf,
	}
	results, err := vrrpsoak.Run(ctx, t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var table strings.Builder
	if err := vrrpsoak.WriteTable(&table, results); err != nil {
		t.Fatal(err)
	}
	t.Logf("100 ms adverts, 2 minutes under proxy load:\n%s", table.String())
	for _, r := range results {
		if r.Impl != vrrpsoak.ImplRmqlb {
			continue
		}
		if r.Transitions != 0 || r.Timing.ForeignMasters != 0 || r.Timing.DownGaps != 0 {
			t.Errorf("rmqlb: %d state changes, %d backups advertising as master, %d gaps of a master down interval (longest %v at %s); want none (load average %s .. %s)",
				r.Transitions, r.Timing.ForeignMasters, r.Timing.DownGaps, r.Timing.MaxGap, r.Timing.MaxGapHost, r.LoadAvgStart, r.LoadAvgEnd)
		}
		// The captures saw the master advertise through the window (a
		// test that heard nothing would pass the checks above).
		if least := int(steadyWindow / steadyInterval * 9 / 10); r.Timing.Sent < least {
			t.Errorf("rmqlb: the master sent %d adverts in the window, want at least %d", r.Timing.Sent, least)
		}
		// The master's adverts left from its advert sender process (the
		// default vrrp_sender).
		if r.SenderRSSKiB == 0 || r.SenderRestarted || !strings.HasPrefix(r.Sender, "process (") {
			t.Errorf("rmqlb: the master's adverts were not sent by one advert sender process through the window: resident %d KiB, restarted %v, sender %q",
				r.SenderRSSKiB, r.SenderRestarted, r.Sender)
		}
		if r.BulkGbps <= 0 || r.ConnPerSecond <= 0 {
			t.Errorf("rmqlb: the load did not run through the master's proxy: %.2f Gbit/s bulk, %.0f connections/s", r.BulkGbps, r.ConnPerSecond)
		}
	}
}

// Command rmqlb-bench builds a network-namespace lab (client -> proxy ->
// server, see package bench/lab) and measures, side by side over several
// rounds, a direct path (client -> server), rmqlb and HAProxy (Debian's
// 2.6, splice-request/response, default threads) in the proxy namespace
// (with target haproxy-da, also a second HAProxy with defer-accept on its
// bind lines). Each round starts both proxies fresh, measures their idle cost, then runs
// each load against every target back to back in an order that rotates
// from round to round. The loads:
//
//   - bulk throughput with iperf3, 1 and 8 streams;
//   - 128-byte request/response over 16 connections: rate, p50, p99;
//   - connection rate: connect, 1-byte echo, close, 8 workers;
//   - for each proxy, during the request/response and connection-rate
//     loads: its CPU time and context switches per operation (and, with
//     -perf, its syscalls);
//   - 3000 idle connections: RSS growth and fds per connection of the
//     proxy process (a fresh process each round).
//
// It prints each figure's median over the rounds and the ratios
// rmqlb/direct and rmqlb/HAProxy (medians of the per-round ratios). The
// machine is shared: each round also measures the CPU time that other
// work took meanwhile, and a round in which it exceeds -max-load CPUs is
// shown but left out of the table.
//
// Usage, as root from the repository root:
//
//	go run ./bench/cmd/rmqlb-bench -rounds 3
//
// The lab's namespaces and every process started in them are removed at the
// end, on error and on SIGINT/SIGTERM. Run time is about 75 s per round
// with the default figures.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/rmqlb/rmqlb/bench/benchstat"
)

type options struct {
	rounds    int
	targets   []string
	rmqlbBin  string
	idleConns int
	duration  time.Duration
	bulkTime  int
	jsonOut   string
	verbose   bool
	waitLoad  float64
	waitMax   time.Duration
	// maxLoad: a round during which other work kept more CPUs than this
	// busy on average is left out of the table (0: none is).
	maxLoad float64
	// haproxyThreads is HAProxy's nbthread: by default rmqlb's number of
	// event loops per listener (one per CPU).
	haproxyThreads int
	connWorkers    int  // connection-rate workers
	connReset      bool // connection-rate clients close with a reset
	perf           bool // count the proxies' syscalls with perf stat
	// loads are the loads to run: idle, bulk, rr, conn.
	loads map[string]bool
}

func main() {
	var o options
	var targets string
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; each runs every target once, in rotating order")
	flag.StringVar(&targets, "targets", "direct,rmqlb,haproxy", "comma-separated targets: direct, rmqlb, haproxy, haproxy-da (HAProxy with defer-accept on its bind lines)")
	flag.StringVar(&o.rmqlbBin, "rmqlb", "", "rmqlb binary to run (default: go build ./cmd/rmqlb from this module)")
	flag.IntVar(&o.idleConns, "idle-conns", 3000, "idle connections held for the RSS/fd figure")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "measured time of the request/response and connection-rate loads")
	flag.IntVar(&o.bulkTime, "bulk-time", 4, "iperf3 -t seconds")
	flag.StringVar(&o.jsonOut, "json", "", "also write every raw figure to this JSON file")
	flag.BoolVar(&o.verbose, "v", false, "log every step")
	flag.Float64Var(&o.waitLoad, "wait-load", 0, "before each round, wait until the 1-minute load average is at most this (0 = don't wait)")
	flag.DurationVar(&o.waitMax, "wait-max", 3*time.Minute, "longest wait for -wait-load before running the round anyway")
	flag.Float64Var(&o.maxLoad, "max-load", 0.5, "leave out of the table a round during which other work kept more than this many CPUs busy on average (0 = keep every round)")
	flag.IntVar(&o.haproxyThreads, "haproxy-nbthread", runtime.NumCPU(), "HAProxy's nbthread (default: rmqlb's event loops per listener, one per CPU)")
	flag.IntVar(&o.connWorkers, "conn-workers", 8, "connection-rate load: parallel connect loops")
	flag.BoolVar(&o.connReset, "conn-reset", false, "connection-rate load: clients close with a reset instead of a FIN")
	flag.BoolVar(&o.perf, "perf", false, "count the proxies' syscalls per operation with perf stat (needs perf)")
	loads := flag.String("loads", "idle,bulk,rr,conn", "comma-separated loads to run: idle, bulk, rr (request/response), conn (connection rate)")
	flag.Parse()
	o.targets = strings.Split(targets, ",")
	o.loads = map[string]bool{}
	for _, l := range strings.Split(*loads, ",") {
		o.loads[l] = true
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "rmqlb-bench:", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (network namespaces)")
	}
	need := []string{"ip", "iperf3", "go"}
	for _, t := range o.targets {
		switch t {
		case "haproxy", "haproxy-da":
			need = append(need, "haproxy")
		case "direct", "rmqlb":
		default:
			return fmt.Errorf("unknown target %q", t)
		}
	}
	if o.perf {
		need = append(need, "perf")
	}
	if err := benchstat.NeedTools(need...); err != nil {
		return err
	}
	for l := range o.loads {
		switch l {
		case "idle", "bulk", "rr", "conn":
		default:
			return fmt.Errorf("unknown load %q", l)
		}
	}
	if o.rounds < 1 {
		return errors.New("-rounds must be at least 1")
	}
	if o.haproxyThreads < 1 || o.connWorkers < 1 {
		return errors.New("-haproxy-nbthread and -conn-workers must be at least 1")
	}

	tmp, err := os.MkdirTemp("", "rmqlb-bench-")
	if err != nil {
		return fmt.Errorf("creating temp dir: %w", err)
	}
	defer os.RemoveAll(tmp)

	root, err := benchstat.ModuleRoot(ctx)
	if err != nil {
		return err
	}
	loadgenBin := filepath.Join(tmp, "loadgen")
	if err := benchstat.GoBuild(ctx, root, loadgenBin, "./bench/cmd/loadgen"); err != nil {
		return err
	}
	rmqlbBin, rmqlbBuild := o.rmqlbBin, "given binary"
	if contains(o.targets, "rmqlb") && rmqlbBin == "" {
		rmqlbBin = filepath.Join(tmp, "rmqlb")
		if err := benchstat.GoBuild(ctx, root, rmqlbBin, "./cmd/rmqlb"); err != nil {
			return err
		}
		rmqlbBuild = "built from " + root + "/cmd/rmqlb at " + time.Now().UTC().Format(time.RFC3339)
	}

	b := &bench{o: o, tmp: tmp, loadgen: loadgenBin, rmqlb: rmqlbBin, rmqlbBuild: rmqlbBuild}
	return b.run(ctx)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

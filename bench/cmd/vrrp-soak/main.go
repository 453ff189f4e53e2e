// Command vrrp-soak measures how steady VRRP stays under load, rmqlb and
// keepalived side by side: for each implementation a network-namespace lab
// of its own (three VRRP hosts at priorities 150, 100 and 50, a client and
// a server; the master's proxy, rmqlb's own listeners or HAProxy beside
// keepalived, forwards the client's load to the server), both labs at the
// same time, under the same load, for the same window. See package
// bench/vrrpsoak and bench/README.md.
//
// Usage, as root from the repository root:
//
//	go run ./bench/cmd/vrrp-soak -interval 10ms -duration 1h -load bulk,conn
//	go run ./bench/cmd/vrrp-soak -interval 10ms -duration 1h -load cpu,vm
//	go run ./bench/cmd/vrrp-soak -interval 10ms -duration 1m -cuts 20
//
// It prints a Markdown table (state changes, backups that took over, send
// jitter, the longest gap between adverts at a backup, the master's CPU
// and memory, the load achieved) and, with -cuts, the client's outages.
// The labs and every process started in them are removed at the end, on
// error and on SIGINT/SIGTERM; with -keep-logs the labs' directories (the
// daemons' logs and configurations) stay. With -trace DIR it also keeps a
// flight recorder of the kernel's scheduler (an ftrace instance of its
// own) and writes to DIR the seconds around each gap in a master's
// adverts of 2.5 intervals or more, and every CPU's times, each second
// (cpustat.tsv: how much of each second the hypervisor took, as steal).
//
//	go run ./bench/cmd/vrrp-soak -interval 10ms -duration 1h -load bulk,conn -keep-logs -trace /var/tmp/soak
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/rmqlb/rmqlb/bench/benchstat"
	"github.com/rmqlb/rmqlb/bench/vrrpsoak"
)

func main() {
	var cfg vrrpsoak.Config
	var impls, load, jsonOut string
	var verbose bool
	var tr traceOpts
	flag.StringVar(&impls, "impls", "rmqlb,keepalived", "implementations, side by side, a lab each: rmqlb, keepalived, rmqlb-lateN (rmqlb with late_adverts_tolerated: N), rmqlb-proc and rmqlb-inline (rmqlb with vrrp_sender: process and inline)")
	flag.DurationVar(&cfg.Interval, "interval", 10*time.Millisecond, "VRRPv3 advertisement interval")
	flag.DurationVar(&cfg.Duration, "duration", time.Minute, "measured window")
	flag.DurationVar(&cfg.Warmup, "warmup", 5*time.Second, "time between the load starting and the window")
	flag.StringVar(&load, "load", "bulk,conn", "load components: bulk, conn (through the master's proxy), cpu, vm (stress-ng); empty for none")
	flag.StringVar(&cfg.RmqlbBin, "rmqlb", "", "rmqlb binary (default: go build ./cmd/rmqlb from this module)")
	flag.Func("rmqlb-env", "KEY=VALUE for every rmqlb daemon's environment (repeatable)", func(s string) error {
		if !strings.Contains(s, "=") {
			return errors.New("want KEY=VALUE")
		}
		cfg.RmqlbEnv = append(cfg.RmqlbEnv, s)
		return nil
	})
	flag.StringVar(&cfg.RmqlbGlobal, "rmqlb-global", "", "YAML added at the top level of rmqlb's configuration (daemon keys)")
	flag.StringVar(&cfg.RmqlbInstance, "rmqlb-instance", "", "YAML added to rmqlb's VRRP instance")
	flag.IntVar(&cfg.KeepalivedRTPriority, "keepalived-rt-priority", 0, "keepalived's vrrp_rt_priority (0: not set)")
	flag.IntVar(&cfg.KeepalivedRLimitRTTime, "keepalived-rlimit-rttime", 0, "keepalived's vrrp_rlimit_rttime, microseconds (0: not set; keepalived's default 10000 with a real-time priority)")
	flag.IntVar(&cfg.Cuts, "cuts", 0, "link cuts of the master after the window")
	flag.StringVar(&jsonOut, "json", "", "also write every result to this JSON file")
	flag.BoolVar(&verbose, "v", false, "log progress")
	flag.BoolVar(&tr.keepLogs, "keep-logs", false, "keep the labs' directories (logs, configurations) and say where they are")
	flag.StringVar(&tr.dir, "trace", "", "record the kernel's scheduling (ftrace) during the windows and write the seconds around each gap in a master's adverts, and every CPU's times each second, to this directory")
	flag.IntVar(&tr.dumps, "trace-dumps", 4, "with -trace: dumps at most")
	flag.IntVar(&tr.bufKiB, "trace-buffer-kib", 16<<10, "with -trace: ring buffer per CPU, KiB (the seconds of history a dump holds)")
	flag.Parse()
	cfg.Impls = strings.Split(impls, ",")
	if load != "" {
		cfg.Load = strings.Split(load, ",")
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}
	if verbose {
		cfg.Logf = logf
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, jsonOut, tr, logf); err != nil {
		fmt.Fprintln(os.Stderr, "vrrp-soak:", err)
		stop()
		os.Exit(1)
	}
}

// traceOpts are the flags that keep evidence of a run.
type traceOpts struct {
	keepLogs      bool
	dir           string
	dumps, bufKiB int
}

func run(ctx context.Context, cfg vrrpsoak.Config, jsonOut string, tr traceOpts, logf func(string, ...any)) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (network namespaces)")
	}
	if err := needTools(cfg); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "vrrp-soak-bin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	root, err := benchstat.ModuleRoot(ctx)
	if err != nil {
		return err
	}
	cfg.LoadgenBin = filepath.Join(tmp, "loadgen")
	if err := benchstat.GoBuild(ctx, root, cfg.LoadgenBin, "./bench/cmd/loadgen"); err != nil {
		return err
	}
	build := "given binary " + cfg.RmqlbBin
	if cfg.RmqlbBin == "" {
		cfg.RmqlbBin = filepath.Join(tmp, "rmqlb")
		if err := benchstat.GoBuild(ctx, root, cfg.RmqlbBin, "./cmd/rmqlb"); err != nil {
			return err
		}
		build = "built from " + root + " at " + time.Now().UTC().Format(time.RFC3339)
	}
	host, _ := os.Hostname()
	fmt.Printf("vrrp-soak %s: rmqlb %s; host %s, %d CPUs; interval %v, window %v, load %q\n\n",
		time.Now().UTC().Format(time.RFC3339), build, host, runtime.NumCPU(), cfg.Interval, cfg.Duration, cfg.Load)

	r := vrrpsoak.NewRunner(logf)
	r.Keep = tr.keepLogs
	defer r.Close()
	if tr.dir != "" {
		stopTrace, err := startTrace(ctx, &cfg, tr, logf)
		if err != nil {
			return err
		}
		defer stopTrace()
	}
	results, runErr := vrrpsoak.Run(ctx, r, cfg)
	if runErr != nil {
		r.Fail()
		// The labs whose window ended still have their figures.
		results = slices.DeleteFunc(results, func(res vrrpsoak.Result) bool { return res.End.IsZero() })
		if len(results) == 0 {
			return runErr
		}
	}
	if err := vrrpsoak.WriteTable(os.Stdout, results); err != nil {
		return err
	}
	if cfg.Cuts > 0 {
		fmt.Println()
		if err := vrrpsoak.WriteCuts(os.Stdout, results); err != nil {
			return err
		}
	}
	if jsonOut != "" {
		b, err := json.MarshalIndent(results, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	return runErr
}

// startTrace opens the flight recorder (cfg.Recorder) and starts
// sampling the CPUs' times into tr.dir; the function it returns stops
// both and logs the most steal of one CPU in one second.
func startTrace(ctx context.Context, cfg *vrrpsoak.Config, tr traceOpts, logf func(string, ...any)) (func(), error) {
	// A directory of its own, so that no run's evidence overwrites
	// another's.
	if err := os.MkdirAll(tr.dir, 0o755); err != nil {
		return nil, fmt.Errorf("opening the flight recorder: %w", err)
	}
	if ents, err := os.ReadDir(tr.dir); err != nil || len(ents) > 0 {
		return nil, fmt.Errorf("opening the flight recorder: -trace %s must be a new or empty directory (%d entries, %v)", tr.dir, len(ents), err)
	}
	rec, err := vrrpsoak.OpenRecorder(fmt.Sprintf("vrrp-soak-%d", os.Getpid()), tr.dir, tr.bufKiB, tr.dumps, logf)
	if err != nil {
		return nil, fmt.Errorf("opening the flight recorder: %w", err)
	}
	cfg.Recorder = rec
	sctx, stopSample := context.WithCancel(ctx)
	done := make(chan struct{})
	stats := filepath.Join(tr.dir, "cpustat.tsv")
	go func() {
		defer close(done)
		steal, at, err := vrrpsoak.SampleCPUs(sctx, stats)
		if err != nil {
			logf("%v", err)
			return
		}
		if steal == 0 {
			logf("CPU times each second in %s; no steal", stats)
			return
		}
		logf("CPU times each second in %s; the most steal of one CPU in one second: %v (the second to %s)",
			stats, steal, at.UTC().Format("15:04:05"))
	}()
	return func() {
		stopSample()
		<-done
		if err := rec.Close(); err != nil {
			logf("%v", err)
		}
	}, nil
}

// needTools checks that the programs cfg's labs and loads run are
// installed, naming the Debian package of each one missing (the project's
// set-up installs all but stress-ng).
func needTools(cfg vrrpsoak.Config) error {
	need := map[string]bool{"ip": true}
	for _, im := range cfg.Impls {
		if im == vrrpsoak.ImplKeepalived {
			need["keepalived"], need["haproxy"] = true, true
		}
	}
	for _, l := range cfg.Load {
		switch l {
		case vrrpsoak.LoadBulk:
			need["iperf3"] = true
		case vrrpsoak.LoadCPU, vrrpsoak.LoadVM:
			need["stress-ng"] = true
		}
	}
	return benchstat.NeedTools(slices.Collect(maps.Keys(need))...)
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rmqlb/rmqlb/bench/amqpload"
	"github.com/rmqlb/rmqlb/bench/benchstat"
	"github.com/rmqlb/rmqlb/control"
)

// The two ways the old process of an upgrade closes the sessions left
// when its grace period ends: all at once (close_spread: 0s) and spread
// evenly over the last -upgrade-spread of it (by default 8 s of 10 s,
// rmqlb's default share).
const (
	closeAtOnce = "at-once"
	closeSpread = "spread"
	// closeHAProxy is HAProxy's reload (master-worker, SIGUSR2) with
	// hard-stop-after set to the grace period and close-spread-time to
	// the spread: its old worker keeps the sessions until
	// hard-stop-after, then closes them all (close-spread-time spreads
	// the closes of idle and HTTP connections only).
	closeHAProxy = "haproxy"
)

// upgradeModes are the ways measured, in the order of the first round.
var upgradeModes = []string{closeAtOnce, closeSpread, closeHAProxy}

// reconnectFigures is what the clients of an upgrade measured (the child's
// part of loadResult).
type reconnectFigures struct {
	Closed, Back int
	// FirstClose is when the first client was closed (zero: none was).
	FirstClose time.Time
	// CloseSpan is from the first client closed to the last, AllBack
	// from the first closed to the last back in.
	CloseSpan, AllBack time.Duration
	// P50, P99 and Max are of the time from a client's close to its new
	// channel being open.
	P50, P99, Max time.Duration
	// PeakSecond is the most clients that got in again within one second.
	PeakSecond     int
	FailedAttempts int
	Errors         map[string]int `json:",omitempty"`
}

// The child's progress lines before its result, on stdout: every client
// is connected (upgrade now), and the clients' wait has ended (they are
// about to close their connections, which the brokers' CPU readings
// leave out).
const (
	lineReady = "ready"
	lineDone  = "done"
)

// cpuSample is the brokers' CPU time read at a moment.
type cpuSample struct {
	at  time.Time
	cpu time.Duration
}

// busiestStretch returns the most CPUs the samples show busy on average
// over any stretch of at least w between two samples (the first sample
// w or more after each), and false when no two samples are w apart.
func busiestStretch(samples []cpuSample, w time.Duration) (float64, bool) {
	best, ok, j := 0.0, false, 0
	for i := range samples {
		for j < len(samples) && samples[j].at.Sub(samples[i].at) < w {
			j++
		}
		if j == len(samples) {
			break
		}
		d := samples[j].at.Sub(samples[i].at)
		best, ok = max(best, float64(samples[j].cpu-samples[i].cpu)/float64(d)), true
	}
	return best, ok
}

// brokersCPU reads the brokers' CPU time every 100 ms until stop is
// closed, and returns the samples.
func (b *bench) brokersCPU(stop <-chan struct{}) []cpuSample {
	var pids []int
	for _, n := range b.nodes {
		if pid, err := n.Pid(); err == nil {
			pids = append(pids, pid)
		}
	}
	var samples []cpuSample
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		var sum time.Duration
		for _, pid := range pids {
			if t, err := benchstat.ProcessCPU(pid); err == nil {
				sum += t
			}
		}
		samples = append(samples, cpuSample{at: time.Now(), cpu: sum})
		select {
		case <-stop:
			return samples
		case <-tick.C:
		}
	}
}

// childLines runs spec in the client namespace (this binary with
// -run-load), calling onLine with each progress line it prints before its
// result, and returns its result; an error of onLine stops the child and
// is returned.
func (b *bench) childLines(ctx context.Context, spec loadSpec, onLine func(string) error) (loadResult, error) {
	js, err := json.Marshal(spec)
	if err != nil {
		return loadResult{}, err
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(cctx, "ip", "netns", "exec", b.cli.NS, b.self, "-run-load", string(js))
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.StdoutPipe()
	if err != nil {
		return loadResult{}, err
	}
	if err := cmd.Start(); err != nil {
		return loadResult{}, err
	}
	r := bufio.NewReader(out)
	var lineErr error
	var last []byte
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 && line[0] == '{' {
			last = line
		} else if s := strings.TrimSpace(string(line)); s != "" && lineErr == nil {
			if lineErr = onLine(s); lineErr != nil {
				cancel()
			}
		}
		if err != nil {
			break
		}
	}
	waitErr := cmd.Wait()
	if lineErr != nil {
		return loadResult{}, lineErr
	}
	if waitErr != nil {
		return loadResult{}, fmt.Errorf("%s load: %w: %s", spec.Kind, waitErr, strings.TrimSpace(errb.String()))
	}
	var res loadResult
	if err := json.Unmarshal(last, &res); err != nil {
		return loadResult{}, fmt.Errorf("%s load: reading its result %q: %w", spec.Kind, last, err)
	}
	if res.Err != "" {
		return res, fmt.Errorf("%s load: %s", spec.Kind, res.Err)
	}
	return res, nil
}

// upgradeStorms measures, -upgrade-rounds times, an upgrade in place of
// rmqlb with -upgrade clients connected through it, once with the old
// process closing them all at once when its grace period ends and once
// spreading the closes, in an order that rotates from round to round.
func (b *bench) upgradeStorms(ctx context.Context) error {
	modes := upgradeModes
	for r := 0; r < b.o.upgradeRounds; r++ {
		if err := benchstat.WaitQuiet(ctx, b.o.waitLoad, b.o.waitMax, os.Stderr); err != nil {
			return err
		}
		la := benchstat.LoadAvg()
		b.loads = append(b.loads, la)
		for _, m := range rotate(modes, r) {
			if err := b.upgradeOnce(ctx, r, m, la); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				msg := fmt.Sprintf("upgrade round %d, %s: %v", r+1, m, err)
				b.errs = append(b.errs, msg)
				b.logf("  ERROR %s", msg)
			}
			if err := benchstat.Sleep(ctx, 5*time.Second); err != nil {
				return err
			}
		}
	}
	return nil
}

// upgradeOnce starts the proxy of mode over the three brokers (rmqlb with
// the listener's grace period and, for closeSpread, its close_spread, or
// HAProxy in master-worker mode); connects the clients; upgrades rmqlb in
// place, or reloads HAProxy; and records what the clients and the brokers
// went through until every client was back. The proxy's processes are
// stopped before it returns.
func (b *bench) upgradeOnce(ctx context.Context, round int, mode, la string) error {
	var (
		url     string
		replace func() error // the upgrade, or the reload
		up      control.Upgrade
	)
	if mode == closeHAProxy {
		if err := b.startReloadableHAProxy(ctx); err != nil {
			return err
		}
		defer func() {
			_ = b.haproxy.Stop(10 * time.Second)
			b.haproxy = nil
		}()
		url = pathURL("haproxy")
		replace = func() error { return b.haproxy.Signal(syscall.SIGUSR2) }
	} else {
		spec := b.rmqlbSpec([]int{1, 1, 1}, "roundrobin")
		spec.GracefulTimeout = b.o.upgradeGrace
		if mode == closeSpread {
			spec.CloseSpread = b.o.upgradeSpread
		}
		if err := b.startRmqlb(ctx, spec); err != nil {
			return err
		}
		old := b.rmqlbP
		newPid := 0
		defer func() {
			if err := old.Wait(b.o.upgradeGrace + 10*time.Second); err != nil && !old.Exited() {
				b.logf("  the old rmqlb process: %v", err)
				_ = old.Stop(5 * time.Second)
			}
			if newPid != 0 {
				stopPid(newPid, 10*time.Second)
			}
			b.rmqlbP = nil
		}()
		url = pathURL("rmqlb")
		replace = func() error {
			out, err := b.hosts[0].Run(b.rmqlb, "upgrade", "--socket", spec.Socket, "--json")
			if err != nil {
				return fmt.Errorf("rmqlb upgrade: %w: %s", err, bytes.TrimSpace(out))
			}
			if err := json.Unmarshal(out, &up); err != nil {
				return fmt.Errorf("reading rmqlb upgrade's answer %q: %w", out, err)
			}
			newPid = up.NewPID
			b.env.Cleanup(func() { stopPid(up.NewPID, 5*time.Second) })
			return nil
		}
	}

	stopCPU := make(chan struct{})
	stopSampling := sync.OnceFunc(func() { close(stopCPU) })
	var samples []cpuSample
	var sampling sync.WaitGroup
	var replacedAt time.Time
	res, err := b.childLines(ctx, loadSpec{Kind: "reconnect", URL: url, Clients: b.o.upgrade,
		Timeout: b.o.stormTimeout, Duration: b.o.upgradeGrace + time.Minute, Retry: b.o.upgradeRetry}, func(line string) error {
		switch line {
		case lineReady:
			replacedAt = time.Now()
			sampling.Add(1)
			go func() {
				defer sampling.Done()
				samples = b.brokersCPU(stopCPU)
			}()
			if err := replace(); err != nil {
				return err
			}
		case lineDone:
			stopSampling()
		}
		return nil
	})
	stopSampling()
	sampling.Wait()
	if err != nil {
		return err
	}
	rf := res.Reconnect
	if rf == nil {
		return errors.New("reconnect load: no figures")
	}
	key := "upgrade/" + mode + "/"
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	if mode != closeHAProxy {
		b.record(key+"took", round, ms(up.Took))
	}
	firstAfter := rf.FirstClose.Sub(replacedAt)
	if !rf.FirstClose.IsZero() {
		b.record(key+"first_close", round, firstAfter.Seconds())
	}
	b.record(key+"close_span", round, rf.CloseSpan.Seconds())
	b.record(key+"all_back", round, rf.AllBack.Seconds())
	b.record(key+"p50", round, ms(rf.P50))
	b.record(key+"p99", round, ms(rf.P99))
	b.record(key+"max", round, ms(rf.Max))
	b.record(key+"peak_second", round, float64(rf.PeakSecond))
	b.record(key+"failed_attempts", round, float64(rf.FailedAttempts))
	b.record(key+"not_back", round, float64(b.o.upgrade-rf.Back))
	cpus, ok := busiestStretch(samples, time.Second)
	if ok {
		b.record(key+"brokers_peak", round, cpus)
	}
	var total time.Duration
	if n := len(samples); n > 1 {
		total = samples[n-1].cpu - samples[0].cpu
		b.record(key+"brokers_cpu", round, total.Seconds())
	}
	took := "-"
	if mode != closeHAProxy {
		took = up.Took.Round(time.Millisecond).String()
	}
	b.logf("  upgrade, %-7s: took %s; %d of %d closed from %v after it over %v, all back %v after the first close; reconnect p50 %v p99 %v max %v; "+
		"%d back in the busiest second; %d attempts failed %v; brokers' busiest second %.2f CPUs, %.2f CPU s in all (load average %s)",
		mode, took, rf.Closed, b.o.upgrade, firstAfter.Round(time.Millisecond), rf.CloseSpan.Round(time.Millisecond), rf.AllBack.Round(time.Millisecond),
		rf.P50.Round(time.Millisecond), rf.P99.Round(time.Millisecond), rf.Max.Round(time.Millisecond), rf.PeakSecond,
		rf.FailedAttempts, rf.Errors, cpus, total.Seconds(), la)
	if rf.Back < b.o.upgrade {
		return fmt.Errorf("%d of %d clients not back within %v of the upgrade", b.o.upgrade-rf.Back, b.o.upgrade, b.o.upgradeGrace+time.Minute)
	}
	return nil
}

// startReloadableHAProxy starts HAProxy on broker 1's host over the three
// brokers in master-worker mode, whose reload (SIGUSR2 to the master)
// starts a new worker and soft-stops the old one, with hard-stop-after set
// to -upgrade-grace and close-spread-time to -upgrade-spread, and waits
// until it accepts AMQP.
func (b *bench) startReloadableHAProxy(ctx context.Context) error {
	if err := os.MkdirAll(b.proxyDir(), 0o755); err != nil {
		return err
	}
	spec := b.rmqlbSpec([]int{1, 1, 1}, "roundrobin")
	conf := filepath.Join(b.proxyDir(), "haproxy-reload.cfg")
	cfg := haproxyConfig(spec.Addrs, spec.Weights, b.proxyDir(),
		fmt.Sprintf("hard-stop-after %dms", b.o.upgradeGrace.Milliseconds()),
		fmt.Sprintf("close-spread-time %dms", b.o.upgradeSpread.Milliseconds()))
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		return err
	}
	var err error
	if b.haproxy, err = b.hosts[0].Start("haproxy", nil, "haproxy", "-W", "-db", "-f", conf); err != nil {
		return err
	}
	return b.waitAMQP(ctx, "haproxy")
}

// runReconnect is the child's part: it connects the clients, says so on
// w, waits for their closes and reconnects, says when the wait is over,
// and returns the figures.
func runReconnect(ctx context.Context, spec loadSpec, w io.Writer) (*reconnectFigures, error) {
	r, err := amqpload.Reconnect(ctx, amqpload.Target{URL: spec.URL, Timeout: spec.Timeout}, amqpload.ReconnectConfig{
		Clients: spec.Clients, Retry: spec.Retry, Wait: spec.Duration,
		Ready: func() { fmt.Fprintln(w, lineReady) },
		Done:  func() { fmt.Fprintln(w, lineDone) },
	})
	if err != nil {
		return nil, err
	}
	f := &reconnectFigures{Closed: r.Closed, Back: r.Back, FirstClose: r.FirstClose, CloseSpan: r.CloseSpan, AllBack: r.AllBack,
		P50: amqpload.Percentile(r.Times, 50), P99: amqpload.Percentile(r.Times, 99), Max: amqpload.Percentile(r.Times, 100),
		PeakSecond: amqpload.PeakPerWindow(r.BackAt, time.Second), FailedAttempts: r.FailedAttempts}
	if len(r.Errors) > 0 {
		f.Errors = r.Errors
	}
	return f, nil
}

// stopPid stops a process that is not a child of this one (the process
// an upgrade started): SIGTERM, then SIGKILL after timeout.
func stopPid(pid int, timeout time.Duration) {
	if syscall.Kill(pid, syscall.SIGTERM) != nil {
		return
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		// The bench is the subreaper of its lab's orphans (package
		// rabbittest), so once the process that started it has exited
		// it is this process's child, to be reaped.
		var ws syscall.WaitStatus
		if wp, _ := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil); wp == pid || syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rmqlb/rmqlb/bench/benchkit"
	"github.com/rmqlb/rmqlb/bench/benchstat"
	"github.com/rmqlb/rmqlb/bench/lab"
	"github.com/rmqlb/rmqlb/bench/loadgen"
)

// Ports of the servers (on the server host) and of the proxies' listeners
// (on the proxy host). Both proxies run at the same time during a round, on
// their own ports, so that each load can be run against every target back
// to back.
const (
	bulkPort = 5201 // iperf3
	echoPort = 7000 // loadgen echo

	rmqlbBulkPort   = 5211
	rmqlbEchoPort   = 7010
	haproxyBulkPort = 5221
	haproxyEchoPort = 7020
	// HAProxy with defer-accept on its bind lines (target haproxy-da).
	haproxyDABulkPort = 5231
	haproxyDAEchoPort = 7030
)

// endpoint is where the client sends each load for one target.
type endpoint struct {
	bulk, echo netip.AddrPort
	proc       *proc // the proxy process; nil for direct
}

// Metric names, in table order.
const (
	mBulk1    = "bulk 1 stream (Gbit/s)"
	mBulk8    = "bulk 8 streams (Gbit/s)"
	mRRRate   = "128 B req/resp, 16 conns (k/s)"
	mRRP50    = "  p50 latency (us, lower is better)"
	mRRP99    = "  p99 latency (us, lower is better)"
	mConnRate = "connect+echo+close (k/s)"
	mIdleRSS  = "idle: RSS growth per conn (KiB, lower)"
	mIdleFDs  = "idle: fds per conn (lower)"

	// The proxy process's own cost per operation, measured during the
	// load (lower is better; none for direct).
	mRRCPU   = "  req/resp: proxy CPU per req (us)"
	mRRVol   = "  req/resp: proxy vol. ctx sw. per req"
	mRRSys   = "  req/resp: proxy syscalls per req"
	mConnCPU = "  conn: proxy CPU per conn (us)"
	mConnVol = "  conn: proxy vol. ctx sw. per conn"
	mConnInv = "  conn: proxy invol. ctx sw. per conn"
	mConnSys = "  conn: proxy syscalls per conn"
	mRRInv   = "  req/resp: proxy invol. ctx sw. per req"
)

var metricOrder = []string{mBulk1, mBulk8, mRRRate, mRRP50, mRRP99, mRRCPU, mRRVol, mRRInv, mRRSys,
	mConnRate, mConnCPU, mConnVol, mConnInv, mConnSys, mIdleRSS, mIdleFDs}

type bench struct {
	o          options
	tmp        string
	loadgen    string
	rmqlb      string
	rmqlbBuild string

	lab   *lab.Lab
	procs procSet
	// results[target][metric] holds one figure per round.
	results map[string]map[string][]float64
	// rounds says, for each round, how loaded the machine was.
	rounds []roundLoad
}

// roundLoad is how loaded the machine was during one round.
type roundLoad struct {
	// start and end are /proc/loadavg's 1, 5 and 15-minute figures.
	start, end string
	// others is the CPU time that work other than the bench's own
	// processes took during the round, per second of it: how many CPUs
	// other work kept busy on average.
	others float64
	// kept: others was within -max-load, the round counts in the table.
	kept bool
}

func (b *bench) logf(format string, args ...any) {
	if b.o.verbose {
		fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}
}

func (b *bench) run(ctx context.Context) (err error) {
	start := time.Now()
	l, err := lab.New(ctx)
	if err != nil {
		return err
	}
	b.lab = l
	defer func() {
		b.procs.stopAll()
		if cerr := l.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("removing lab: %w", cerr))
		}
	}()
	b.logf("lab %s: client %s, proxy %s, server %s", l.ID, l.Client.Addr, l.Proxy.Addr, l.Server.Addr)

	// Servers, for the whole run.
	srv := l.Server.Addr
	if _, err := b.procs.start("echo server", l.Command(ctx, l.Server, b.loadgen, "echo",
		"-listen", netip.AddrPortFrom(srv, echoPort).String(), "-max-time", "1h")); err != nil {
		return err
	}
	if _, err := b.procs.start("iperf3 server", l.Command(ctx, l.Server, "iperf3", "-s",
		"-B", srv.String(), "-p", strconv.Itoa(bulkPort))); err != nil {
		return err
	}
	if err := b.wait(ctx, netip.AddrPortFrom(srv, echoPort)); err != nil {
		return err
	}
	if err := b.waitListening(ctx, l.Server, bulkPort); err != nil {
		return err
	}

	b.results = make(map[string]map[string][]float64)
	for r := range b.o.rounds {
		order := rotate(b.o.targets, r)
		if err := benchstat.WaitQuiet(ctx, b.o.waitLoad, b.o.waitMax, os.Stderr); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "round %d/%d: %v (load average %s)\n", r+1, b.o.rounds, order, benchstat.LoadAvg())
		rl := roundLoad{start: benchstat.LoadAvg()}
		before := b.sampleCPU()
		if err := b.round(ctx, order); err != nil {
			return fmt.Errorf("round %d: %w", r+1, err)
		}
		rl.others = before.othersUntil(b.sampleCPU())
		rl.end = benchstat.LoadAvg()
		rl.kept = b.o.maxLoad <= 0 || rl.others <= b.o.maxLoad
		b.rounds = append(b.rounds, rl)
		fmt.Fprintf(os.Stderr, "round %d/%d: other work kept %.2f CPUs busy (load average %s at the end)%s\n",
			r+1, b.o.rounds, rl.others, rl.end, map[bool]string{true: "", false: ": left out of the table"}[rl.kept])
	}
	b.print(os.Stdout, time.Since(start))
	if b.o.jsonOut != "" {
		raw, _ := json.MarshalIndent(b.results, "", "  ")
		if err := os.WriteFile(b.o.jsonOut, raw, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", b.o.jsonOut, err)
		}
	}
	return nil
}

func rotate(list []string, n int) []string {
	out := make([]string, len(list))
	for i := range list {
		out[i] = list[(i+n)%len(list)]
	}
	return out
}

func (b *bench) record(target, metric string, v float64) {
	if b.results[target] == nil {
		b.results[target] = make(map[string][]float64)
	}
	b.results[target][metric] = append(b.results[target][metric], v)
	b.logf("  %-8s %-38s %10.2f", target, metric, v)
}

// wait blocks until a 1-byte echo through addr works from the client.
func (b *bench) wait(ctx context.Context, addr netip.AddrPort) error {
	_, err := runOutput(ctx, b.lab.Command(ctx, b.lab.Client, b.loadgen, "wait",
		"-target", addr.String(), "-timeout", "15s"))
	return err
}

// waitListening polls (with ss, so without connecting) until a TCP socket
// listens on port in h's namespace.
func (b *bench) waitListening(ctx context.Context, h lab.Host, port int) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for {
		out, err := b.lab.Command(ctx, h, "ss", "-Hltn", "sport = :"+strconv.Itoa(port)).Output()
		if err == nil && len(strings.TrimSpace(string(out))) > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for a listener on port %d in %s: %w", port, h.Netns, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// round starts fresh proxies, measures their idle cost first (fresh
// processes), then runs each load against every target in order, back to
// back, so that the figures compared with each other are taken seconds
// apart even when the machine's load drifts. It stops the proxies at the
// end.
func (b *bench) round(ctx context.Context, order []string) error {
	eps := make(map[string]endpoint)
	for _, t := range order {
		ep, err := b.startTarget(ctx, t)
		if ep.proc != nil {
			defer b.procs.stop(ep.proc, 10*time.Second)
		}
		if err != nil {
			return fmt.Errorf("starting %s: %w", t, err)
		}
		eps[t] = ep
	}
	for _, t := range order {
		if ep := eps[t]; ep.proc != nil && b.o.loads["idle"] {
			if err := b.idle(ctx, t, ep); err != nil {
				return fmt.Errorf("%s: %w", t, errors.Join(err, ep.proc.alive()))
			}
		}
	}
	var loads []func(context.Context, string, endpoint) error
	if b.o.loads["bulk"] {
		loads = append(loads,
			func(ctx context.Context, t string, ep endpoint) error { return b.bulk(ctx, t, ep, 1, mBulk1) },
			func(ctx context.Context, t string, ep endpoint) error { return b.bulk(ctx, t, ep, 8, mBulk8) })
	}
	if b.o.loads["rr"] {
		loads = append(loads, b.rr)
	}
	if b.o.loads["conn"] {
		loads = append(loads, b.connRate)
	}
	for _, load := range loads {
		for _, t := range order {
			ep := eps[t]
			if err := load(ctx, t, ep); err != nil {
				if ep.proc != nil {
					err = errors.Join(err, ep.proc.alive())
				}
				return fmt.Errorf("%s: %w", t, err)
			}
			// Let TIME_WAIT and socket buffers settle between loads.
			if err := benchstat.Sleep(ctx, 500*time.Millisecond); err != nil {
				return err
			}
		}
	}
	return nil
}

// startTarget starts a target's proxy (none for direct) and waits until both
// its listeners work.
func (b *bench) startTarget(ctx context.Context, target string) (endpoint, error) {
	px, srv := b.lab.Proxy.Addr, b.lab.Server.Addr
	var (
		ep  endpoint
		err error
	)
	switch target {
	case "direct":
		return endpoint{bulk: netip.AddrPortFrom(srv, bulkPort), echo: netip.AddrPortFrom(srv, echoPort)}, nil
	case "haproxy", "haproxy-da":
		deferAccept := target == "haproxy-da"
		ep = endpoint{bulk: netip.AddrPortFrom(px, haproxyBulkPort), echo: netip.AddrPortFrom(px, haproxyEchoPort)}
		if deferAccept {
			ep = endpoint{bulk: netip.AddrPortFrom(px, haproxyDABulkPort), echo: netip.AddrPortFrom(px, haproxyDAEchoPort)}
		}
		cfg := filepath.Join(b.tmp, target+".cfg")
		if err := os.WriteFile(cfg, []byte(haproxyConfig(ep, srv, b.o.haproxyThreads, deferAccept)), 0o644); err != nil {
			return ep, err
		}
		ep.proc, err = b.procs.start(target, b.lab.Command(ctx, b.lab.Proxy, "haproxy", "-db", "-f", cfg))
	case "rmqlb":
		ep = endpoint{bulk: netip.AddrPortFrom(px, rmqlbBulkPort), echo: netip.AddrPortFrom(px, rmqlbEchoPort)}
		cfg := filepath.Join(b.tmp, "rmqlb.yaml")
		sock := filepath.Join(b.tmp, "rmqlb.sock")
		os.Remove(sock)
		if err := os.WriteFile(cfg, []byte(rmqlbConfig(ep, srv, sock)), 0o644); err != nil {
			return ep, err
		}
		ep.proc, err = b.procs.start("rmqlb", b.lab.Command(ctx, b.lab.Proxy, b.rmqlb, "run", "--config", cfg))
	default:
		return ep, fmt.Errorf("unknown target %q", target)
	}
	if err != nil {
		return ep, err
	}
	if err := b.wait(ctx, ep.echo); err != nil {
		return ep, errors.Join(err, ep.proc.alive())
	}
	if err := b.waitListening(ctx, b.lab.Proxy, int(ep.bulk.Port())); err != nil {
		return ep, errors.Join(err, ep.proc.alive())
	}
	return ep, nil
}

func (b *bench) bulk(ctx context.Context, target string, ep endpoint, streams int, metric string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(b.o.bulkTime+30)*time.Second)
	defer cancel()
	out, err := runOutput(ctx, b.lab.Command(ctx, b.lab.Client, "iperf3", "-c", ep.bulk.Addr().String(),
		"-p", strconv.Itoa(int(ep.bulk.Port())), "-t", strconv.Itoa(b.o.bulkTime), "-P", strconv.Itoa(streams), "-J"))
	if err != nil {
		return err
	}
	res, err := benchkit.ParseIperf3(out)
	if err != nil {
		return err
	}
	b.record(target, metric, res.BitsPerSecond/1e9)
	return nil
}

func (b *bench) rr(ctx context.Context, target string, ep endpoint) error {
	ctx, cancel := context.WithTimeout(ctx, b.o.duration+30*time.Second)
	defer cancel()
	var out []byte
	cost, err := b.proxyCost(ctx, ep, func() (err error) {
		out, err = runOutput(ctx, b.lab.Command(ctx, b.lab.Client, b.loadgen, "rr",
			"-target", ep.echo.String(), "-conns", "16", "-size", "128",
			"-warmup", b.warmup().String(), "-duration", b.o.duration.String()))
		return err
	})
	if err != nil {
		return err
	}
	var res loadgen.RRResult
	if err := json.Unmarshal(out, &res); err != nil {
		return fmt.Errorf("decoding rr output: %w", err)
	}
	if res.Errors > 0 {
		return fmt.Errorf("rr: %d connections failed", res.Errors)
	}
	b.record(target, mRRRate, res.Rate/1e3)
	b.record(target, mRRP50, res.P50us)
	b.record(target, mRRP99, res.P99us)
	// The proxy's cost spans the warm-up too: per request of the whole run.
	b.recordCost(target, cost, float64(res.Requests)*(1+b.warmup().Seconds()/res.Seconds), mRRCPU, mRRVol, mRRInv, mRRSys)
	return nil
}

// warmup is the request/response load's unmeasured warm-up.
func (b *bench) warmup() time.Duration { return time.Second }

func (b *bench) connRate(ctx context.Context, target string, ep endpoint) error {
	ctx, cancel := context.WithTimeout(ctx, b.o.duration+30*time.Second)
	defer cancel()
	args := []string{"connrate", "-target", ep.echo.String(), "-workers", strconv.Itoa(b.o.connWorkers),
		"-duration", b.o.duration.String()}
	if b.o.connReset {
		args = append(args, "-reset")
	}
	var out []byte
	cost, err := b.proxyCost(ctx, ep, func() (err error) {
		out, err = runOutput(ctx, b.lab.Command(ctx, b.lab.Client, b.loadgen, args...))
		return err
	})
	if err != nil {
		return err
	}
	var res loadgen.ConnRateResult
	if err := json.Unmarshal(out, &res); err != nil {
		return fmt.Errorf("decoding connrate output: %w", err)
	}
	if res.Errors > res.Conns/100 {
		return fmt.Errorf("connrate: %d errors for %d connections, kinds: %v", res.Errors, res.Conns, res.ErrorKinds)
	}
	if res.Errors > 0 {
		fmt.Fprintf(os.Stderr, "  note: %s connrate had %d errors in %d connections, kinds: %v\n", target, res.Errors, res.Conns, res.ErrorKinds)
	}
	b.record(target, mConnRate, res.Rate/1e3)
	b.recordCost(target, cost, float64(res.Conns+res.Errors), mConnCPU, mConnVol, mConnInv, mConnSys)
	return nil
}

// idle opens b.o.idleConns connections through the proxy ep.proc and
// records the growth of its RSS and fd count per connection.
func (b *bench) idle(ctx context.Context, target string, ep endpoint) error {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	pid := ep.proc.cmd.Process.Pid
	if err := benchstat.Sleep(ctx, 300*time.Millisecond); err != nil {
		return err
	}
	before, err := readProcStats(pid)
	if err != nil {
		return err
	}
	cmd := b.lab.Command(ctx, b.lab.Client, b.loadgen, "idle",
		"-target", ep.echo.String(),
		"-conns", strconv.Itoa(b.o.idleConns), "-max-time", "80s")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	holder, err := b.procs.start("idle holder", cmd)
	if err != nil {
		return err
	}
	defer b.procs.stop(holder, 5*time.Second)
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err != nil {
		return errors.Join(fmt.Errorf("reading idle holder: %w", err), holder.alive())
	}
	var res loadgen.IdleResult
	if err := json.Unmarshal(line, &res); err != nil {
		return fmt.Errorf("decoding idle output: %w", err)
	}
	if res.Open != b.o.idleConns {
		return fmt.Errorf("idle: %d of %d connections open (%d errors)", res.Open, b.o.idleConns, res.Errors)
	}
	if err := benchstat.Sleep(ctx, time.Second); err != nil {
		return err
	}
	after, err := readProcStats(pid)
	if err != nil {
		return err
	}
	n := float64(res.Open)
	b.record(target, mIdleRSS, float64(after.RSSKiB-before.RSSKiB)/n)
	b.record(target, mIdleFDs, float64(after.FDs-before.FDs)/n)
	stdin.Close()
	io.Copy(io.Discard, stdout)
	select {
	case <-holder.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	// Let the proxy tear the sessions down before the next load.
	return benchstat.Sleep(ctx, time.Second)
}

// listeners are the two listeners of a proxy of the lab at ep,
// forwarding to the servers on srv.
func listeners(ep endpoint, srv netip.Addr) benchkit.Listeners {
	return benchkit.Listeners{
		BulkBind: ep.bulk, BulkServer: netip.AddrPortFrom(srv, bulkPort),
		EchoBind: ep.echo, EchoServer: netip.AddrPortFrom(srv, echoPort),
	}
}

// haproxyConfig is benchkit.HAProxyConfig for the proxy at ep with
// nbthread threads (0: HAProxy's default), with defer-accept on its bind
// lines if deferAccept is set.
func haproxyConfig(ep endpoint, srv netip.Addr, nbthread int, deferAccept bool) string {
	l := listeners(ep, srv)
	l.NBThread = nbthread
	l.DeferAccept = deferAccept
	return benchkit.HAProxyConfig(l)
}

// rmqlbConfig is a proxy-only rmqlb: no VRRP, the two listeners of
// benchkit.RmqlbListeners.
func rmqlbConfig(ep endpoint, srv netip.Addr, sock string) string {
	return fmt.Sprintf("control_socket: %s\nlog_level: warn\n", sock) + benchkit.RmqlbListeners(listeners(ep, srv))
}

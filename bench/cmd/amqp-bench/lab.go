package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rmqlb/rmqlb/bench/amqpload"
	"github.com/rmqlb/rmqlb/bench/benchstat"
	"github.com/rmqlb/rmqlb/integration/netlab"
	"github.com/rmqlb/rmqlb/internal/rabbittest"
)

// The lab's addresses: the blog post's hosts plus a third for the quorum
// queue, a client, rmqlb's VIP and, for the storm, keepalived's.
var (
	brokerAddrs = []netip.Prefix{
		netip.MustParsePrefix("10.77.0.1/24"),
		netip.MustParsePrefix("10.77.0.2/24"),
		netip.MustParsePrefix("10.77.0.3/24"),
	}
	clientAddr    = netip.MustParsePrefix("10.77.0.50/24")
	rmqlbVIP      = netip.MustParsePrefix("10.77.0.100/24")
	keepalivedVIP = netip.MustParsePrefix("10.77.0.101/24")
)

const (
	amqpPort    = 5672
	haproxyPort = 5670 // the blog post's
	vhost       = "tao"
	user        = "jasee"
	password    = "password"
)

// bench is one run: the lab, its processes and the figures. The run's
// goroutine drives it.
type bench struct {
	o     options
	env   *netlab.Env
	net   *netlab.Lab
	hosts []*netlab.Host // rmq1..rmq3
	cli   *netlab.Host
	self  string // this binary, run in the client namespace for each load
	rmqlb string

	nodes   []*rabbittest.Node // the cluster of the phase
	rmqlbP  *netlab.Proc
	haproxy *netlab.Proc
	keepad  *netlab.Proc

	mu sync.Mutex
	// figures[key] holds one figure per round, indexed by round
	// (benchstat.Missing where that round has none, as when its run
	// failed); key is "queue/load/path/metric" or "storm/path/metric".
	figures map[string][]float64
	loads   []string
	errs    []string
	// busyWait is the last node's scheduler busy-wait flags (busyWait).
	busyWait string
}

// logf prints a progress line to stderr.
func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// record stores v as round's figure under key, marking the rounds before
// it that have none as missing, so that figures of different keys taken
// in one round share an index.
func (b *bench) record(key string, round int, v float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	fs := b.figures[key]
	for len(fs) <= round {
		fs = append(fs, benchstat.Missing)
	}
	fs[round] = v
	b.figures[key] = fs
}

// build makes the lab's namespaces.
func (b *bench) build() error {
	specs := []netlab.HostSpec{}
	for i, a := range brokerAddrs {
		specs = append(specs, netlab.HostSpec{Name: fmt.Sprintf("rmq%d", i+1), Addr: a})
	}
	specs = append(specs, netlab.HostSpec{Name: "client", Addr: clientAddr})
	n, err := netlab.New(b.env, netlab.Config{Hosts: specs, LogDir: filepath.Join(b.env.Dir, "logs")})
	if err != nil {
		return fmt.Errorf("building the lab: %w", err)
	}
	b.net = n
	for i := range brokerAddrs {
		b.hosts = append(b.hosts, n.Host(fmt.Sprintf("rmq%d", i+1)))
	}
	b.cli = n.Host("client")
	return nil
}

// startCluster boots a node on each of the first n broker hosts, clusters
// them (the second as a RAM node when ram, as in the blog post) and makes
// the blog post's vhost and user.
func (b *bench) startCluster(ctx context.Context, n int, ram bool) error {
	b.nodes = nil
	for i := 0; i < n; i++ {
		h := b.hosts[i]
		node, err := rabbittest.Start(ctx, rabbittest.Options{
			Name: "rabbit", Host: h.Name, IP: h.Addr, NetNS: h.NS,
			Config: b.o.rabbitmqConf, ErlArgs: b.o.brokerErlArgs, MaxOpenFiles: b.o.brokerFiles,
		})
		if err != nil {
			return err
		}
		b.env.Cleanup(func() { _ = node.Stop() })
		b.nodes = append(b.nodes, node)
		if args, err := node.VMArgs(); err == nil {
			bw := busyWait(args)
			b.mu.Lock()
			b.busyWait = bw
			b.mu.Unlock()
			b.logf("%s: scheduler busy waiting %s", h.Name, bw)
		}
		if i > 0 {
			join := node.JoinCluster
			if ram {
				join = node.JoinClusterRAM
			}
			if err := join(ctx, b.nodes[0]); err != nil {
				return err
			}
		}
	}
	for _, args := range [][]string{
		{"add_vhost", vhost},
		{"add_user", user, password},
		{"set_permissions", "-p", vhost, user, ".*", ".*", ".*"},
	} {
		if _, err := b.nodes[0].Ctl(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

// busyWait describes the scheduler busy-wait thresholds (+sbwt, +sbwtdcpu,
// +sbwtdio) of a VM with command line args: the last of each flag, or
// Erlang's default where there is none.
func busyWait(args []string) string {
	var parts []string
	for _, f := range []struct{ flag, def string }{{"-sbwt", "medium"}, {"-sbwtdcpu", "short"}, {"-sbwtdio", "short"}} {
		v := f.def + " (Erlang's default)"
		for i := 0; i+1 < len(args); i++ {
			if args[i] == f.flag {
				v = args[i+1]
			}
		}
		parts = append(parts, "+"+f.flag[1:]+" "+v)
	}
	return strings.Join(parts, " ")
}

// stopCluster stops the phase's nodes.
func (b *bench) stopCluster() {
	for _, n := range b.nodes {
		_ = n.Stop()
	}
	b.nodes = nil
}

// url is the AMQP URL of addr for the blog post's user and vhost.
func url(addr netip.AddrPort) string {
	return fmt.Sprintf("amqp://%s:%s@%s/%s", user, password, addr, vhost)
}

// pathURL is where the clients connect for path: broker 1 itself, rmqlb's
// VIP, HAProxy on broker 1's host, or, for the storm, keepalived's VIP in
// front of HAProxy.
func pathURL(path string) string {
	switch path {
	case "rmqlb":
		return url(netip.AddrPortFrom(rmqlbVIP.Addr(), amqpPort))
	case "haproxy":
		return url(netip.AddrPortFrom(brokerAddrs[0].Addr(), haproxyPort))
	case "haproxy+keepalived":
		return url(netip.AddrPortFrom(keepalivedVIP.Addr(), haproxyPort))
	}
	return url(netip.AddrPortFrom(brokerAddrs[0].Addr(), amqpPort))
}

// amqpDo opens a connection to broker 1 from the client host and runs fn
// on a channel (queue declarations and purges).
func (b *bench) amqpDo(ctx context.Context, fn func(*amqp.Channel) error) error {
	t := amqpload.Target{URL: pathURL("direct"), Dial: b.cli.DialContext}
	conn, ch, err := t.Open(ctx, "amqp-bench setup")
	if err != nil {
		return err
	}
	defer conn.Close()
	return fn(ch)
}

// startProxies starts rmqlb (VIP on broker 1's host) and HAProxy (the
// blog post's configuration, on broker 1's host) in front of the phase's
// nodes with the given backend weights, and, with keepalived, keepalived
// holding a second VIP for HAProxy. It waits until both accept AMQP.
func (b *bench) startProxies(ctx context.Context, weights []int, policy string, keepalived bool) error {
	b.stopProxies()
	spec := b.rmqlbSpec(weights, policy)
	if err := b.startRmqlb(ctx, spec); err != nil {
		return err
	}
	h := b.hosts[0]
	hconf := filepath.Join(b.proxyDir(), "haproxy.cfg")
	if err := os.WriteFile(hconf, []byte(haproxyConfig(spec.Addrs, weights, b.proxyDir())), 0o644); err != nil {
		return err
	}
	var err error
	if b.haproxy, err = h.Start("haproxy", nil, "haproxy", "-db", "-f", hconf); err != nil {
		return err
	}
	if keepalived {
		if b.keepad, err = h.StartKeepalived(netlab.KeepalivedInstance{VRID: 2, Priority: 150, Version: 3,
			Advert: 100 * time.Millisecond, VIPs: []netip.Prefix{keepalivedVIP}}); err != nil {
			return err
		}
	}
	paths := []string{"haproxy"}
	if keepalived {
		paths = append(paths, "haproxy+keepalived")
	}
	for _, p := range paths {
		if err := b.waitAMQP(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// proxyDir holds the proxies' configurations and sockets.
func (b *bench) proxyDir() string { return filepath.Join(b.env.Dir, "proxies") }

// rmqlbSpec is rmqlb's configuration over the phase's nodes with the
// given weights and policy, and the run's options.
func (b *bench) rmqlbSpec(weights []int, policy string) rmqlbSpec {
	var addrs []netip.AddrPort
	for i := range b.nodes {
		addrs = append(addrs, netip.AddrPortFrom(brokerAddrs[i].Addr(), amqpPort))
	}
	return rmqlbSpec{Addrs: addrs, Weights: weights, Policy: policy, ConnectTimeout: b.o.connectTimeout,
		Global: b.o.rmqlbGlobal, Socket: filepath.Join(b.proxyDir(), "rmqlb.sock")}
}

// startRmqlb starts rmqlb on broker 1's host with spec and waits until it
// accepts AMQP on its VIP.
func (b *bench) startRmqlb(ctx context.Context, spec rmqlbSpec) error {
	if err := os.MkdirAll(b.proxyDir(), 0o755); err != nil {
		return err
	}
	rconf := filepath.Join(b.proxyDir(), "rmqlb.yaml")
	if err := os.WriteFile(rconf, []byte(rmqlbConfig(spec)), 0o644); err != nil {
		return err
	}
	var err error
	if b.rmqlbP, err = b.hosts[0].Start("rmqlb", nil, b.rmqlb, "run", "--config", rconf); err != nil {
		return err
	}
	return b.waitAMQP(ctx, "rmqlb")
}

// waitAMQP waits until a connection through path opens (30 s at most).
func (b *bench) waitAMQP(ctx context.Context, path string) error {
	t := amqpload.Target{URL: pathURL(path), Dial: b.cli.DialContext, Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, _, err := t.Open(ctx, "amqp-bench wait")
		if err == nil {
			conn.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not accepting AMQP after 30s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// stopProxies stops rmqlb, HAProxy and keepalived.
func (b *bench) stopProxies() {
	for _, p := range []**netlab.Proc{&b.rmqlbP, &b.haproxy, &b.keepad} {
		if *p != nil {
			_ = (*p).Stop(5 * time.Second)
			*p = nil
		}
	}
}

// child runs spec in the client namespace (this binary with -run-load) and
// returns its result.
func (b *bench) child(ctx context.Context, spec loadSpec) (loadResult, error) {
	return b.childLines(ctx, spec, func(string) error { return nil })
}

// measure runs load on queue through path once and records its figures
// as round's.
func (b *bench) measure(ctx context.Context, round int, queue, load, path string) error {
	if err := b.amqpDo(ctx, func(ch *amqp.Channel) error {
		_, err := ch.QueuePurge(queue, false)
		return err
	}); err != nil {
		return fmt.Errorf("purging %s: %w", queue, err)
	}
	procs, brokers := b.costProcs(path)
	spec := loadSpec{Kind: load, URL: pathURL(path), Queue: queue, Size: b.o.size, Window: b.o.window,
		Prefetch: b.o.prefetch, Warmup: b.o.warmup, Duration: b.o.duration, Timeout: 10 * time.Second, Procs: procs}
	var filled time.Duration
	if load == "read" {
		fill := spec
		fill.Kind, fill.URL, fill.Count, fill.Window, fill.Procs = "fill", pathURL("direct"), b.o.fill, 256, nil
		t0 := time.Now()
		if _, err := b.child(ctx, fill); err != nil {
			return err
		}
		filled = time.Since(t0)
		spec.Count = b.o.fill
	}
	res, err := b.child(ctx, spec)
	if err != nil {
		return err
	}
	key := queue + "/" + load + "/" + path
	switch load {
	case "read":
		b.record(key+"/rate", round, res.ConsumeRate)
		b.logf("  %-9s %-5s %-8s %8.0f msgs/s  (%d drained in %v, filled in %v)", queue, load, path, res.ConsumeRate,
			spec.Count, res.ConsumeElapsed.Round(time.Millisecond), filled.Round(time.Millisecond))
	default:
		b.record(key+"/rate", round, res.PublishRate)
		b.record(key+"/p50", round, float64(res.ConfirmP50)/float64(time.Millisecond))
		b.record(key+"/p99", round, float64(res.ConfirmP99)/float64(time.Millisecond))
		if load == "mixed" {
			b.record(key+"/consume", round, res.ConsumeRate)
		}
		b.logf("  %-9s %-5s %-8s %8.0f msgs/s  confirm p50 %v p99 %v", queue, load, path, res.PublishRate,
			res.ConfirmP50.Round(10*time.Microsecond), res.ConfirmP99.Round(10*time.Microsecond))
	}
	b.recordCost(key, round, res.Cost, path, brokers, res.Moved)
	return nil
}

// rounds runs every load on every queue through every path, -rounds times,
// the order of the paths rotating from round to round.
func (b *bench) rounds(ctx context.Context, queues []string) error {
	for r := 0; r < b.o.rounds; r++ {
		if err := benchstat.WaitQuiet(ctx, b.o.waitLoad, b.o.waitMax, os.Stderr); err != nil {
			return err
		}
		la := benchstat.LoadAvg()
		b.loads = append(b.loads, la)
		order := rotate(b.o.paths, r)
		b.logf("round %d/%d of %v (paths %v), load average %s", r+1, b.o.rounds, queues, order, la)
		for _, q := range queues {
			for _, load := range b.o.loads {
				for _, p := range order {
					if err := b.measure(ctx, r, q, load, p); err != nil {
						if ctx.Err() != nil {
							return ctx.Err()
						}
						msg := fmt.Sprintf("round %d, %s %s via %s: %v", r+1, q, load, p, err)
						b.errs = append(b.errs, msg)
						b.logf("  ERROR %s", msg)
					}
				}
			}
		}
	}
	return nil
}

// storm runs the reconnect storm through each path, -storm-rounds times.
//
// First comes one storm through each path that is not counted: the first
// storm after the proxies start pays for what a fresh process, broker
// listener and ARP entry set up once (round 1 starts with rmqlb, which
// would otherwise pay it every run).
func (b *bench) storm(ctx context.Context) error {
	paths := []string{"rmqlb", "haproxy+keepalived", "direct"}
	for _, p := range paths {
		res, err := b.child(ctx, loadSpec{Kind: "storm", URL: pathURL(p), Clients: b.o.storm, Timeout: b.o.stormTimeout})
		if err != nil {
			return err
		}
		b.logf("  warm-up storm of %d via %-18s all in after %v, %d failed %v (not counted)", b.o.storm, p,
			res.StormAllIn.Round(time.Millisecond), res.StormFailed, res.StormErrors)
		if err := benchstat.Sleep(ctx, 5*time.Second); err != nil {
			return err
		}
	}
	for r := 0; r < b.o.stormRounds; r++ {
		if err := benchstat.WaitQuiet(ctx, b.o.waitLoad, b.o.waitMax, os.Stderr); err != nil {
			return err
		}
		la := benchstat.LoadAvg()
		b.loads = append(b.loads, la)
		hosts := append([]*netlab.Host{b.cli}, b.hosts...)
		for _, p := range rotate(paths, r) {
			before, cpuBefore := b.countersAt(hosts), cpuAt(b.stormProcs())
			res, err := b.child(ctx, loadSpec{Kind: "storm", URL: pathURL(p), Clients: b.o.storm, Timeout: b.o.stormTimeout})
			if err != nil {
				return err
			}
			key := "storm/" + p
			b.record(key+"/all_in", r, res.StormAllIn.Seconds())
			b.record(key+"/p50", r, res.StormP50.Seconds())
			b.record(key+"/p99", r, res.StormP99.Seconds())
			b.record(key+"/failed", r, float64(res.StormFailed))
			b.logf("  storm of %d via %-18s all in after %v, p50 %v, p99 %v, %d failed %v (load average %s)", b.o.storm, p,
				res.StormAllIn.Round(time.Millisecond), res.StormP50.Round(time.Millisecond), res.StormP99.Round(time.Millisecond),
				res.StormFailed, res.StormErrors, la)
			b.counterDeltas(key, r, hosts, before, b.countersAt(hosts))
			b.cpuDeltas(key, r, cpuBefore, cpuAt(b.stormProcs()))
			// Let the brokers close the storm's connections.
			if err := benchstat.Sleep(ctx, 5*time.Second); err != nil {
				return err
			}
		}
	}
	return nil
}

// rotate returns list rotated left by n.
func rotate(list []string, n int) []string {
	n %= len(list)
	return append(append([]string(nil), list[n:]...), list[:n]...)
}

// run builds the lab and runs the phases: the blog post's two nodes
// (classic and mirrored queues), three nodes (quorum queue), then the storm
// on the three nodes.
func (b *bench) run(ctx context.Context) error {
	if err := b.build(); err != nil {
		return err
	}
	var blogQueues, qqQueues []string
	for _, q := range b.o.queues {
		if q == "quorum" {
			qqQueues = append(qqQueues, q)
		} else {
			blogQueues = append(blogQueues, q)
		}
	}
	if len(blogQueues) > 0 {
		b.logf("the blog post's cluster: rmq1 disc, rmq2 RAM")
		if err := b.startCluster(ctx, 2, true); err != nil {
			return err
		}
		if _, err := b.nodes[0].Ctl(ctx, "set_policy", "-p", vhost, "ha-mirrored", "^mirrored$",
			`{"ha-mode":"all","ha-sync-mode":"automatic"}`); err != nil {
			return err
		}
		if err := b.amqpDo(ctx, func(ch *amqp.Channel) error {
			for _, q := range blogQueues {
				if _, err := ch.QueueDeclare(q, true, false, false, false, nil); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return fmt.Errorf("declaring queues: %w", err)
		}
		if err := b.startProxies(ctx, []int{10, 0}, "wrr", false); err != nil {
			return err
		}
		if err := b.rounds(ctx, blogQueues); err != nil {
			return err
		}
		b.stopProxies()
		b.stopCluster()
	}
	if len(qqQueues) == 0 && b.o.storm == 0 && b.o.upgrade == 0 {
		return nil
	}
	b.logf("three disc nodes")
	if err := b.startCluster(ctx, 3, false); err != nil {
		return err
	}
	if len(qqQueues) > 0 {
		if err := b.amqpDo(ctx, func(ch *amqp.Channel) error {
			_, err := ch.QueueDeclare("quorum", true, false, false, false, amqp.Table{"x-queue-type": "quorum"})
			return err
		}); err != nil {
			return fmt.Errorf("declaring the quorum queue: %w", err)
		}
		if err := b.startProxies(ctx, []int{10, 0, 0}, "wrr", false); err != nil {
			return err
		}
		if err := b.rounds(ctx, qqQueues); err != nil {
			return err
		}
	}
	if b.o.storm > 0 {
		b.logf("reconnect storm: %d clients at once, rmqlb and HAProxy spreading them over the three brokers", b.o.storm)
		if err := b.startProxies(ctx, []int{1, 1, 1}, "roundrobin", true); err != nil {
			return err
		}
		if err := b.storm(ctx); err != nil {
			return err
		}
	}
	if b.o.upgrade > 0 {
		b.logf("upgrade in place: %d clients through rmqlb, graceful_timeout %v, their closes at once and over close_spread %v",
			b.o.upgrade, b.o.upgradeGrace, b.o.upgradeSpread)
		b.stopProxies()
		if err := b.upgradeStorms(ctx); err != nil {
			return err
		}
	}
	b.stopProxies()
	return nil
}

// buildRmqlb builds ./cmd/rmqlb into the run's directory unless -rmqlb
// names a binary.
func (b *bench) buildRmqlb(ctx context.Context) error {
	if b.o.rmqlbBin != "" {
		b.rmqlb = b.o.rmqlbBin
		return nil
	}
	root, err := benchstat.ModuleRoot(ctx)
	if err != nil {
		return err
	}
	b.rmqlb = filepath.Join(b.env.Dir, "rmqlb")
	return benchstat.GoBuild(ctx, root, b.rmqlb, "./cmd/rmqlb")
}

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/bench/benchstat"
	"github.com/rmqlb/rmqlb/integration/netlab"
)

// lab is one run of the demo: the namespaces, brokers, daemons, clients
// and watchers, and the results of the scenario's steps. The scenario's
// goroutine drives it; watchers and clients run on goroutines it starts
// and stops (stopClients, and the run's clean-up).
type lab struct {
	opts     options
	layout   labLayout
	settings rabbitSettings
	env      *netlab.Env
	tl       *timeline
	// progress gets the soak's progress lines and table (tl in the demo,
	// where everything goes to standard output).
	progress *timeline

	net     *netlab.Lab
	brokers []*netlab.Host
	client  *netlab.Host
	cluster *rabbitCluster
	daemons map[string]*daemon
	prio    map[string]int

	vips   *vipWatch
	states *stateWatch
	probe  *netlab.Probe
	tally  *tally
	amqp   *amqpClient
	stopP  chan struct{} // closed to stop the producer
	pDone  chan struct{} // closed when the producer returned
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// stopRun cancels the run's context; panicked is set by recovered.
	stopRun  context.CancelFunc
	panicked atomic.Bool

	results    []*stepResult
	stepsTotal int
}

// build makes the lab and starts everything up to steady state.
func (l *lab) build(ctx context.Context) error {
	if os.Geteuid() != 0 {
		return errors.New("rmqlb-lab needs root (network namespaces, RabbitMQ as root)")
	}
	if err := benchstat.NeedTools("ip", "bridge", "sysctl"); err != nil {
		return fmt.Errorf("rmqlb-lab: %w", err)
	}
	if gone, err := netlab.Sweep(); len(gone) > 0 || err != nil {
		l.tl.Logf("removed %d namespaces left by earlier runs that died (%v)", len(gone), err)
	}
	bin, err := l.rmqlbBinary(ctx)
	if err != nil {
		return err
	}
	l.tl.Logf("rmqlb binary: %s", bin)

	n, err := netlab.New(l.env, netlab.Config{Hosts: l.layout.hostSpecs(), LogDir: filepath.Join(l.env.Dir, "logs")})
	if err != nil {
		return fmt.Errorf("building the lab: %w", err)
	}
	l.net = n
	for _, b := range l.layout.Brokers {
		l.brokers = append(l.brokers, n.Host(b.Name))
		l.prio[b.Name] = b.Priority
	}
	l.client = n.Host("client")
	var hs []string
	for _, h := range n.Hosts() {
		hs = append(hs, fmt.Sprintf("%s %s (netns %s)", h.Name, h.Prefix, h.NS))
	}
	l.tl.Logf("lab: bridge in netns %s; hosts:\n%s", n.Switch, strings.Join(hs, "\n"))

	l.tl.Logf("starting RabbitMQ on %d hosts (5-20 s): %s; settings %s", len(l.brokers), l.layout.Topology, l.settings)
	spec := clusterSpec{queueType: l.opts.queueType, ramNodes: l.layout.Topology == topologyBlog, settings: l.settings}
	if l.cluster, err = startCluster(ctx, l.env, l.tl, l.brokers, spec); err != nil {
		return err
	}

	var names []string
	for i, b := range l.layout.Brokers {
		h := l.brokers[i]
		dir := filepath.Join(l.env.Dir, "rmqlb-"+h.Name)
		yaml := l.layout.rmqlbConfig(b, filepath.Join(dir, "rmqlb.sock"))
		d, err := newDaemon(h, bin, dir, yaml)
		if err != nil {
			return err
		}
		if i == 0 {
			l.tl.Logf("rmqlb configuration of %s (the others differ in priority and tracked broker), `rmqlb check-config` OK:", h.Name)
			l.tl.Block(yaml)
		}
		l.daemons[h.Name] = d
		names = append(names, h.Name)
	}
	// All at once: each starts as backup with its own broker not yet
	// checked (priority lowered by the track rule), and its first check
	// passes well within Master_Down_Interval, so the first election is
	// between the configured priorities. Started one by one, the first
	// would become master alone and be preempted twice.
	errc := make(chan error, len(names))
	for _, name := range names {
		go func() { errc <- l.daemons[name].start(ctx) }()
	}
	for range names {
		if err := <-errc; err != nil {
			return err
		}
	}
	for _, name := range names {
		l.tl.Logf("%s: rmqlb running (pid %d)", name, l.daemons[name].pid())
	}

	wctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.env.Cleanup(l.stopWatchers)
	l.vips = newVIPWatch(l.tl, l.layout.VIP.Addr(), l.brokers)
	l.wg.Add(2)
	go func() {
		defer l.wg.Done()
		defer l.recovered("VIP watch")
		if err := l.vips.run(wctx); err != nil {
			l.tl.Logf("VIP watch: %v", err)
		}
	}()
	var ds []*daemon
	for _, name := range names {
		ds = append(ds, l.daemons[name])
	}
	l.states = newStateWatch(l.tl, ds, names)
	go func() { defer l.wg.Done(); defer l.recovered("check watch"); l.states.run(wctx) }()

	// The host whose daemon starts first may be MASTER for a moment; the
	// one of highest priority then takes over after its preempt_delay.
	master := l.layout.Brokers[0].Name
	if _, err := l.vips.waitSole(ctx, master, l.layout.preemptWait(10*time.Second)); err != nil {
		return fmt.Errorf("initial election: %w", err)
	}
	if err := l.waitAllUp(ctx, 20*time.Second); err != nil {
		return err
	}
	l.tl.Logf("every daemon sees every broker UP")

	l.amqp = newAMQPClient(l.client, l.layout.VIPAddr(), l.opts.queueType)
	l.amqp.declareEvery = l.opts.declareEvery
	if err := l.amqp.setupTopology(ctx); err != nil {
		return fmt.Errorf("declaring the blog post's topology through the VIP: %w", err)
	}
	l.tl.Logf("through the VIP: exchange %q (direct), %s queue %q bound with key %q, vhost %q",
		exchange, l.opts.queueType, queueName, routingKey, vhost)
	if info := l.cluster.queueInfo(ctx, master); info != "" {
		l.tl.Logf("queue: %s", info)
	}

	p, err := l.client.StartProbe(l.layout.VIPAddr(), netlab.ProbeConfig{Interval: l.opts.probeInterval})
	if err != nil {
		return err
	}
	l.probe = p
	l.tl.Logf("client: TCP probe to %s every %v (connect timeout 200ms)", l.layout.VIPAddr(), l.opts.probeInterval)
	l.startClients(wctx)
	return nil
}

// rmqlbBinary returns -rmqlb, or builds ./cmd/rmqlb of this module into the
// run's directory.
func (l *lab) rmqlbBinary(ctx context.Context) (string, error) {
	if l.opts.rmqlb != "" {
		p, err := filepath.Abs(l.opts.rmqlb)
		if err != nil {
			return "", err
		}
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("rmqlb binary: %w", err)
		}
		return p, nil
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(filepath.Dir(file)))
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return "", fmt.Errorf("no -rmqlb given and no module source at %s to build it: %w", root, err)
	}
	gobin := "go"
	if _, err := exec.LookPath(gobin); err != nil {
		gobin = "/usr/local/go/bin/go"
	}
	bin := filepath.Join(l.env.Dir, "rmqlb")
	l.tl.Logf("building rmqlb (go build -o %s ./cmd/rmqlb)...", bin)
	cmd := exec.CommandContext(ctx, gobin, "build", "-buildvcs=false", "-o", bin, "./cmd/rmqlb")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building rmqlb: %v\n%s", err, out)
	}
	return bin, nil
}

// waitAllUp waits until every running daemon reports every check UP.
func (l *lab) waitAllUp(ctx context.Context, timeout time.Duration) error {
	return l.waitFor(ctx, timeout, l.allUp)
}

// allUp reports whether every running daemon reports every check UP, and
// if not, why.
func (l *lab) allUp() (bool, string) {
	why, err := l.eachRunningStatus(func(name string, s *statusView) string {
		for _, b := range l.layout.Brokers {
			if up, got := s.checkIs(b.Name, backend.Up); !up {
				return fmt.Sprintf("%s: check of %s is %s", name, b.Name, got)
			}
		}
		return ""
	})
	if err != nil {
		return false, err.Error()
	}
	return why == "", why
}

// eachRunningStatus reads the `rmqlb status` of every running daemon, in no
// set order, and calls fn with the daemon's name and status. It stops at
// the first status it cannot read, returning that error, or at the first
// call of fn that returns a reason other than "", returning that reason.
// With no daemon running it returns an error: there was nothing to check.
func (l *lab) eachRunningStatus(fn func(name string, s *statusView) string) (string, error) {
	n := 0
	for name, d := range l.daemons {
		if !d.running() {
			continue
		}
		n++
		s, err := d.status()
		if err != nil {
			return "", err
		}
		if why := fn(name, s); why != "" {
			return why, nil
		}
	}
	if n == 0 {
		return "", errors.New("no rmqlb daemon is running")
	}
	return "", nil
}

// waitFor polls cond every 20 ms.
func (l *lab) waitFor(ctx context.Context, timeout time.Duration, cond func() (bool, string)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %s", timeout, why)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// startClients starts the producer and the consumer.
func (l *lab) startClients(ctx context.Context) {
	l.stopP = make(chan struct{})
	l.pDone = make(chan struct{})
	prod := &producer{client: l.amqp, tally: l.tally, tl: l.tl, interval: l.opts.publishInterval, confirmTimeout: 2 * time.Second}
	cons := &consumer{client: l.amqp, tally: l.tally, tl: l.tl, stallAfter: 5 * time.Second}
	l.wg.Add(2)
	go func() { defer l.wg.Done(); defer close(l.pDone); defer l.recovered("producer"); prod.run(ctx, l.stopP) }()
	go func() { defer l.wg.Done(); defer l.recovered("consumer"); cons.run(ctx) }()
	l.tl.Logf("client: producer (a persistent message every %v, publisher confirms) and consumer (manual acks) started through the VIP",
		l.opts.publishInterval)
}

// recovered, deferred on a goroutine of the lab, turns a panic of what
// into the end of the run instead of the end of the process: it reports
// the panic with its stack, marks the run panicked and cancels it, so that
// the run's clean-up still removes the lab.
func (l *lab) recovered(what string) {
	p := recover()
	if p == nil {
		return
	}
	l.panicked.Store(true)
	msg := fmt.Sprintf("PANIC in the %s: %v\n%s", what, p, debug.Stack())
	l.tl.Logf("%s", msg)
	if l.progress != l.tl {
		l.progress.Logf("%s", msg)
	}
	if l.stopRun != nil {
		l.stopRun()
	}
}

// stopWatchers ends the watchers and clients and waits for them.
func (l *lab) stopWatchers() {
	if l.cancel != nil {
		l.cancel()
	}
	l.wg.Wait()
}

// master returns the sole holder of the VIP.
func (l *lab) master() (string, error) {
	hs, _ := l.vips.current()
	if len(hs) != 1 {
		return "", fmt.Errorf("VIP held by %v, not by one host", hs)
	}
	return hs[0], nil
}

// successor is the host that should take the VIP when host leaves: the
// highest configured priority among the others.
func (l *lab) successor(host string) string {
	best, bp := "", -1
	for _, b := range l.layout.Brokers {
		if b.Name != host && b.Priority > bp {
			best, bp = b.Name, b.Priority
		}
	}
	return best
}

// printStatus prints `rmqlb status` of the hosts.
func (l *lab) printStatus(hosts ...string) {
	for _, h := range hosts {
		d := l.daemons[h]
		if d == nil {
			continue
		}
		if !d.running() {
			l.tl.Logf("rmqlb status on %s: (rmqlb not running)", h)
			continue
		}
		l.tl.Logf("`ip netns exec %s rmqlb status` on %s:", d.host.NS, h)
		l.tl.Block(d.statusText())
	}
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rmqlb/rmqlb/integration/netlab"
)

// options are the command line flags; every one has a default, so the lab
// runs without arguments.
type options struct {
	rmqlb           string
	topology        string
	queueType       string
	rabbitmq        string
	rabbitmqConf    stringList
	declare         string
	declareEvery    bool
	publishInterval time.Duration
	probeInterval   time.Duration
	steady, hold    time.Duration
	keep            bool
	svgDir          string

	soak soakOptions
}

// stringList is a flag that may be given several times.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, "; ") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run parses flags, runs the lab and returns the exit status: 0 when every
// step ran as expected and no confirmed message was lost, 1 otherwise, 2
// when the lab could not be built (or on a usage error), 3 when the lab
// panicked (it is removed all the same).
func run(args []string, stdout, stderr io.Writer) (code int) {
	fs := flag.NewFlagSet("rmqlb-lab", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.rmqlb, "rmqlb", "", "rmqlb binary to run (default: go build ./cmd/rmqlb of this module into the run's directory)")
	fs.StringVar(&o.topology, "topology", "three", "RabbitMQ cluster: three (three disc nodes, quorum queue) or blog (the blog post's disc + RAM node, classic queue mirrored by ha-all)")
	fs.StringVar(&o.queueType, "queue", "", "queue type: quorum (Raft-replicated) or mirrored (the blog post's classic queue with an ha-all policy); default: the topology's")
	fs.StringVar(&o.rabbitmq, "rabbitmq", "recommended", "RabbitMQ settings: recommended (the README's: net_ticktime, partition handling, failure detector) or defaults (RabbitMQ's own)")
	fs.Var(&o.rabbitmqConf, "rabbitmq-conf", "an extra rabbitmq.conf line, e.g. 'net_ticktime = 10' (may be repeated; later lines win)")
	fs.StringVar(&o.declare, "declare", "every", "when the producer and the consumer declare the exchange, queue and binding: every (on each connection, as most clients do) or once")
	fs.DurationVar(&o.publishInterval, "publish-interval", 50*time.Millisecond, "time between two messages of the producer (the blog post: 1s)")
	fs.DurationVar(&o.probeInterval, "probe-interval", 20*time.Millisecond, "time between two TCP connects of the VIP probe")
	fs.DurationVar(&o.steady, "steady", 5*time.Second, "length of the steady-state step")
	fs.DurationVar(&o.hold, "hold", 4*time.Second, "how long each step watches after its expected effect")
	fs.BoolVar(&o.keep, "keep", false, "keep the run's directory (configurations, logs of rmqlb and RabbitMQ)")
	fs.StringVar(&o.svgDir, "svg", "", "write an SVG timeline per step (per fault with -soak) into this directory")
	o.soak.flags(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: rmqlb-lab [flags]   (as root)\n\nThe rmqlb demo lab, and with -soak its fault soak: see `go doc ./cmd/rmqlb-lab`.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	topo, err := parseTopology(o.topology)
	if err == nil && o.queueType == "" {
		o.queueType = topo.queueType()
	}
	var settings rabbitSettings
	if err == nil {
		settings, err = settingsFor(o.rabbitmq, topo)
		settings.Conf = append(settings.Conf, o.rabbitmqConf...)
	}
	if err == nil && o.queueType != "quorum" && o.queueType != "mirrored" {
		err = fmt.Errorf("-queue %q is not quorum or mirrored", o.queueType)
	}
	if err == nil && topo == topologyBlog && o.queueType == "quorum" {
		err = errors.New("-queue quorum needs three nodes (-topology three)")
	}
	if err == nil && o.declare != "every" && o.declare != "once" {
		err = fmt.Errorf("-declare %q is not every or once", o.declare)
	}
	if err == nil {
		err = o.soak.check()
	}
	if err == nil && (fs.NArg() > 0 || o.publishInterval <= 0 || o.probeInterval <= 0) {
		err = errors.New("bad arguments")
	}
	if err != nil {
		fmt.Fprintf(stderr, "rmqlb-lab: %v\n", err)
		fs.Usage()
		return 2
	}
	o.declareEvery = o.declare == "every"
	if o.keep {
		os.Setenv("RABBITTEST_KEEP", "1") // rabbittest keeps the nodes' directories
	}

	tl := newTimeline(stdout)
	progress := tl
	if o.soak.enabled {
		// Hours of events do not belong on a terminal: they go to a
		// file that outlives the run; the progress lines to stdout.
		if o.soak.events == "" {
			o.soak.events = defaultEventsPath()
		}
		f, err := os.Create(o.soak.events)
		if err != nil {
			fmt.Fprintf(stderr, "rmqlb-lab: %v\n", err)
			return 2
		}
		defer f.Close()
		tl = &timeline{start: progress.start, w: f}
		progress.Logf("events of the run (the demo's timeline) go to %s", o.soak.events)
	}
	env, err := netlab.NewEnv("rmqlb-lab-", o.keep, tl.Logf)
	if err != nil {
		fmt.Fprintf(stderr, "rmqlb-lab: %v\n", err)
		return 2
	}

	// SIGINT/SIGTERM cancel ctx; the clean-up below then removes
	// everything. Later signals are only acknowledged, so that a second
	// Ctrl-C does not leave namespaces and brokers behind.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		n := 0
		for s := range sigs {
			n++
			if n == 1 {
				progress.Logf("%v: stopping; cleaning up", s)
				cancel()
			} else {
				progress.Logf("%v: still cleaning up, please wait", s)
			}
		}
	}()

	l := &lab{opts: o, layout: layoutFor(topo), settings: settings, env: env, tl: tl, progress: progress, tally: newTally(),
		daemons: map[string]*daemon{}, prio: map[string]int{}, stopRun: cancel}
	// The clean-up runs however the run ends, a panic included: the
	// panic is reported (recovered, deferred last, runs first) and the
	// run exits with status 3.
	defer func() {
		if l.panicked.Load() {
			code = 3
		}
		if code != 0 && (ctx.Err() == nil || l.panicked.Load()) {
			env.Fail() // netlab then prints the last lines of every process's output
		}
		tl.Section("clean-up")
		env.Close()
		tl.Logf("lab removed (namespaces, processes, files)")
		if progress != tl {
			progress.Logf("lab removed (namespaces, processes, files); events in %s", o.soak.events)
		}
		signal.Stop(sigs)
		close(sigs) // ends the signal goroutine
	}()
	defer l.recovered("lab")
	return l.main(ctx)
}

// main runs the lab's phases and maps the outcome to the exit status.
func (l *lab) main(ctx context.Context) int {
	l.tl.Section("building the lab")
	if l.progress != l.tl {
		l.progress.Logf("building the lab: %s, RabbitMQ settings %s", l.layout.Topology, l.settings)
	}
	if err := l.build(ctx); err != nil {
		l.tl.Logf("BUILDING THE LAB FAILED: %v", err)
		if l.progress != l.tl {
			l.progress.Logf("BUILDING THE LAB FAILED: %v", err)
		}
		return 2
	}
	if l.opts.soak.enabled {
		return l.soakMain(ctx)
	}
	if err := l.runScenario(ctx); err != nil {
		l.tl.Logf("scenario interrupted: %v", err)
		return 1
	}
	t := l.finish(ctx)
	if l.opts.svgDir != "" {
		l.writeStepSVGs()
	}
	if ctx.Err() != nil {
		return 1
	}
	if !l.summary(t) {
		l.tl.Plain("\nRESULT: FAILED (see above)\n")
		return 1
	}
	l.tl.Plain("\nRESULT: PASSED: every step as expected, no confirmed message lost\n")
	return 0
}

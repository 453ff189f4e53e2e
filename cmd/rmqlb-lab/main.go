package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// options are the command line flags; every one has a default, so the lab
// runs without arguments.
type options struct {
	rmqlb           string
	queueType       string
	publishInterval time.Duration
	probeInterval   time.Duration
	steady, hold    time.Duration
	keep            bool
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run parses flags, runs the lab and returns the exit status: 0 when every
// step ran as expected and no confirmed message was lost, 1 otherwise, 2
// when the lab could not be built (or on a usage error).
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rmqlb-lab", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.rmqlb, "rmqlb", "", "rmqlb binary to run (default: go build ./cmd/rmqlb of this module into the run's directory)")
	fs.StringVar(&o.queueType, "queue", "quorum", "queue type: quorum (Raft-replicated) or mirrored (the blog post's classic queue with an ha-all policy)")
	fs.DurationVar(&o.publishInterval, "publish-interval", 50*time.Millisecond, "time between two messages of the producer (the blog post: 1s)")
	fs.DurationVar(&o.probeInterval, "probe-interval", 20*time.Millisecond, "time between two TCP connects of the VIP probe")
	fs.DurationVar(&o.steady, "steady", 5*time.Second, "length of the steady-state step")
	fs.DurationVar(&o.hold, "hold", 4*time.Second, "how long each step watches after its expected effect")
	fs.BoolVar(&o.keep, "keep", false, "keep the run's directory (configurations, logs of rmqlb and RabbitMQ)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: rmqlb-lab [flags]   (as root)\n\nThe rmqlb demo lab: see `go doc ./cmd/rmqlb-lab`.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || (o.queueType != "quorum" && o.queueType != "mirrored") || o.publishInterval <= 0 || o.probeInterval <= 0 {
		fs.Usage()
		return 2
	}
	if o.keep {
		os.Setenv("RABBITTEST_KEEP", "1") // rabbittest keeps the nodes' directories
	}

	tl := newTimeline(stdout)
	env, err := newRunEnv(tl, o.keep)
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
				tl.Logf("%v: stopping; cleaning up", s)
				cancel()
			} else {
				tl.Logf("%v: still cleaning up, please wait", s)
			}
		}
	}()

	l := &lab{opts: o, layout: defaultLayout(), env: env, tl: tl, tally: newTally(),
		daemons: map[string]*daemon{}, prio: map[string]int{}}
	code := l.main(ctx)
	if code != 0 && ctx.Err() == nil {
		env.fail() // netlab then prints the last lines of every process's output
	}
	tl.Section("clean-up")
	env.cleanup()
	tl.Logf("lab removed (namespaces, processes, files)")
	signal.Stop(sigs)
	return code
}

// main runs the lab's phases and maps the outcome to the exit status.
func (l *lab) main(ctx context.Context) int {
	l.tl.Section("building the lab")
	if err := l.build(ctx); err != nil {
		l.tl.Logf("BUILDING THE LAB FAILED: %v", err)
		return 2
	}
	if err := l.runScenario(ctx); err != nil {
		l.tl.Logf("scenario interrupted: %v", err)
		return 1
	}
	t := l.finish(ctx)
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

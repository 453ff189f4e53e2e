// Command amqp-bench measures AMQP through rmqlb against a broker reached
// directly and through HAProxy (the blog post's configuration), with real
// RabbitMQ nodes in a network-namespace lab (package integration/netlab):
// the blog post's two nodes (rmq1 disc, rmq2 RAM) for a classic queue and
// a classic queue mirrored on both (ha-mode all), three nodes for a quorum
// queue. The loads, from a client host, with persistent 1000-byte messages
// and publisher confirms (package bench/amqpload):
//
//   - write: one publisher, 16 messages in flight;
//   - read: one consumer (prefetch 100, an ack per message) draining a
//     queue filled beforehand;
//   - mixed: both at once on the same queue.
//
// rmqlb (on broker 1's host, VIP 10.77.0.100) and HAProxy (on the same
// host, port 5670) are configured so that every connection lands on broker
// 1, the node the direct path uses and where each queue's leader or master
// lives (the other brokers have weight 0): the ratios then measure the
// proxies alone. Each round runs every load through every path back to
// back, in an order that rotates from round to round.
//
// Each load also reports what a message cost: at the start and at the end
// of its measured time (a write's and a mixed load's after the warm-up, a
// read's from the first delivery to the last, never the fill), the load's
// process reads the CPU time and the time spent waiting for a CPU
// (/proc/PID/task/*/schedstat) of the path's proxy (rmqlb or HAProxy; none
// direct), of every broker of the queue's cluster and of itself, the
// proxy's context switches, and the machine's CPU time (/proc/stat: busy,
// also with other work, and idle); the table after the throughput table
// divides them by the messages moved (confirmed plus delivered in that
// time; a mixed load's readings follow its publisher's measured time) and
// gives the machine's busy share of its CPUs, to tell whether a row was
// bound by the CPUs.
//
// With -storm N it then measures a reconnect storm: N clients connecting
// at the same moment (TCP, AMQP handshake, channel.open) through rmqlb and
// through HAProxy behind a keepalived VIP, each spreading them over the
// three brokers, and straight to broker 1, after one storm through each
// path that is not counted (a warm-up). After each storm it logs the
// kernel's TCP counters of the client and broker hosts that moved (listen
// queue overflows, SYNs sent again) and the CPU time of rmqlb, HAProxy and
// each broker.
//
// With -upgrade N it then measures what an upgrade in place of rmqlb
// (rmqlb upgrade) puts the clients and the brokers through: N clients
// connected through rmqlb, each reconnecting when its connection is
// closed, as applications do; the old process closes those left when the
// listener's graceful_timeout (-upgrade-grace) ends, in one round all at
// once (close_spread: 0s) and in the other evenly over its last
// -upgrade-spread (close_spread; by default 8 s of 10 s, rmqlb's default
// share), and beside them HAProxy in master-worker mode reloaded (SIGUSR2)
// with hard-stop-after and close-spread-time set to the same. Per round:
// how long the clients took to get back in from their close (p50, p99,
// max), failed attempts, the most that got in within one second, and the
// brokers' CPU in their busiest second and in all. -queues "" skips the
// loads.
//
// Every node runs with RabbitMQ's Erlang VM flags (its scripts' defaults,
// which turn scheduler busy waiting off) plus -broker-erl-args; the
// busy-wait thresholds the nodes' VMs got are logged and printed above the
// tables.
//
// Usage, as root from the repository root:
//
//	go run ./bench/cmd/amqp-bench -rounds 5 [-storm 2000] [-upgrade 2000]
//
// Everything it makes (namespaces, processes, files) is removed at the end,
// on error and on SIGINT/SIGTERM.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/rmqlb/rmqlb/bench/benchstat"
	"github.com/rmqlb/rmqlb/integration/netlab"
	"github.com/rmqlb/rmqlb/internal/rabbittest"
)

type options struct {
	rounds         int
	queues, loads  []string
	paths          []string
	size, window   int
	prefetch, fill int
	warmup         time.Duration
	duration       time.Duration
	storm          int
	stormRounds    int
	stormTimeout   time.Duration
	upgrade        int
	upgradeRounds  int
	upgradeGrace   time.Duration
	upgradeSpread  time.Duration
	upgradeRetry   time.Duration
	connectTimeout time.Duration
	rmqlbGlobal    string
	brokerFiles    int
	rabbitmqConf   []string
	brokerErlArgs  []string
	rmqlbBin       string
	jsonOut        string
	waitLoad       float64
	waitMax        time.Duration
	keep           bool
}

// listFlag is a comma-separated list.
type listFlag struct {
	v     *[]string
	valid []string
}

func (l listFlag) String() string {
	if l.v == nil {
		return ""
	}
	return strings.Join(*l.v, ",")
}

func (l listFlag) Set(s string) error {
	var vs []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x == "" {
			continue
		}
		if !slices.Contains(l.valid, x) {
			return fmt.Errorf("%q is not one of %s", x, strings.Join(l.valid, ", "))
		}
		vs = append(vs, x)
	}
	*l.v = vs
	return nil
}

// confFlag collects rabbitmq.conf lines.
type confFlag struct{ v *[]string }

func (c confFlag) String() string {
	if c.v == nil {
		return ""
	}
	return strings.Join(*c.v, "; ")
}
func (c confFlag) Set(s string) error { *c.v = append(*c.v, s); return nil }

// fieldsFlag is a list of words separated by white space.
type fieldsFlag struct{ v *[]string }

func (f fieldsFlag) String() string {
	if f.v == nil {
		return ""
	}
	return strings.Join(*f.v, " ")
}
func (f fieldsFlag) Set(s string) error { *f.v = strings.Fields(s); return nil }

func main() {
	o, runLoadSpec := parseFlags(os.Args[1:])
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if runLoadSpec != "" {
		var spec loadSpec
		if err := json.Unmarshal([]byte(runLoadSpec), &spec); err != nil {
			fmt.Fprintln(os.Stderr, "amqp-bench: -run-load:", err)
			os.Exit(2)
		}
		if err := runLoad(ctx, spec, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "amqp-bench:", err)
			os.Exit(1)
		}
		return
	}
	if _, err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "amqp-bench:", err)
		stop()
		os.Exit(1)
	}
}

// parseFlags returns the options that args set, and the load that
// -run-load asks for ("" for the benchmark itself).
func parseFlags(args []string) (options, string) {
	fs := flag.NewFlagSet("amqp-bench", flag.ExitOnError)
	runLoadSpec := fs.String("run-load", "", "internal: run one load (JSON) and print its result; the benchmark runs itself so in the client's namespace")
	o := options{
		queues: []string{"classic", "mirrored", "quorum"},
		loads:  []string{"write", "read", "mixed"},
		paths:  []string{"direct", "rmqlb", "haproxy"},
	}
	fs.IntVar(&o.rounds, "rounds", 5, "rounds; each runs every load through every path, in rotating order")
	fs.Var(listFlag{&o.queues, []string{"classic", "mirrored", "quorum"}}, "queues", "queues to measure: classic (no replication) and mirrored (ha-mode all) on the blog post's two nodes, quorum on three")
	fs.Var(listFlag{&o.loads, []string{"write", "read", "mixed"}}, "loads", "loads: write, read, mixed")
	fs.Var(listFlag{&o.paths, []string{"direct", "rmqlb", "haproxy"}}, "paths", "paths: direct (to broker 1), rmqlb (its VIP), haproxy (the blog post's configuration)")
	fs.IntVar(&o.size, "size", 1000, "message body in bytes (the blog post's 1000)")
	fs.IntVar(&o.window, "window", 16, "messages in flight of a publisher (unconfirmed)")
	fs.IntVar(&o.prefetch, "prefetch", 100, "consumer prefetch (basic.qos)")
	fs.IntVar(&o.fill, "fill", 50000, "messages the read load drains (50000: 2-3 s at this machine's 17000-27000 msgs/s, so that a scheduling hiccup of a few tens of ms moves a read by 1-2 %, not the several % of a 0.25 s drain)")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "write and mixed: time before measuring")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "write and mixed: measured time")
	fs.IntVar(&o.storm, "storm", 0, "after the loads, clients of a reconnect storm (0: none)")
	fs.IntVar(&o.stormRounds, "storm-rounds", 3, "rounds of the storm")
	fs.DurationVar(&o.stormTimeout, "storm-timeout", 30*time.Second, "a storm client that has not got in after this fails")
	fs.IntVar(&o.upgrade, "upgrade", 0, "after the storm, clients connected through rmqlb during an upgrade in place (0: none)")
	fs.IntVar(&o.upgradeRounds, "upgrade-rounds", 3, "rounds of the upgrade; each upgrades once with the closes at once and once spread")
	fs.DurationVar(&o.upgradeGrace, "upgrade-grace", 10*time.Second, "the listener's graceful_timeout in the upgrade")
	fs.DurationVar(&o.upgradeSpread, "upgrade-spread", 8*time.Second, "the listener's close_spread in the upgrade's spread round")
	fs.DurationVar(&o.upgradeRetry, "upgrade-retry", time.Second, "a client's pause after a failed reconnect attempt")
	fs.DurationVar(&o.connectTimeout, "connect-timeout", 2*time.Second, "rmqlb's connect_timeout to a broker")
	fs.StringVar(&o.rmqlbGlobal, "rmqlb-global", "", "YAML added at the top level of rmqlb's configuration (daemon keys, such as 'vrrp_rt_priority: 50')")
	fs.IntVar(&o.brokerFiles, "broker-files", 16384, "open-files limit of each RabbitMQ node (0: inherited)")
	fs.Var(confFlag{&o.rabbitmqConf}, "rabbitmq-conf", "an extra rabbitmq.conf line (may be repeated)")
	fs.Var(fieldsFlag{&o.brokerErlArgs}, "broker-erl-args", "extra Erlang VM flags of every RabbitMQ node, after RabbitMQ's own (RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS), e.g. '+sbwt medium +sbwtdcpu short +sbwtdio short' for Erlang's scheduler busy waiting, which RabbitMQ's defaults turn off (empty: RabbitMQ's defaults)")
	fs.StringVar(&o.rmqlbBin, "rmqlb", "", "rmqlb binary (default: go build ./cmd/rmqlb of this module)")
	fs.StringVar(&o.jsonOut, "json", "", "also write every figure of every round to this JSON file")
	fs.Float64Var(&o.waitLoad, "wait-load", 0, "before each round, wait until the 1-minute load average is at most this (0: don't wait)")
	fs.DurationVar(&o.waitMax, "wait-max", 3*time.Minute, "longest wait for -wait-load")
	fs.BoolVar(&o.keep, "keep", false, "keep the run's directory (configurations, logs)")
	_ = fs.Parse(args)
	return o, *runLoadSpec
}

// run builds the lab, runs the benchmark o describes, writes its tables to
// w and removes the lab; it returns the run's figures (nil when the lab
// could not be built) and an error that ended it early.
func run(ctx context.Context, o options, w io.Writer) (*bench, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("needs root (network namespaces, RabbitMQ)")
	}
	if err := rabbittest.Available(); err != nil {
		return nil, err
	}
	if err := benchstat.NeedTools("ip", "haproxy", "keepalived", "go"); err != nil {
		return nil, err
	}
	if o.rounds < 1 || len(o.loads) == 0 || len(o.paths) == 0 {
		return nil, errors.New("-rounds, -loads and -paths must not be empty")
	}
	if len(o.queues) == 0 && o.storm == 0 && o.upgrade == 0 {
		return nil, errors.New("nothing to measure: -queues is empty and neither -storm nor -upgrade is set")
	}
	if o.upgrade > 0 && (o.upgradeRounds < 1 || o.upgradeSpread <= 0 || o.upgradeSpread > o.upgradeGrace) {
		return nil, fmt.Errorf("-upgrade-rounds must be at least 1 and -upgrade-spread (%v) above 0 and at most -upgrade-grace (%v)", o.upgradeSpread, o.upgradeGrace)
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if gone, err := netlab.Sweep(); len(gone) > 0 || err != nil {
		fmt.Fprintf(os.Stderr, "removed %d namespaces left by runs that died (%v)\n", len(gone), err)
	}
	b := &bench{o: o, self: self, figures: map[string][]float64{}}
	b.env, err = netlab.NewEnv("amqp-bench-", o.keep, b.logf)
	if err != nil {
		return nil, err
	}
	defer b.env.Close()
	if err := b.buildRmqlb(ctx); err != nil {
		return nil, err
	}
	t0 := time.Now()
	runErr := b.run(ctx)
	if runErr != nil {
		b.env.Fail()
	}
	b.print(w, time.Since(t0))
	if o.jsonOut != "" {
		js, err := json.MarshalIndent(map[string]any{"figures": jsonFigures(b.figures), "load_average": b.loads, "errors": b.errs}, "", "  ")
		if err == nil {
			err = os.WriteFile(o.jsonOut, append(js, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "amqp-bench: writing", o.jsonOut+":", err)
		}
	}
	return b, runErr
}

// jsonFigures is figures as JSON can hold them: a missing figure (NaN,
// which encoding/json refuses) becomes null, keeping each round's index.
func jsonFigures(figures map[string][]float64) map[string][]*float64 {
	m := make(map[string][]*float64, len(figures))
	for k, v := range figures {
		ps := make([]*float64, len(v))
		for i, x := range v {
			if !math.IsNaN(x) {
				ps[i] = &x
			}
		}
		m[k] = ps
	}
	return m
}

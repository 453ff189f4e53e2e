package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/rmqlb/rmqlb/bench/benchstat"
)

// blogRatios are the blog post's mirrored/unmirrored speeds (1000-byte
// messages): writes down to 30-40 %, reads to about 70 %, both at once to
// about half.
var blogRatios = map[string]string{"write": "0.30-0.40", "read": "~0.70", "mixed": "~0.50"}

// spread formats the median of v and its range over the rounds that have
// a figure.
func spread(v []float64) string {
	v = benchstat.Present(v)
	m, ok := benchstat.Median(v)
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%s (%s-%s)", benchstat.FormatFigure(m, true),
		benchstat.FormatFigure(slices.Min(v), true), benchstat.FormatFigure(slices.Max(v), true))
}

// print writes the tables: throughput and confirm latency per queue and
// load for each path with the ratios to direct; what a message cost each
// path; the blog post's ratios beside ours; the storm.
func (b *bench) print(w io.Writer, took time.Duration) {
	host, _ := os.Hostname()
	rounds := fmt.Sprintf("%d rounds", b.o.rounds)
	if len(b.o.queues) == 0 {
		rounds = "no loads"
	}
	fmt.Fprintf(w, "\namqp-bench: %s, %s, %d CPUs, host %s, took %s\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), rounds, runtime.NumCPU(), host, took.Round(time.Second))
	fmt.Fprintf(w, "load average at the start of each round: %s\n", strings.Join(b.loads, "; "))
	b.mu.Lock()
	if b.busyWait != "" {
		fmt.Fprintf(w, "RabbitMQ nodes' scheduler busy waiting: %s\n", b.busyWait)
	}
	b.mu.Unlock()
	if len(b.o.queues) > 0 {
		fmt.Fprintf(w, "persistent %d-byte messages, publisher confirms with %d in flight, consumer prefetch %d with an ack per message;\n"+
			"write and mixed: %v measured after %v; read: %d messages drained; figures: median (min-max) over rounds;\n"+
			"ratios: medians of the per-round ratios (each round runs every path back to back, in rotating order)\n\n",
			b.o.size, b.o.window, b.o.prefetch, b.o.duration, b.o.warmup, b.o.fill)
	}
	f := func(key string) []float64 {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.figures[key]
	}
	ratio := func(a, d string) string { return benchstat.FormatRatio(benchstat.PairedRatio(f(a), f(d))) }
	rows := [][]string{{"queue, load", "direct msgs/s", "rmqlb msgs/s", "HAProxy msgs/s", "rmqlb/direct", "HAProxy/direct",
		"confirm p50 ms direct / rmqlb / HAProxy", "rmqlb/direct p50", "confirm p99 ms direct / rmqlb / HAProxy"}}
	for _, q := range b.o.queues {
		for _, load := range b.o.loads {
			k := func(path, m string) string { return q + "/" + load + "/" + path + "/" + m }
			if len(f(k("direct", "rate"))) == 0 && len(f(k("rmqlb", "rate"))) == 0 {
				continue
			}
			lat := func(m string) string {
				if load == "read" {
					return "-"
				}
				var parts []string
				for _, p := range []string{"direct", "rmqlb", "haproxy"} {
					v, ok := benchstat.Median(f(k(p, m)))
					parts = append(parts, benchstat.FormatFigure(v, ok))
				}
				return strings.Join(parts, " / ")
			}
			p50r := "-"
			if load != "read" {
				p50r = ratio(k("rmqlb", "p50"), k("direct", "p50"))
			}
			rows = append(rows, []string{q + ", " + load, spread(f(k("direct", "rate"))), spread(f(k("rmqlb", "rate"))),
				spread(f(k("haproxy", "rate"))), ratio(k("rmqlb", "rate"), k("direct", "rate")),
				ratio(k("haproxy", "rate"), k("direct", "rate")), lat("p50"), p50r, lat("p99")})
		}
	}
	if len(rows) > 1 {
		benchstat.WriteMarkdown(w, rows)
	}
	b.printCost(w, f)

	if slices.Contains(b.o.queues, "classic") && slices.Contains(b.o.queues, "mirrored") {
		fmt.Fprintf(w, "\nmirrored / classic (the blog post's two nodes), ratios of the medians:\n\n")
		rows := [][]string{{"load", "blog post", "direct", "through rmqlb", "through HAProxy"}}
		for _, load := range b.o.loads {
			r := func(path string) string {
				m, okm := benchstat.Median(f("mirrored/" + load + "/" + path + "/rate"))
				c, okc := benchstat.Median(f("classic/" + load + "/" + path + "/rate"))
				return benchstat.FormatRatio(m/c, okm && okc && c > 0)
			}
			rows = append(rows, []string{load, blogRatios[load], r("direct"), r("rmqlb"), r("haproxy")})
		}
		benchstat.WriteMarkdown(w, rows)
	}

	if b.o.storm > 0 {
		fmt.Fprintf(w, "\nreconnect storm: %d AMQP clients at once (TCP connect, handshake, channel.open), %d rounds:\n\n", b.o.storm, b.o.stormRounds)
		rows := [][]string{{"path", "all in after s (median, min-max)", "p50 s", "p99 s", "failed (all rounds)"}}
		for _, p := range []string{"rmqlb", "haproxy+keepalived", "direct"} {
			k := "storm/" + p + "/"
			if len(f(k+"all_in")) == 0 {
				continue
			}
			failed := 0.0
			for _, v := range benchstat.Present(f(k + "failed")) {
				failed += v
			}
			p50, ok50 := benchstat.Median(f(k + "p50"))
			p99, ok99 := benchstat.Median(f(k + "p99"))
			rows = append(rows, []string{p, spread(f(k + "all_in")), benchstat.FormatFigure(p50, ok50), benchstat.FormatFigure(p99, ok99),
				fmt.Sprint(int(failed))})
		}
		benchstat.WriteMarkdown(w, rows)
	}
	b.printUpgrade(w, f)
	if len(b.errs) > 0 {
		fmt.Fprintf(w, "\nerrors (their figures are missing above):\n")
		for _, e := range b.errs {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
}

// printCost writes the cost table: per queue, load and path, the CPU time,
// the time waiting for a CPU (medians) and the proxy's context switches
// per message moved in the measured time, and how busy the machine was,
// medians (min-max) over rounds.
func (b *bench) printCost(w io.Writer, f func(string) []float64) {
	rows := [][]string{{"queue, load, path", "proxy CPU us/msg", "brokers CPU us/msg", "client CPU us/msg",
		"machine CPU us/msg", "machine busy %", "waiting for a CPU us/msg, proxy / brokers / client",
		"proxy vol. ctx sw./msg", "proxy invol. ctx sw./msg"}}
	for _, q := range b.o.queues {
		for _, load := range b.o.loads {
			for _, p := range []string{"direct", "rmqlb", "haproxy"} {
				k := q + "/" + load + "/" + p + "/"
				if len(f(k+costMachineCPU)) == 0 && len(f(k+costClientCPU)) == 0 {
					continue
				}
				var wait []string
				for _, m := range []string{costProxyWait, costBrokersWait, costClientWait} {
					v, ok := benchstat.Median(f(k + m))
					wait = append(wait, benchstat.FormatFigure(v, ok))
				}
				rows = append(rows, []string{q + ", " + load + ", " + p, spread(f(k + costProxyCPU)), spread(f(k + costBrokersCPU)),
					spread(f(k + costClientCPU)), spread(f(k + costMachineCPU)), spread(f(k + costBusy)), strings.Join(wait, " / "),
					spread(f(k + costProxyVol)), spread(f(k + costProxyInvol))})
			}
		}
	}
	if len(rows) == 1 {
		return
	}
	fmt.Fprintf(w, "\nwhat a message costs: per message moved (confirmed + delivered) in the measured time, CPU time of the path's\n"+
		"proxy, of the brokers' Erlang VMs (all of the queue's nodes), of the load's client process and of the whole machine\n"+
		"(every process, other work too, and the kernel's interrupts), the machine's busy share of its %d CPUs over that time,\n"+
		"the time the proxy's, the brokers' and the client's threads were runnable but waited for a CPU (medians) and the\n"+
		"proxy's context switches; median (min-max) over rounds:\n\n", runtime.NumCPU())
	benchstat.WriteMarkdown(w, rows)
}

// printUpgrade writes the upgrade table: per way of closing, what the
// clients and the brokers went through, median (min-max) over rounds, and
// the per-round ratios of the spread closes to those at once.
func (b *bench) printUpgrade(w io.Writer, f func(string) []float64) {
	if b.o.upgrade == 0 {
		return
	}
	fmt.Fprintf(w, "\nupgrade in place: %d AMQP clients connected through rmqlb (three brokers, round robin), then rmqlb upgrade;\n"+
		"the old process closes the clients left when its graceful_timeout of %v ends, all at once or evenly over its last %v\n"+
		"(close_spread); beside it HAProxy (master-worker) reloaded with hard-stop-after %[2]v and close-spread-time %[3]v;\n"+
		"each client reconnects when closed (TCP, handshake, channel.open; %[4]v after a failed attempt);\n"+
		"first closed: from the upgrade (or reload) to the first client's close; reconnect: from a client's close to its new\n"+
		"channel; brokers: the three Erlang VMs' CPU from the upgrade until every client was back (their idle work and the\n"+
		"proxy's health checks included: rmqlb's AMQP handshakes every 300 ms, HAProxy's TCP connects every 2 s); %d rounds, median (min-max):\n\n", b.o.upgrade, b.o.upgradeGrace, b.o.upgradeSpread, b.o.upgradeRetry, b.o.upgradeRounds)
	sum := func(key string) string {
		t := 0.0
		for _, v := range benchstat.Present(f(key)) {
			t += v
		}
		return fmt.Sprint(int(t))
	}
	rows := [][]string{{"closes", "first closed after s", "closed over s", "all back after s", "reconnect p50 ms", "reconnect p99 ms", "reconnect max ms",
		"most back in 1 s", "failed attempts (all rounds)", "not back (all rounds)", "brokers' busiest second, CPUs", "brokers' CPU s", "upgrade took ms"}}
	label := map[string]string{closeAtOnce: "rmqlb, at once (close_spread 0s)", closeSpread: fmt.Sprintf("rmqlb, close_spread %v", b.o.upgradeSpread),
		closeHAProxy: fmt.Sprintf("HAProxy reload, close-spread-time %v", b.o.upgradeSpread)}
	for _, m := range upgradeModes {
		k := "upgrade/" + m + "/"
		if len(f(k+"all_back")) == 0 {
			continue
		}
		rows = append(rows, []string{label[m], spread(f(k + "first_close")), spread(f(k + "close_span")), spread(f(k + "all_back")), spread(f(k + "p50")),
			spread(f(k + "p99")), spread(f(k + "max")), spread(f(k + "peak_second")), sum(k + "failed_attempts"), sum(k + "not_back"),
			spread(f(k + "brokers_peak")), spread(f(k + "brokers_cpu")), spread(f(k + "took"))})
	}
	benchstat.WriteMarkdown(w, rows)
	for _, than := range []string{closeAtOnce, closeHAProxy} {
		ratio := func(m string) string {
			return benchstat.FormatRatio(benchstat.PairedRatio(f("upgrade/"+closeSpread+"/"+m), f("upgrade/"+than+"/"+m)))
		}
		fmt.Fprintf(w, "\nrmqlb spread / %s, medians of the per-round ratios: reconnect p50 %s, p99 %s, max %s; most back in 1 s %s; "+
			"brokers' busiest second %s, brokers' CPU %s\n", label[than], ratio("p50"), ratio("p99"), ratio("max"), ratio("peak_second"),
			ratio("brokers_peak"), ratio("brokers_cpu"))
	}
}

package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/rmqlb/rmqlb/bench/benchstat"
)

func (b *bench) print(w io.Writer, took time.Duration) {
	host, _ := os.Hostname()
	fmt.Fprintf(w, "\nrmqlb-bench: %s, %d rounds, %d CPUs, host %s, took %s\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), b.o.rounds, runtime.NumCPU(), host, took.Round(time.Second))
	if contains(b.o.targets, "rmqlb") {
		fmt.Fprintf(w, "rmqlb: %s\n", b.rmqlbBuild)
	}
	fmt.Fprintf(w, "load average at the start of each round: %s\n", strings.Join(b.loads, "; "))
	fmt.Fprintf(w, "figures: medians over rounds; ratios: medians of the per-round ratios (each round runs every load\n"+
		"against all targets back to back); idle: growth per connection over %d idle connections, fresh process\n\n", b.o.idleConns)

	cols := []string{"direct", "rmqlb", "haproxy"}
	header := []string{"metric"}
	for _, c := range cols {
		if contains(b.o.targets, c) {
			header = append(header, c)
		}
	}
	header = append(header, "rmqlb/direct", "rmqlb/haproxy")
	rows := [][]string{header}
	for _, metric := range metricOrder {
		med := map[string]float64{}
		ok := map[string]bool{}
		for _, c := range cols {
			med[c], ok[c] = benchstat.Median(b.results[c][metric])
		}
		row := []string{metric}
		for _, c := range cols {
			if contains(b.o.targets, c) {
				row = append(row, benchstat.FormatFigure(med[c], ok[c]))
			}
		}
		rd, rdok := benchstat.PairedRatio(b.results["rmqlb"][metric], b.results["direct"][metric])
		rh, rhok := benchstat.PairedRatio(b.results["rmqlb"][metric], b.results["haproxy"][metric])
		row = append(row, benchstat.FormatRatio(rd, rdok), benchstat.FormatRatio(rh, rhok))
		rows = append(rows, row)
	}
	benchstat.WriteMarkdown(w, rows)

	fmt.Fprintf(w, "\nper round:\n")
	for _, c := range cols {
		if !contains(b.o.targets, c) {
			continue
		}
		for _, metric := range metricOrder {
			v := b.results[c][metric]
			if len(v) == 0 {
				continue
			}
			parts := make([]string, len(v))
			for i, x := range v {
				parts[i] = benchstat.FormatFigure(x, true)
			}
			fmt.Fprintf(w, "  %-8s %-38s %s\n", c, strings.TrimSpace(metric), strings.Join(parts, "  "))
		}
	}
}

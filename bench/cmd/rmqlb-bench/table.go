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

// targetColumns are the targets in the order of the table's columns.
var targetColumns = []string{"direct", "rmqlb", "haproxy", "haproxy-da"}

// keep returns the figures of v from the rounds marked in kept.
func keep(v []float64, kept []bool) []float64 {
	var out []float64
	for i, x := range v {
		if i < len(kept) && kept[i] {
			out = append(out, x)
		}
	}
	return out
}

func (b *bench) print(w io.Writer, took time.Duration) {
	host, _ := os.Hostname()
	fmt.Fprintf(w, "\nrmqlb-bench: %s, %d rounds, %d CPUs, host %s, took %s\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), b.o.rounds, runtime.NumCPU(), host, took.Round(time.Second))
	if contains(b.o.targets, "rmqlb") {
		fmt.Fprintf(w, "rmqlb: %s (event loops per listener: one per CPU, %d)\n", b.rmqlbBuild, runtime.NumCPU())
	}
	if contains(b.o.targets, "haproxy") || contains(b.o.targets, "haproxy-da") {
		fmt.Fprintf(w, "haproxy: nbthread %d (haproxy-da: the same with defer-accept on its bind lines)\n", b.o.haproxyThreads)
	}
	ending := "FIN"
	if b.o.connReset {
		ending = "reset"
	}
	fmt.Fprintf(w, "connection rate: %d workers, clients close with a %s\n", b.o.connWorkers, ending)
	kept := make([]bool, len(b.rounds))
	nkept := 0
	for i, r := range b.rounds {
		mark := "kept"
		if kept[i] = r.kept; !r.kept {
			mark = fmt.Sprintf("LEFT OUT (above -max-load %.2f)", b.o.maxLoad)
		} else {
			nkept++
		}
		fmt.Fprintf(w, "round %d: other work kept %.2f CPUs busy; load average %s at start, %s at end: %s\n",
			i+1, r.others, r.start, r.end, mark)
	}
	if nkept == 0 {
		fmt.Fprintf(w, "\nno round was quiet enough (-max-load %.2f): no table of figures and ratios; per-round figures below\n", b.o.maxLoad)
	} else {
		fmt.Fprintf(w, "figures: medians over the %d kept rounds; ratios: medians of their per-round ratios (each round runs every\n"+
			"load against all targets back to back); idle: growth per connection over %d idle connections, fresh process\n\n", nkept, b.o.idleConns)
		b.printTable(w, kept)
	}

	fmt.Fprintf(w, "\nper round (every round, kept or not):\n")
	for _, c := range targetColumns {
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
			fmt.Fprintf(w, "  %-8s %-42s %s\n", c, strings.TrimSpace(metric), strings.Join(parts, "  "))
		}
	}
}

// printTable prints the medians and ratios of the kept rounds, with each
// ratio's range over those rounds.
func (b *bench) printTable(w io.Writer, kept []bool) {
	cols := targetColumns
	header := []string{"metric"}
	for _, c := range cols {
		if contains(b.o.targets, c) {
			header = append(header, c)
		}
	}
	header = append(header, "rmqlb/direct", "rmqlb/haproxy", "rmqlb/haproxy min-max")
	rows := [][]string{header}
	for _, metric := range metricOrder {
		med := map[string]float64{}
		ok := map[string]bool{}
		for _, c := range cols {
			med[c], ok[c] = benchstat.Median(keep(b.results[c][metric], kept))
		}
		row := []string{metric}
		for _, c := range cols {
			if contains(b.o.targets, c) {
				row = append(row, benchstat.FormatFigure(med[c], ok[c]))
			}
		}
		rm, hp := keep(b.results["rmqlb"][metric], kept), keep(b.results["haproxy"][metric], kept)
		rd, rdok := benchstat.PairedRatio(rm, keep(b.results["direct"][metric], kept))
		rh, rhok := benchstat.PairedRatio(rm, hp)
		lo, hi, rangeOK := ratioRange(rm, hp)
		rng := "-"
		if rangeOK {
			rng = fmt.Sprintf("%.2f-%.2f", lo, hi)
		}
		row = append(row, benchstat.FormatRatio(rd, rdok), benchstat.FormatRatio(rh, rhok), rng)
		rows = append(rows, row)
	}
	benchstat.WriteMarkdown(w, rows)
}

// ratioRange is the smallest and largest per-round ratio a[i]/b[i].
func ratioRange(a, b []float64) (lo, hi float64, ok bool) {
	for i := range min(len(a), len(b)) {
		if b[i] == 0 {
			continue
		}
		r := a[i] / b[i]
		if !ok || r < lo {
			lo = r
		}
		if !ok || r > hi {
			hi = r
		}
		ok = true
	}
	return lo, hi, ok
}

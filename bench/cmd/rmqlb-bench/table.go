package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

func median(v []float64) (float64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2], true
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2, true
}

func fmtFig(v float64, ok bool) string {
	if !ok {
		return "-"
	}
	switch {
	case v == 0:
		return "0"
	case v < 1:
		return fmt.Sprintf("%.3f", v)
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// pairedRatio is the median over rounds of a[i]/b[i]: each round's figures
// are taken seconds apart, so their ratio is robust to the machine's load
// drifting between rounds, which a ratio of medians is not.
func pairedRatio(a, b []float64) (float64, bool) {
	n := min(len(a), len(b))
	rs := make([]float64, 0, n)
	for i := range n {
		if b[i] != 0 {
			rs = append(rs, a[i]/b[i])
		}
	}
	return median(rs)
}

func fmtRatio(v float64, ok bool) string {
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}

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
			med[c], ok[c] = median(b.results[c][metric])
		}
		row := []string{metric}
		for _, c := range cols {
			if contains(b.o.targets, c) {
				row = append(row, fmtFig(med[c], ok[c]))
			}
		}
		rd, rdok := pairedRatio(b.results["rmqlb"][metric], b.results["direct"][metric])
		rh, rhok := pairedRatio(b.results["rmqlb"][metric], b.results["haproxy"][metric])
		row = append(row, fmtRatio(rd, rdok), fmtRatio(rh, rhok))
		rows = append(rows, row)
	}
	writeMarkdown(w, rows)

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
				parts[i] = fmtFig(x, true)
			}
			fmt.Fprintf(w, "  %-8s %-38s %s\n", c, strings.TrimSpace(metric), strings.Join(parts, "  "))
		}
	}
}

// writeMarkdown prints rows as an aligned Markdown table (first row = header).
func writeMarkdown(w io.Writer, rows [][]string) {
	width := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], len(c))
		}
	}
	line := func(r []string) {
		var sb strings.Builder
		sb.WriteString("|")
		for i, c := range r {
			if i == 0 {
				fmt.Fprintf(&sb, " %-*s |", width[i], c)
			} else {
				fmt.Fprintf(&sb, " %*s |", width[i], c)
			}
		}
		fmt.Fprintln(w, sb.String())
	}
	line(rows[0])
	sep := make([]string, len(width))
	for i := range sep {
		sep[i] = strings.Repeat("-", width[i])
	}
	line(sep)
	for _, r := range rows[1:] {
		line(r)
	}
}

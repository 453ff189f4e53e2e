package vrrpsoak

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// WriteTable writes results as a Markdown table, one row per result.
func WriteTable(w io.Writer, results []Result) error {
	header := []string{"impl", "advert", "load", "window", "state changes", "backup took over (wire)",
		"send jitter p50 / p99 / max (ms)", "longest gap at a backup (ms)", "gaps > 2x / > master down",
		"master CPU % (real-time threads)", "backup CPU % (each)", "master RSS MiB", "GC/s", "bulk Gbit/s", "conn/s", "load avg start / end", "master's real-time threads", "rmqlb adverts late > 1 / 5 / 10 ms (stepped by its loop, or sent by its sender process)"}
	rows := [][]string{header}
	for _, r := range results {
		load := strings.Join(r.Load, "+")
		if load == "" {
			load = "none"
		}
		cpu := fmt.Sprintf("%.2f (%.2f)", r.MasterCPU, r.RealTimeCPU)
		backup := fmt.Sprintf("%.2f", r.BackupCPU)
		if r.VRRPProcessChanged {
			cpu, backup = "not measured: a VRRP process changed", "not measured"
		}
		if r.VRRPRestarts > 0 {
			cpu += fmt.Sprintf(" (%d VRRP process restarts)", r.VRRPRestarts)
		}
		if r.ProxyCPU > 0 {
			cpu += fmt.Sprintf(" (+ HAProxy %.0f)", r.ProxyCPU)
		}
		rss := fmt.Sprintf("%.1f", float64(r.MasterRSSKiB)/1024)
		switch {
		case r.SenderRestarted:
			cpu += " + sender (restarted: not measured)"
		case r.SenderRSSKiB > 0:
			cpu += fmt.Sprintf(" + sender %.2f", r.SenderCPU)
		}
		if r.SenderRSSKiB > 0 {
			rss += fmt.Sprintf(" + sender %.1f", float64(r.SenderRSSKiB)/1024)
		}
		sched := r.Scheduling
		if r.SenderScheduling != "" {
			sched += "; sender: " + r.SenderScheduling
		}
		t := r.Timing
		rows = append(rows, []string{
			r.Impl, r.Interval.String(), load, r.End.Sub(r.Start).Round(time.Second).String(),
			fmt.Sprint(r.Transitions), fmt.Sprint(t.ForeignMasters),
			fmt.Sprintf("%s / %s / %s", ms(t.JitterP50), ms(t.JitterP99), ms(t.JitterMax)),
			fmt.Sprintf("%s (%s)", ms(t.MaxGap), t.MaxGapHost),
			fmt.Sprintf("%d / %d", t.LateGaps, t.DownGaps),
			cpu, backup, rss, gc(r),
			fmt.Sprintf("%.2f", r.BulkGbps), fmt.Sprintf("%.0f", r.ConnPerSecond),
			r.LoadAvgStart + " / " + r.LoadAvgEnd, sched, lateCell(r),
		})
	}
	return writeMarkdown(w, rows)
}

// WriteCuts writes the link cuts of results as a Markdown table: median
// and max of the client's outages per implementation.
func WriteCuts(w io.Writer, results []Result) error {
	rows := [][]string{{"impl", "advert", "cuts", "outage median (ms)", "outage max (ms)", "all (ms)"}}
	for _, r := range results {
		if len(r.Cuts) == 0 && r.CutsError == "" {
			continue
		}
		row := []string{r.Impl, r.Interval.String(), fmt.Sprint(len(r.Cuts)), "-", "-", ""}
		if len(r.Cuts) > 0 {
			cs := slices.Clone(r.Cuts)
			slices.Sort(cs)
			var all []string
			for _, c := range r.Cuts {
				all = append(all, ms(c))
			}
			row[3], row[4], row[5] = ms(median(cs)), ms(cs[len(cs)-1]), strings.Join(all, " ")
		}
		switch {
		case r.CutsError != "" && row[5] != "":
			row[5] += "; then stopped: " + r.CutsError
		case r.CutsError != "":
			row[5] = "stopped: " + r.CutsError
		}
		rows = append(rows, row)
	}
	return writeMarkdown(w, rows)
}

// median returns the median of sorted ds (the mean of the middle two for
// an even count).
func median(ds []time.Duration) time.Duration {
	n := len(ds)
	if n%2 == 1 {
		return ds[n/2]
	}
	return (ds[n/2-1] + ds[n/2]) / 2
}

func gc(r Result) string {
	if _, ok := rmqlbLate(r.Impl); !ok {
		return "-"
	}
	return fmt.Sprintf("%.1f (pause max %s ms)", r.GCPerSecond, ms(r.GCPauseMax))
}

// ms formats d in milliseconds with up to two decimals.
func ms(d time.Duration) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", float64(d)/1e6), "0"), ".")
}

// writeMarkdown writes rows (the first is the header) with padded columns.
func writeMarkdown(w io.Writer, rows [][]string) error {
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len(c))
		}
	}
	var b strings.Builder
	line := func(cells []string) {
		b.WriteString("|")
		for i, c := range cells {
			fmt.Fprintf(&b, " %-*s |", widths[i], c)
		}
		b.WriteString("\n")
	}
	line(rows[0])
	sep := make([]string, len(widths))
	for i, w := range widths {
		sep[i] = strings.Repeat("-", w)
	}
	line(sep)
	for _, r := range rows[1:] {
		line(r)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// lateCell formats Result.LateSteps ("-" for keepalived).
func lateCell(r Result) string {
	if len(r.LateSteps) == 0 {
		return "-"
	}
	var parts []string
	for _, n := range r.LateSteps {
		parts = append(parts, fmt.Sprint(n))
	}
	return strings.Join(parts, " / ")
}

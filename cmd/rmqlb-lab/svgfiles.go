package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// timelineOf returns the lab's records over [from, to) as an SVG timeline.
func (l *lab) timelineOf(title, subtitle string, from, to time.Time, marks []svgMark) svgTimeline {
	confirms, deliveries := l.tally.series()
	var backends []string
	for _, b := range l.layout.Brokers {
		backends = append(backends, b.Name)
	}
	return svgTimeline{
		Title: title, Subtitle: subtitle, From: from, To: to,
		Confirms: confirms, Deliveries: deliveries,
		VIP: l.vips.changes(), Backends: backends, Checks: l.states.changes(),
		Marks: marks,
	}
}

// writeSVG writes t to dir/name.svg and says so.
func (l *lab) writeSVG(name string, t svgTimeline) {
	dir := l.opts.svgDir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		l.progress.Logf("SVG: %v", err)
		return
	}
	path := filepath.Join(dir, name+".svg")
	f, err := os.Create(path)
	if err == nil {
		err = t.Write(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		l.progress.Logf("SVG %s: %v", path, err)
		return
	}
	l.progress.Logf("timeline written to %s", path)
}

// writeSoakSVGs writes one timeline per row of the soak: its cycle with the
// longest outage, from 5 s before the fault to the cycle's end.
func (l *lab) writeSoakSVGs(results []*cycleResult) {
	for _, row := range rowsOf(results, func(r *cycleResult) string { return r.Row }) {
		var worst *cycleResult
		for _, c := range row.cycles {
			if c.FaultAt.IsZero() || c.End.IsZero() {
				continue
			}
			if worst == nil || cycleOutage(c) > cycleOutage(worst) {
				worst = c
			}
		}
		if worst == nil {
			continue
		}
		roles := ""
		if len(worst.Roles) > 0 {
			roles = " (" + strings.Join(worst.Roles, ", ") + ")"
		}
		title := fmt.Sprintf("%s on %s%s: %s", worst.Fault, worst.Target, roles, faultDesc(worst.Fault))
		subtitle := fmt.Sprintf("%s, cycle %d of %d (the longest outage); %s; clients %s; RabbitMQ %s settings; %s",
			row.name, worst.Cycle, len(row.cycles), l.layout.Topology, worst.Client, l.settings.Name, worst.FaultAt.UTC().Format("2006-01-02"))
		marks := []svgMark{{worst.FaultAt, worst.Fault + " on " + worst.Target}, {worst.RestoreAt, "repair"}}
		l.writeSVG(fileName(row.name), l.timelineOf(title, subtitle, worst.FaultAt.Add(-5*time.Second), worst.End, marks))
	}
}

// writeStepSVGs writes one timeline per step of the demo's scenario.
func (l *lab) writeStepSVGs() {
	for i, r := range l.results {
		if r.Start.IsZero() || r.End.IsZero() {
			continue
		}
		title := fmt.Sprintf("step %d: %s", i+1, r.Name)
		subtitle := fmt.Sprintf("%s; %s queue; clients through the VIP; RabbitMQ %s; %s", l.layout.Topology, l.opts.queueType,
			l.settings.Name, r.Start.UTC().Format("2006-01-02"))
		l.writeSVG(fmt.Sprintf("step%d-%s", i+1, fileName(r.Name)), l.timelineOf(title, subtitle, r.Start.Add(-2*time.Second), r.End,
			[]svgMark{{r.Start, r.Name}}))
	}
}

// cycleOutage is the cycle's longest outage of either client.
func cycleOutage(c *cycleResult) time.Duration {
	return max(c.ProducerOutage, c.ConsumerOutage, c.ProducerOutageRestore, c.ConsumerOutageRestore)
}

var unsafeName = regexp.MustCompile(`[^a-z0-9]+`)

// fileName makes a file name out of a label.
func fileName(s string) string {
	return strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(s), "-"), "-")
}

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// soakRow gathers the cycles of one table row.
type soakRow struct {
	name   string
	cycles []*cycleResult
}

// rowsOf groups results by key, in the order keys first appear.
func rowsOf(results []*cycleResult, key func(*cycleResult) string) []*soakRow {
	var rows []*soakRow
	byName := map[string]*soakRow{}
	for _, r := range results {
		k := key(r)
		if k == "" {
			continue
		}
		row := byName[k]
		if row == nil {
			row = &soakRow{name: k}
			byName[k] = row
			rows = append(rows, row)
		}
		row.cycles = append(row.cycles, r)
	}
	return rows
}

// medMax formats the median and the maximum of f over the cycles, "-"
// when no cycle has a value.
func medMax(cs []*cycleResult, f func(*cycleResult) time.Duration) string {
	var ds []time.Duration
	for _, c := range cs {
		if d := f(c); d > 0 {
			ds = append(ds, d)
		}
	}
	if len(ds) == 0 {
		return "-"
	}
	slices.Sort(ds)
	med := ds[len(ds)/2]
	if len(ds)%2 == 0 {
		med = (ds[len(ds)/2-1] + ds[len(ds)/2]) / 2
	}
	return fmt.Sprintf("%s / %s", secs(med), secs(ds[len(ds)-1]))
}

// secs formats d in seconds with two decimals.
func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

// soakTable renders the soak's results as Markdown tables: one row per
// fault, then the link cuts by where the queue's leader was.
func soakTable(results []*cycleResult, checks checkSettings) string {
	var b strings.Builder
	b.WriteString("| fault | cycles | producer outage (median / max) | consumer outage (median / max) | after the repair, producer / consumer (max) | longest delivery delay (median / max) | confirmed | lost | duplicates | reconnects producer / consumer | VIP moves | frozen broker out of rotation (median / max) | errors, RabbitMQ partitions, false DOWNs |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, row := range rowsOf(results, func(r *cycleResult) string { return r.Row }) {
		writeRow(&b, row.name, row.cycles)
	}
	cuts := rowsOf(results, func(r *cycleResult) string {
		if !strings.HasPrefix(r.Fault, "cut-") {
			return ""
		}
		where := "queue leader elsewhere"
		if slices.Contains(r.Roles, "queue leader") {
			where = "queue leader behind the cut"
		}
		return r.Fault + ", " + where
	})
	if len(cuts) > 0 {
		b.WriteString("\nLink cuts by where the queue's leader (master) was:\n\n")
		b.WriteString("| link cut | cycles | producer outage (median / max) | consumer outage (median / max) | lost |\n")
		b.WriteString("| --- | --- | --- | --- | --- |\n")
		for _, row := range cuts {
			lost := 0
			for _, c := range row.cycles {
				lost += c.Lost
			}
			fmt.Fprintf(&b, "| %s | %d | %s | %s | %d |\n", row.name, len(row.cycles),
				medMax(row.cycles, func(c *cycleResult) time.Duration { return c.ProducerOutage }),
				medMax(row.cycles, func(c *cycleResult) time.Duration { return c.ConsumerOutage }), lost)
		}
	}
	fmt.Fprintf(&b, "\nChecks: interval %v, timeout %v, fall %d, rise %d: a frozen broker is out of rotation within %v by the checks' schedule.\n",
		checks.Interval, checks.Timeout, checks.Fall, checks.Rise, checks.DownBound())
	return b.String()
}

func writeRow(b *strings.Builder, name string, cs []*cycleResult) {
	var confirmed, lost, dups, pr, cr, vip, errs, parts, stopped int
	var falseDowns []string
	for _, c := range cs {
		confirmed += c.Confirmed
		lost += c.Lost
		dups += c.Duplicates
		pr += c.ProdReconnects
		cr += c.ConsReconnects
		vip += c.VIPTransitions
		if len(c.Errors) > 0 {
			errs++
		}
		if c.PartitionsLeft != "" {
			parts++
		}
		if c.AppsLeftStopped != "" {
			stopped++
		}
		falseDowns = append(falseDowns, c.FalseDowns...)
	}
	var notes []string
	if errs > 0 {
		notes = append(notes, fmt.Sprintf("%d cycles with errors", errs))
	}
	if parts > 0 {
		notes = append(notes, fmt.Sprintf("%d partitions RabbitMQ did not heal (app restarted)", parts))
	}
	if stopped > 0 {
		notes = append(notes, fmt.Sprintf("%d cycles RabbitMQ left an application stopped (started)", stopped))
	}
	if len(falseDowns) > 0 {
		notes = append(notes, fmt.Sprintf("false DOWN: %s", strings.Join(falseDowns, " ")))
	}
	if len(notes) == 0 {
		notes = []string{"-"}
	}
	fmt.Fprintf(b, "| %s | %d | %s | %s | %s / %s | %s | %d | %d | %d | %d / %d | %d | %s | %s |\n",
		name, len(cs),
		medMax(cs, func(c *cycleResult) time.Duration { return c.ProducerOutage }),
		medMax(cs, func(c *cycleResult) time.Duration { return c.ConsumerOutage }),
		maxOf(cs, func(c *cycleResult) time.Duration { return c.ProducerOutageRestore }),
		maxOf(cs, func(c *cycleResult) time.Duration { return c.ConsumerOutageRestore }),
		medMax(cs, func(c *cycleResult) time.Duration { return c.DeliveryDelay }),
		confirmed, lost, dups, pr, cr, vip,
		medMax(cs, func(c *cycleResult) time.Duration { return c.OutOfRotation }), strings.Join(notes, "; "))
}

func maxOf(cs []*cycleResult, f func(*cycleResult) time.Duration) string {
	var m time.Duration
	for _, c := range cs {
		m = max(m, f(c))
	}
	return secs(m)
}

// soakReport is the JSON the soak writes with -json.
type soakReport struct {
	Date     time.Time `json:"date"`
	Host     string    `json:"host"`
	LoadAvg  string    `json:"loadavg_at_end"`
	Topology string    `json:"topology"`
	Settings string    `json:"rabbitmq_settings"`
	Clients  string    `json:"clients"`
	Checks   string    `json:"checks"`
	// OutOfRotationBound is the checks' bound on a frozen broker's time in
	// rotation (checkSettings.DownBound).
	OutOfRotationBound time.Duration  `json:"out_of_rotation_bound_ns"`
	Cycles             []*cycleResult `json:"cycles"`
	Totals             totals         `json:"totals"`
	// LostOutsideCycles counts the lost messages confirmed outside any
	// cycle (in no cycle's Lost).
	LostOutsideCycles int `json:"lost_outside_cycles"`
}

func writeSoakJSON(path string, l *lab, results []*cycleResult, t totals, lostOutside int) error {
	host, _ := os.Hostname()
	load, _ := os.ReadFile("/proc/loadavg")
	c := l.layout.Checks
	rep := soakReport{
		Date: time.Now().UTC(), Host: host, LoadAvg: strings.TrimSpace(string(load)),
		Topology: string(l.layout.Topology), Settings: l.settings.String(), Clients: l.clientDesc(),
		Checks:             fmt.Sprintf("interval %v, timeout %v, fall %d, rise %d", c.Interval, c.Timeout, c.Fall, c.Rise),
		OutOfRotationBound: c.DownBound(), Cycles: results, Totals: t, LostOutsideCycles: lostOutside,
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

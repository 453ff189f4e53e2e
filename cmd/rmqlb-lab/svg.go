package main

import (
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/rmqlb/rmqlb/backend"
)

// svgTimeline is what one SVG timeline shows over [From, To): confirms and
// first deliveries per bin, the host holding the VIP, each backend's check
// state as the VIP holder's rmqlb sees it, and marks (the fault, the repair).
type svgTimeline struct {
	// Title and Subtitle head the drawing, one line each.
	Title, Subtitle string
	From, To        time.Time
	// Bin is the width of one bar of the message series; 0 means 100 ms.
	Bin                  time.Duration
	Confirms, Deliveries []time.Time
	// VIP is the history of the VIP's holders (the last change before From
	// gives the state at From).
	VIP []vipChange
	// Backends are the brokers, in lane order; Checks the history of every
	// daemon's view of every check.
	Backends []string
	Checks   []checkChange
	Marks    []svgMark
}

// svgMark is a vertical line across the timeline with a label.
type svgMark struct {
	At    time.Time
	Label string
}

// Geometry of the drawing, in SVG user units.
const (
	svgWidth   = 1000
	svgLeft    = 150 // labels
	svgRight   = 20
	svgTop     = 56
	svgChartH  = 70 // each of the two message series
	svgChartG  = 14
	svgLaneH   = 18
	svgLaneGap = 6
)

var hostColours = []string{"#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"}

var stateColours = map[string]string{
	backend.Up.String():       "#2ca02c",
	backend.Down.String():     "#d62728",
	backend.Degraded.String(): "#ffbf00",
	backend.Drain.String():    "#17becf",
	backend.Maint.String():    "#7f7f7f",
}

// bins counts the times of ts in consecutive bins of width bin from from
// to to.
func bins(ts []time.Time, from, to time.Time, bin time.Duration) []int {
	n := int((to.Sub(from) + bin - 1) / bin)
	if n < 1 {
		n = 1
	}
	out := make([]int, n)
	for _, t := range ts {
		if t.Before(from) || !t.Before(to) {
			continue
		}
		out[int(t.Sub(from)/bin)]++
	}
	return out
}

// segment is a stretch of a lane with one value.
type segment struct {
	From, To time.Time
	Value    string
}

// seriesScale is the top of a series' axis: twice its 95th percentile of
// the non-empty bins, at least 1, so that the steady rate stays readable
// beside a burst (a backlog delivered at once); bins above it are clipped
// and labelled.
func seriesScale(counts []int) int {
	var nz []int
	peak := 0
	for _, n := range counts {
		if n > 0 {
			nz = append(nz, n)
		}
		peak = max(peak, n)
	}
	if len(nz) == 0 {
		return 1
	}
	slices.Sort(nz)
	return max(1, min(peak, 2*nz[len(nz)*95/100]))
}

// vipSegments turns the VIP's history into segments over [from, to): the
// holder's name, "none", or "A+B" when several hold it.
func vipSegments(hist []vipChange, from, to time.Time) []segment {
	value := func(hs []string) string {
		if len(hs) == 0 {
			return "none"
		}
		return strings.Join(hs, "+")
	}
	return stepSegments(len(hist), func(i int) (time.Time, string) { return hist[i].At, value(hist[i].Holders) }, from, to)
}

// stepSegments turns n changes (at(i) gives the time and the new value,
// in time order) into the segments of a step function over [from, to);
// before the first change the value is "".
func stepSegments(n int, at func(int) (time.Time, string), from, to time.Time) []segment {
	var segs []segment
	cur, start := "", from
	for i := 0; i < n; i++ {
		t, v := at(i)
		if !t.After(from) {
			cur = v
			continue
		}
		if !t.Before(to) {
			break
		}
		if v == cur {
			continue
		}
		segs = append(segs, segment{start, t, cur})
		cur, start = v, t
	}
	return append(segs, segment{start, to, cur})
}

// backendSegments returns backend's check state, as the daemon on the host
// holding the VIP alone sees it, as segments over [from, to) ("" where no
// single host holds the VIP or its daemon reports nothing).
func backendSegments(backend string, vip []vipChange, checks []checkChange, from, to time.Time) []segment {
	type ev struct {
		at     time.Time
		holder *string
		host   string
		state  string
	}
	var evs []ev
	for _, v := range vip {
		h := ""
		if len(v.Holders) == 1 {
			h = v.Holders[0]
		}
		evs = append(evs, ev{at: v.At, holder: &h})
	}
	for _, c := range checks {
		if c.Backend == backend {
			evs = append(evs, ev{at: c.At, host: c.Host, state: c.State})
		}
	}
	slices.SortStableFunc(evs, func(a, b ev) int { return a.at.Compare(b.at) })
	holder, seen := "", map[string]string{}
	values := make([]string, len(evs))
	for i, e := range evs {
		if e.holder != nil {
			holder = *e.holder
		} else {
			seen[e.host] = e.state
		}
		values[i] = seen[holder]
		if holder == "" {
			values[i] = ""
		}
	}
	return stepSegments(len(evs), func(i int) (time.Time, string) { return evs[i].at, values[i] }, from, to)
}

// tickStep picks a step for the time axis giving at most 15 ticks.
func tickStep(span time.Duration) time.Duration {
	for _, s := range []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 20 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute} {
		if span/s <= 15 {
			return s
		}
	}
	return 10 * time.Minute
}

// Write renders the timeline as a standalone SVG document.
func (s svgTimeline) Write(w io.Writer) error {
	bin := s.Bin
	if bin <= 0 {
		bin = 100 * time.Millisecond
	}
	if !s.To.After(s.From) {
		return fmt.Errorf("writing SVG timeline: empty time range")
	}
	plotW := float64(svgWidth - svgLeft - svgRight)
	span := s.To.Sub(s.From)
	x := func(t time.Time) float64 {
		f := float64(t.Sub(s.From)) / float64(span)
		return float64(svgLeft) + min(max(f, 0), 1)*plotW
	}
	lanes := 1 + len(s.Backends)
	laneTop := svgTop + 2*(svgChartH+svgChartG) + 16
	height := laneTop + lanes*(svgLaneH+svgLaneGap) + 50

	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n", svgWidth, height, svgWidth, height)
	p(`<rect x="0" y="0" width="%d" height="%d" fill="white"/>`+"\n", svgWidth, height)
	p(`<text x="10" y="18" font-size="14" font-weight="bold">%s</text>`+"\n", esc(s.Title))
	p(`<text x="10" y="34" fill="#444">%s</text>`+"\n", esc(s.Subtitle))

	// The message series, one panel each, bars of one bin.
	series := func(panel int, id, colour, label, who string, counts []int) {
		top := svgTop + panel*(svgChartH+svgChartG)
		base := top + svgChartH
		scale := seriesScale(counts)
		y := func(n int) float64 { return float64(base) - float64(min(n, scale))/float64(scale)*float64(svgChartH-8) }
		var pts []string
		for i, n := range counts {
			x0 := x(s.From.Add(time.Duration(i) * bin))
			x1 := x(s.From.Add(time.Duration(i+1) * bin))
			pts = append(pts, fmt.Sprintf("%.1f,%.1f %.1f,%.1f", x0, y(n), x1, y(n)))
		}
		p(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999"/>`, svgLeft, base, svgWidth-svgRight, base)
		p(`<text x="%d" y="%d" text-anchor="end" fill="%s">%s</text>`, svgLeft-6, top+svgChartH/2-6, colour, esc(label))
		p(`<text x="%d" y="%d" text-anchor="end" fill="%s">%s per %v</text>`, svgLeft-6, top+svgChartH/2+8, colour, esc(who), bin)
		p(`<text x="%d" y="%.1f" font-size="9" fill="#666">%d</text>`, svgLeft+2, y(scale)+3, scale)
		p(`<polyline id="%s" fill="none" stroke="%s" stroke-width="1.3" points="%s"><title>%s per %v</title></polyline>`+"\n",
			id, colour, strings.Join(pts, " "), esc(label), bin)
		// Bins above the scale are drawn at its top, with their count.
		for i, n := range counts {
			if n > scale {
				p(`<text x="%.1f" y="%d" font-size="9" fill="%s">%d</text>`, x(s.From.Add(time.Duration(i)*bin))+2, top+6, colour, n)
			}
		}
	}
	series(0, "confirms", "#1f77b4", "confirms", "producer,", bins(s.Confirms, s.From, s.To, bin))
	series(1, "deliveries", "#2ca02c", "new deliveries", "consumer,", bins(s.Deliveries, s.From, s.To, bin))

	// Lanes: the VIP's holder, then each backend's check state.
	colourOf := map[string]string{}
	for i, h := range s.Backends {
		colourOf[h] = hostColours[i%len(hostColours)]
	}
	lane := func(i int, id, label string, segs []segment, colour func(string) string) {
		top := laneTop + i*(svgLaneH+svgLaneGap)
		p(`<g id="%s">`, id)
		p(`<text x="%d" y="%d" text-anchor="end">%s</text>`, svgLeft-4, top+svgLaneH-5, esc(label))
		for _, sg := range segs {
			x0, x1 := x(sg.From), x(sg.To)
			v := sg.Value
			if v == "" {
				v = "unknown"
			}
			p(`<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"><title>%s</title></rect>`,
				x0, top, max(x1-x0, 0.5), svgLaneH, colour(sg.Value), esc(v))
			if x1-x0 > 40 {
				p(`<text x="%.1f" y="%d" fill="white">%s</text>`, x0+3, top+svgLaneH-5, esc(v))
			}
		}
		p("</g>\n")
	}
	lane(0, "vip", "VIP owner", vipSegments(s.VIP, s.From, s.To), func(v string) string {
		if c, ok := colourOf[v]; ok {
			return c
		}
		if v == "none" {
			return "#d62728"
		}
		return "#bbbbbb"
	})
	for i, be := range s.Backends {
		lane(i+1, "backend-"+be, "check of "+be, backendSegments(be, s.VIP, s.Checks, s.From, s.To), func(v string) string {
			if c, ok := stateColours[v]; ok {
				return c
			}
			return "#bbbbbb"
		})
	}

	// Time axis.
	bottom := laneTop + lanes*(svgLaneH+svgLaneGap)
	step := tickStep(span)
	p(`<g id="time-axis" fill="#444">`)
	for t := time.Duration(0); t <= span; t += step {
		xt := x(s.From.Add(t))
		p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`, xt, svgTop, xt, bottom)
		p(`<text x="%.1f" y="%d" text-anchor="middle">+%gs</text>`, xt, bottom+14, t.Seconds())
	}
	p("</g>\n")

	// Marks.
	for i, m := range s.Marks {
		if m.At.Before(s.From) || m.At.After(s.To) {
			continue
		}
		xm := x(m.At)
		p(`<g class="mark" id="mark-%d"><line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="black" stroke-dasharray="4,3"/>`, i, xm, svgTop-6, xm, bottom)
		p(`<text x="%.1f" y="%d">%s</text></g>`+"\n", xm+3, svgTop-4, esc(m.Label))
	}
	p(`<text x="%d" y="%d" fill="#444">UP green, DOWN red, unknown grey (no single VIP owner, or its rmqlb not answering); time from %s</text>`+"\n",
		svgLeft, bottom+32, s.From.UTC().Format("2006-01-02 15:04:05 UTC"))
	p("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// esc escapes text for XML character data and attributes.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

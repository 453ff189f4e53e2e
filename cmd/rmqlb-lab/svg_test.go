package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
)

// svgElement is an element of a parsed SVG document.
type svgElement struct {
	name  string
	attrs map[string]string
	text  string
}

// parseSVG decodes the whole document with encoding/xml, failing t on any
// syntax error (well-formedness), and returns its elements in order.
func parseSVG(t *testing.T, doc []byte) []svgElement {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	var els []svgElement
	var stack []int
	root := ""
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, doc)
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tk.Name.Local
				if tk.Name.Space != "http://www.w3.org/2000/svg" {
					t.Errorf("root element in namespace %q, want the SVG namespace", tk.Name.Space)
				}
			}
			e := svgElement{name: tk.Name.Local, attrs: map[string]string{}}
			for _, a := range tk.Attr {
				e.attrs[a.Name.Local] = a.Value
			}
			els = append(els, e)
			stack = append(stack, len(els)-1)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				els[stack[len(stack)-1]].text += string(tk)
			}
		}
	}
	if root != "svg" {
		t.Fatalf("root element %q, want svg", root)
	}
	if len(stack) != 0 {
		t.Fatalf("%d elements left open", len(stack))
	}
	return els
}

func byID(els []svgElement, id string) (svgElement, bool) {
	for _, e := range els {
		if e.attrs["id"] == id {
			return e, true
		}
	}
	return svgElement{}, false
}

// polylineYs returns the distinct y values of a step polyline, per point
// pair (one per bin).
func polylineYs(t *testing.T, points string) []float64 {
	t.Helper()
	f := strings.Fields(points)
	var ys []float64
	for i := 0; i < len(f); i += 2 {
		_, y, ok := strings.Cut(f[i], ",")
		if !ok {
			t.Fatalf("bad point %q", f[i])
		}
		v, err := strconv.ParseFloat(y, 64)
		if err != nil {
			t.Fatal(err)
		}
		ys = append(ys, v)
	}
	return ys
}

func TestSVGTimeline(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	var confirms, deliveries []time.Time
	for ms := 0; ms < 1000; ms += 50 { // 2 per 100 ms, then a stall
		confirms = append(confirms, at(ms))
		deliveries = append(deliveries, at(ms+10))
	}
	confirms = append(confirms, at(3000), at(3010), at(3020)) // 3 in one bin after the stall
	tl := svgTimeline{
		Title: `cut-owner <rmq1> & "co"`, From: t0, To: at(4000),
		Confirms: confirms, Deliveries: deliveries,
		VIP: []vipChange{
			{At: t0.Add(-time.Minute), Holders: []string{"rmq1"}},
			{At: at(1100), Holders: nil},
			{At: at(1400), Holders: []string{"rmq2"}},
		},
		Backends: []string{"rmq1", "rmq2"},
		Checks: []checkChange{
			{At: t0.Add(-time.Minute), Host: "rmq1", Backend: "rmq1", State: "UP"},
			{At: t0.Add(-time.Minute), Host: "rmq2", Backend: "rmq1", State: "UP"},
			{At: t0.Add(-time.Minute), Host: "rmq2", Backend: "rmq2", State: "UP"},
			{At: at(2000), Host: "rmq2", Backend: "rmq1", State: "DOWN"},
		},
		Marks: []svgMark{{at(1000), "link of rmq1 cut"}, {at(3500), "repair"}},
	}
	var buf bytes.Buffer
	if err := tl.Write(&buf); err != nil {
		t.Fatal(err)
	}
	els := parseSVG(t, buf.Bytes())

	for _, id := range []string{"confirms", "deliveries", "vip", "backend-rmq1", "backend-rmq2", "time-axis", "mark-0", "mark-1"} {
		if _, ok := byID(els, id); !ok {
			t.Errorf("no element with id %q", id)
		}
	}
	c, _ := byID(els, "confirms")
	ys := polylineYs(t, c.attrs["points"])
	if len(ys) != 40 {
		t.Fatalf("confirms: %d bins, want 40 (4 s of 100 ms)", len(ys))
	}
	// Bins 0-9 hold 2 confirms, 10-29 none, 30 three (the peak, highest
	// point: smallest y), 31-39 none.
	if !(ys[30] < ys[0] && ys[0] < ys[15] && ys[15] == ys[39]) {
		t.Errorf("confirm series does not follow the data: bin0 %v, bin15 %v, bin30 %v, bin39 %v", ys[0], ys[15], ys[30], ys[39])
	}
	var texts []string
	for _, e := range els {
		if e.name == "text" {
			texts = append(texts, e.text)
		}
	}
	all := strings.Join(texts, "\n")
	for _, want := range []string{`cut-owner <rmq1> & "co"`, "link of rmq1 cut", "repair", "VIP owner", "check of rmq1", "+0s", "+4s"} {
		if !strings.Contains(all, want) {
			t.Errorf("text %q missing from the SVG", want)
		}
	}
	// The VIP lane: rmq1, none, rmq2 in that order; rmq1's check as the
	// VIP owner sees it: UP, unknown (nobody holds the VIP), UP on rmq2,
	// then DOWN.
	lanes := map[string][]string{}
	cur := ""
	for _, e := range els {
		if e.name == "g" {
			cur = e.attrs["id"]
		}
		if e.name == "title" && (cur == "vip" || cur == "backend-rmq1") {
			lanes[cur] = append(lanes[cur], e.text)
		}
	}
	if got := strings.Join(lanes["vip"], ","); got != "rmq1,none,rmq2" {
		t.Errorf("VIP lane %q, want rmq1,none,rmq2", got)
	}
	if got := strings.Join(lanes["backend-rmq1"], ","); got != "UP,unknown,UP,DOWN" {
		t.Errorf("rmq1 lane %q, want UP,unknown,UP,DOWN", got)
	}
}

func TestSVGTimelineEmptyRange(t *testing.T) {
	t0 := time.Now()
	if err := (svgTimeline{From: t0, To: t0}).Write(io.Discard); err == nil {
		t.Fatal("an empty time range gave no error")
	}
}

func TestSplitGaps(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms ...int) []time.Time { return msAfter(t0, ms...) }
	for _, tc := range []struct {
		name                  string
		ts                    []time.Time
		fault, restore, end   int
		wantBefore, wantAfter time.Duration
	}{
		{"steady", at(0, 100, 200, 300, 400, 500), 150, 350, 500, millis(100), millis(100)},
		{"stall spanning the fault counts from the last confirm", at(0, 100, 3100, 3200), 150, 5000, 6000, millis(3000), 0},
		{"stall after the repair", at(0, 100, 200, 300, 2300, 2400), 150, 250, 2500, millis(100), millis(2000)},
		{"stall across the repair belongs to the fault", at(0, 100, 4000), 150, 2000, 4500, millis(3900), millis(500)},
		{"still stalled at the end", at(0, 100), 150, 1000, 2000, millis(1900), 0},
		{"nothing at all", nil, 100, 200, 300, millis(200), 0},
		{"clipped at the end", at(0, 100, 5000), 150, 200, 1000, millis(900), 0},
	} {
		b, a := splitGaps(tc.ts, t0.Add(millis(tc.fault)), t0.Add(millis(tc.restore)), t0.Add(millis(tc.end)))
		if b != tc.wantBefore || a != tc.wantAfter {
			t.Errorf("%s: splitGaps = %v, %v; want %v, %v", tc.name, b, a, tc.wantBefore, tc.wantAfter)
		}
	}
}

func TestSeriesScale(t *testing.T) {
	steady := make([]int, 100)
	for i := range steady {
		steady[i] = 2
	}
	for _, tc := range []struct {
		name   string
		counts []int
		want   int
	}{
		{"empty", make([]int, 10), 1},
		{"steady", steady, 2},
		{"a burst is clipped", append(append([]int(nil), steady...), 41), 4},
		{"a stall does not lower the scale", append(make([]int, 300), steady...), 2},
		{"few bins: the peak", []int{1, 3}, 3},
	} {
		if got := seriesScale(tc.counts); got != tc.want {
			t.Errorf("%s: seriesScale = %d, want %d", tc.name, got, tc.want)
		}
	}
}

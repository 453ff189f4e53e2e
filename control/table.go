package control

import (
	"bufio"
	"io"
	"strings"
	"unicode/utf8"
)

// color is an ANSI foreground color of a piece of the human status.
type color uint8

// Colors: none, and the three that status uses.
const (
	plain  color = iota
	red          // DOWN, FAULT, absent VIPs, faults
	yellow       // DEGRADED, DRAIN, MAINT, failing tracks
	green        // UP, MASTER, a healthy verdict
)

// sgr is the ANSI SGR sequence of each color.
var sgr = [...]string{plain: "", red: "\x1b[31m", yellow: "\x1b[33m", green: "\x1b[32m"}

const sgrReset = "\x1b[0m"

// text is a piece of text with its color.
type text struct {
	s string
	c color
}

// page builds the human status: lines of text and blocks of aligned
// columns. Color codes are written only when color is set, and never
// count in a column's width.
type page struct {
	color bool
	items []any // line or *table
}

// line is a line of the page: pieces written one after the other.
type line []text

// table is a block of rows whose cells are aligned in columns: each cell
// but the last of a row is padded to its column's width plus two spaces.
type table struct {
	rows [][]text
}

// println adds a line made of pieces.
func (p *page) println(pieces ...text) { p.items = append(p.items, line(pieces)) }

// printf adds a line of plain text.
func (p *page) printf(s string) { p.println(text{s: s}) }

// table starts a block of aligned rows, with header as its first row.
func (p *page) table(header ...string) *table {
	t := &table{}
	row := make([]text, len(header))
	for i, h := range header {
		row[i] = text{s: h}
	}
	t.rows = append(t.rows, row)
	p.items = append(p.items, t)
	return t
}

// row adds a row.
func (t *table) row(cells ...text) { t.rows = append(t.rows, cells) }

// write writes the page to w.
func (p *page) write(w io.Writer) error {
	bw := bufio.NewWriter(w)
	for _, it := range p.items {
		switch it := it.(type) {
		case line:
			for _, x := range it {
				p.piece(bw, x)
			}
			bw.WriteByte('\n')
		case *table:
			p.writeTable(bw, it)
		}
	}
	return bw.Flush()
}

func (p *page) writeTable(bw *bufio.Writer, t *table) {
	var widths []int
	for _, r := range t.rows {
		for i, c := range r[:max(len(r)-1, 0)] {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(c.s))
		}
	}
	for _, r := range t.rows {
		for i, c := range r {
			p.piece(bw, c)
			if i < len(r)-1 {
				bw.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c.s)+2))
			}
		}
		bw.WriteByte('\n')
	}
}

// piece writes x, in its color when the page has color.
func (p *page) piece(bw *bufio.Writer, x text) {
	if !p.color || x.c == plain || x.s == "" {
		bw.WriteString(x.s)
		return
	}
	bw.WriteString(sgr[x.c])
	bw.WriteString(x.s)
	bw.WriteString(sgrReset)
}

// txt returns plain text.
func txt(s string) text { return text{s: s} }

// paint returns s in colour c.
func paint(s string, c color) text { return text{s: s, c: c} }

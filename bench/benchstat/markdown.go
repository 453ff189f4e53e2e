package benchstat

import (
	"fmt"
	"io"
	"strings"
)

// WriteMarkdown prints rows as an aligned Markdown table (first row = header):
// the first column left-aligned, the others right-aligned.
func WriteMarkdown(w io.Writer, rows [][]string) {
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

// RowCells returns the trimmed cells of the first row of the Markdown table
// text whose first cell starts with prefix, and false when there is none.
func RowCells(text, prefix string) ([]string, bool) {
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "| "+prefix) {
			var cs []string
			for _, c := range strings.Split(strings.Trim(line, "|"), "|") {
				cs = append(cs, strings.TrimSpace(c))
			}
			return cs, true
		}
	}
	return nil, false
}

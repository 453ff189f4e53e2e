package benchstat

import (
	"fmt"
	"math"
	"slices"
)

// Missing marks a round's figure that was not measured (its run failed or
// a reading was missing): a NaN, which Median, PairedRatio and Present
// leave out.
var Missing = math.NaN()

// Present returns the figures of v that are not Missing.
func Present(v []float64) []float64 {
	s := make([]float64, 0, len(v))
	for _, x := range v {
		if !math.IsNaN(x) {
			s = append(s, x)
		}
	}
	return s
}

// Median returns the median of the figures of v that are not Missing and
// false when there are none.
func Median(v []float64) (float64, bool) {
	s := Present(v)
	if len(s) == 0 {
		return 0, false
	}
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2], true
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2, true
}

// PairedRatio is the median over rounds of a[i]/b[i]: each round's figures
// are taken seconds apart, so their ratio is robust to the machine's load
// drifting between rounds, which a ratio of medians is not. a and b are
// indexed by round; a round where either figure is Missing is left out.
func PairedRatio(a, b []float64) (float64, bool) {
	n := min(len(a), len(b))
	rs := make([]float64, 0, n)
	for i := range n {
		if b[i] != 0 && !math.IsNaN(a[i]) && !math.IsNaN(b[i]) {
			rs = append(rs, a[i]/b[i])
		}
	}
	return Median(rs)
}

// FormatFigure prints v with three significant digits or so, "-" when !ok.
func FormatFigure(v float64, ok bool) string {
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

// FormatRatio prints a ratio with two decimals, "-" when !ok.
func FormatRatio(v float64, ok bool) string {
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}

package benchstat

import (
	"strings"
	"testing"
)

func TestMedianAndPairedRatio(t *testing.T) {
	if m, ok := Median([]float64{3, 1, 2}); !ok || m != 2 {
		t.Errorf("median odd = %v", m)
	}
	if m, ok := Median([]float64{4, 1, 2, 3}); !ok || m != 2.5 {
		t.Errorf("median even = %v", m)
	}
	if _, ok := Median(nil); ok {
		t.Error("median of nothing is ok")
	}
	// Load drifts 10x between rounds; the paired ratio still sees 0.5.
	r, ok := PairedRatio([]float64{5, 0.5, 50}, []float64{10, 1, 100})
	if !ok || r != 0.5 {
		t.Errorf("pairedRatio = %v", r)
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		ok   bool
		want string
	}{{0, true, "0"}, {0.1234, true, "0.123"}, {1.234, true, "1.23"}, {12.34, true, "12.3"}, {1234.5, true, "1234"}, {5, false, "-"}} {
		if got := FormatFigure(tc.v, tc.ok); got != tc.want {
			t.Errorf("FormatFigure(%v, %v) = %q, want %q", tc.v, tc.ok, got, tc.want)
		}
	}
	if FormatRatio(0.974, true) != "0.97" || FormatRatio(1, false) != "-" {
		t.Error("FormatRatio")
	}
}

func TestWriteMarkdown(t *testing.T) {
	var b strings.Builder
	WriteMarkdown(&b, [][]string{{"metric", "x"}, {"a", "1.00"}, {"longer", "12"}})
	want := "| metric |    x |\n| ------ | ---- |\n| a      | 1.00 |\n| longer |   12 |\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	if cs, ok := RowCells(b.String(), "long"); !ok || len(cs) != 2 || cs[0] != "longer" || cs[1] != "12" {
		t.Errorf("RowCells = %q, %v", cs, ok)
	}
	if _, ok := RowCells(b.String(), "none"); ok {
		t.Error("RowCells found a row that is not there")
	}
}

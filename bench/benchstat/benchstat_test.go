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
	// A round missing from one list pairs nothing: rounds 1 and 3 give
	// 0.95 and 0.96, never round 3 over round 2.
	r, ok = PairedRatio([]float64{95, Missing, 48}, []float64{100, 100, 50})
	if !ok || r < 0.95 || r > 0.96 {
		t.Errorf("pairedRatio with a missing round = %v, %v; want 0.955", r, ok)
	}
	if m, ok := Median([]float64{Missing, 3, 1, Missing}); !ok || m != 2 {
		t.Errorf("median with missing figures = %v, %v", m, ok)
	}
	if _, ok := Median([]float64{Missing}); ok {
		t.Error("median of a missing figure is ok")
	}
	if _, ok := PairedRatio([]float64{Missing}, []float64{1}); ok {
		t.Error("paired ratio of a missing figure is ok")
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

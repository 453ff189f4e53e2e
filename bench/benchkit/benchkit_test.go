package benchkit

import (
	"strconv"
	"strings"
	"testing"
)

func TestParseIperf3(t *testing.T) {
	r, err := ParseIperf3([]byte(`{"start":{},"end":{"sum_received":{"seconds":30.01,"bits_per_second":5.5e9}}}`))
	if err != nil || r.BitsPerSecond != 5.5e9 || r.Seconds != 30.01 {
		t.Errorf("ParseIperf3 = %+v, %v; want 5.5e9 bit/s over 30.01 s", r, err)
	}
	for _, bad := range []string{
		`{"start":{},"end":{},"error":"unable to connect to server: Connection refused"}`,
		`{"end":{"sum_received":{"seconds":0,"bits_per_second":0}}}`,
		`iperf3: error`,
	} {
		if _, err := ParseIperf3([]byte(bad)); err == nil {
			t.Errorf("ParseIperf3(%s) succeeded", bad)
		}
	}
}

func TestLoadAvg(t *testing.T) {
	f := strings.Fields(LoadAvg())
	if len(f) != 3 {
		t.Fatalf("LoadAvg = %q, want three figures", LoadAvg())
	}
	for _, x := range f {
		if _, err := strconv.ParseFloat(x, 64); err != nil {
			t.Errorf("LoadAvg = %q: %v", LoadAvg(), err)
		}
	}
}

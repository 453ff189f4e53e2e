package benchkit

import (
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

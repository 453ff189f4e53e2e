// Package benchkit holds the labs' proxies that the benchmark commands
// share (HAProxy and rmqlb configurations) and iperf3's JSON result;
// figures, tables and builds are in package benchstat.
package benchkit

import (
	"encoding/json"
	"fmt"
)

// Iperf3 is the part of `iperf3 -c ... -J`'s output the benchmarks read:
// what the receiver got.
type Iperf3 struct {
	// BitsPerSecond is the receiver's mean rate, Seconds the time it
	// covers.
	BitsPerSecond float64
	Seconds       float64
}

// ParseIperf3 decodes iperf3's JSON output; a run that reports an error or
// received nothing is an error.
func ParseIperf3(out []byte) (Iperf3, error) {
	var r struct {
		End struct {
			SumReceived struct {
				Seconds       float64 `json:"seconds"`
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return Iperf3{}, fmt.Errorf("decoding iperf3 output: %w", err)
	}
	if r.Error != "" || r.End.SumReceived.BitsPerSecond == 0 {
		return Iperf3{}, fmt.Errorf("iperf3: %q", r.Error)
	}
	return Iperf3{BitsPerSecond: r.End.SumReceived.BitsPerSecond, Seconds: r.End.SumReceived.Seconds}, nil
}

// Package benchkit holds what the benchmark commands share: building the
// module's programs, the machine's load average and iperf3's JSON result.
package benchkit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// LoadAvg returns the 1, 5 and 15-minute load averages of the machine
// ("?" if /proc/loadavg cannot be read): the labs share the machine's CPUs
// with everything else running, and the figures say so.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// ModuleRoot returns the directory of the go.mod of the module the current
// directory is in.
func ModuleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("finding module root: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("finding module root: run from inside the rmqlb module")
	}
	return filepath.Dir(gomod), nil
}

// GoBuild runs `go build -o out pkg` in dir.
func GoBuild(ctx context.Context, dir, out, pkg string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building %s: %w\n%s", pkg, err, b)
	}
	return nil
}

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

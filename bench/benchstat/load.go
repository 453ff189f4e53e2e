package benchstat

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// LoadAvg returns the 1, 5 and 15 minute load averages of the machine
// ("?" when /proc/loadavg cannot be read).
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

// WaitQuiet waits until the 1-minute load average is at most maxLoad or
// maxWait has passed (it then says so on w and returns nil); maxLoad <= 0
// does not wait. It returns ctx's error if ctx ends first.
func WaitQuiet(ctx context.Context, maxLoad float64, maxWait time.Duration, w io.Writer) error {
	if maxLoad <= 0 {
		return nil
	}
	deadline := time.Now().Add(maxWait)
	for {
		f := strings.Fields(LoadAvg())
		if v, err := strconv.ParseFloat(f[0], 64); err == nil && v <= maxLoad {
			return nil
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(w, "load average still %s after %s: running anyway\n", LoadAvg(), maxWait)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Second):
		}
	}
}

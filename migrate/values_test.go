package migrate

import (
	"testing"
	"time"
)

func TestSeconds(t *testing.T) {
	for in, want := range map[string]time.Duration{"3": 3 * time.Second, "0.5": 500 * time.Millisecond, "0.001": time.Millisecond, "6000": 6000 * time.Second, "0": 0} {
		if got, err := seconds(in); err != nil || got != want {
			t.Errorf("seconds(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "x", "NaN", "Inf", "1e9", "3s"} {
		if d, err := seconds(in); err == nil {
			t.Errorf("seconds(%q) = %v, want an error", in, d)
		}
	}
}

func TestHATime(t *testing.T) {
	for in, want := range map[string]time.Duration{"2000": 2 * time.Second, "5s": 5 * time.Second, "1d": 24 * time.Hour,
		"100ms": 100 * time.Millisecond, "30m": 30 * time.Minute, "3h": 3 * time.Hour, "10us": 10 * time.Microsecond} {
		if got, err := haTime(in); err != nil || got != want {
			t.Errorf("haTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "s", "5x", "-5s", "1.5s", "99999999d", "1000000000000000000"} {
		if d, err := haTime(in); err == nil {
			t.Errorf("haTime(%q) = %v, want an error", in, d)
		}
	}
}

func TestHASize(t *testing.T) {
	for in, want := range map[string]int{"1": 1, "5000": 5000, "100k": 102400, "100K": 102400, "1m": 1 << 20, "2M": 2 << 20, "1g": 1 << 30, "1G": 1 << 30, "2147483647": 2147483647, "2097151k": 2097151 << 10} {
		if got, err := haSize(in); err != nil || got != want {
			t.Errorf("haSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "k", "0", "0k", "-1", "1.5k", "1t", "10kb", "2g", "2147483648", "99999999999", "1 k", "2097152k", "9999999999g", "9999999999m"} {
		if n, err := haSize(in); err == nil {
			t.Errorf("haSize(%q) = %d, want an error", in, n)
		}
	}
}

func TestMaskBits(t *testing.T) {
	for in, want := range map[string]int{"255.255.255.255": 32, "255.255.255.0": 24, "255.255.240.0": 20, "0.0.0.0": 0, "24": 24} {
		if got, err := maskBits(in); err != nil || got != want {
			t.Errorf("maskBits(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"255.0.255.0", "33", "x", "ffff::"} {
		if b, err := maskBits(in); err == nil {
			t.Errorf("maskBits(%q) = %d, want an error", in, b)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{24 * time.Hour: "24h", 6000 * time.Second: "1h40m", 90 * time.Second: "1m30s",
		2 * time.Minute: "2m", 100 * time.Millisecond: "100ms", time.Hour + time.Second: "1h0m1s", -time.Second: "-1s"} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
		if back, err := time.ParseDuration(formatDuration(d)); err != nil || back != d {
			t.Errorf("%q does not parse back to %v: %v, %v", formatDuration(d), d, back, err)
		}
	}
}

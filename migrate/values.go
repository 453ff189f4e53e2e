package migrate

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/rmqlb/rmqlb/healthcheck"
)

// maxDuration bounds every duration read from an input: a day is longer
// than any timeout or interval rmqlb's configuration means, and keeps
// arithmetic far from overflow.
const maxDuration = 1000 * time.Hour

// seconds parses keepalived's decimal seconds ("3", "0.5").
func seconds(s string) (time.Duration, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f < 0 {
		return 0, fmt.Errorf("must be a number of seconds, not %q", s)
	}
	if f > maxDuration.Seconds() {
		return 0, fmt.Errorf("must be at most %v, not %ss", maxDuration, s)
	}
	return time.Duration(math.Round(f*1e6)) * time.Microsecond, nil
}

// haTime parses an HAProxy time: a number with an optional unit (us, ms,
// s, m, h, d); milliseconds without one.
func haTime(s string) (time.Duration, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 || i > 12 {
		return 0, fmt.Errorf("must be a time such as 5s or 2000, not %q", s)
	}
	n, _ := strconv.ParseInt(s[:i], 10, 64)
	unit := map[string]time.Duration{"": time.Millisecond, "us": time.Microsecond, "ms": time.Millisecond,
		"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}[s[i:]]
	if unit == 0 {
		return 0, fmt.Errorf("must be a time such as 5s or 2000, not %q", s)
	}
	if n > int64(maxDuration/unit) {
		return 0, fmt.Errorf("must be at most %v, not %s", maxDuration, s)
	}
	return time.Duration(n) * unit, nil
}

// maxTableSize bounds a stick table's size read from HAProxy, which holds
// it in an unsigned 32-bit integer; rmqlb's persistence_max_clients is
// an int.
const maxTableSize = math.MaxInt32

// haSize parses an HAProxy size as a stick-table's size takes it: a
// decimal number of entries with an optional suffix k, m or g (either
// case) for 2^10, 2^20 and 2^30 (so 100k is 102400), at least 1.
func haSize(s string) (int, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	factor := map[string]int64{"": 1, "k": 1 << 10, "K": 1 << 10, "m": 1 << 20, "M": 1 << 20, "g": 1 << 30, "G": 1 << 30}[s[i:]]
	if i == 0 || i > 10 || factor == 0 {
		return 0, fmt.Errorf("must be a number of entries such as 100k or 1m, not %q", s)
	}
	n, _ := strconv.ParseInt(s[:i], 10, 64)
	if n < 1 || n > maxTableSize/factor {
		return 0, fmt.Errorf("must be 1 to %d entries, not %s", maxTableSize, s)
	}
	return int(n * factor), nil
}

// number parses a decimal integer in min..max.
func number(s string, min, max int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < min || n > max {
		return 0, fmt.Errorf("must be a number from %d to %d, not %q", min, max, s)
	}
	return n, nil
}

// maskBits returns the length of a dotted IPv4 netmask ("255.255.255.0"
// is 24) or of a plain prefix length ("24").
func maskBits(s string) (int, error) {
	if n, err := strconv.Atoi(s); err == nil && n >= 0 && n <= 32 {
		return n, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return 0, fmt.Errorf("must be a netmask such as 255.255.255.0, not %q", s)
	}
	b := a.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	bits := 0
	for v&(1<<31) != 0 {
		bits++
		v <<= 1
	}
	if v != 0 {
		return 0, fmt.Errorf("%s is not a contiguous netmask", s)
	}
	return bits, nil
}

// prefixBits6 returns the IPv6 prefix length s (1..128): LVS's netmask of
// an IPv6 service (ipvsadm -M, keepalived's persistence_granularity).
func prefixBits6(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 128 {
		return 0, fmt.Errorf("must be an IPv6 prefix length of 1 to 128 bits, not %q", s)
	}
	return n, nil
}

// formatDuration writes d the shortest way a Go duration is written:
// "24h" rather than "24h0m0s".
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// loopback reports whether host names this host's loopback.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// itoa formats n in decimal.
func itoa(n int) string { return strconv.Itoa(n) }

// checkDuration reports a check interval or timeout rmqlb refuses: one
// shorter than healthcheck.MinInterval (0 is not written, and takes the
// default).
func checkDuration(d time.Duration) error {
	if d != 0 && d < healthcheck.MinInterval {
		return fmt.Errorf("must be at least %v in rmqlb, not %v", healthcheck.MinInterval, d)
	}
	return nil
}

// andList joins items as a note writes them: "a", "a and b", "a, b and c".
func andList(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

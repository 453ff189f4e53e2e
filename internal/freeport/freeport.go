package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// rangeFile is where Linux keeps the ephemeral port range.
const rangeFile = "/proc/sys/net/ipv4/ip_local_port_range"

// span is how many ports below the ephemeral range Addr picks from.
const span = 10000

var (
	mu     sync.Mutex
	handed = map[int]bool{} // ports handed out by this process
)

// Addr returns "ip:port" with a TCP port that nothing listened on at ip when
// it was called, below the ephemeral range and not handed out before by
// this process. It fails t if no such port is found. Addr is safe for
// concurrent use.
func Addr(t testing.TB, ip string) string {
	t.Helper()
	lo, hi := pickRange(ephemeralLow())
	addr, err := pick(ip, lo, hi, 200)
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// pickRange returns the ports [lo, hi) to pick from below an ephemeral range
// starting at low: at most span of them, none privileged.
func pickRange(low int) (lo, hi int) {
	return max(1024, low-span), max(1024+span, low)
}

// pick tries up to tries random ports of [lo, hi) on ip and returns the first
// it can listen on that was not handed out before.
func pick(ip string, lo, hi, tries int) (string, error) {
	mu.Lock()
	defer mu.Unlock()
	for range tries {
		port := lo + rand.IntN(hi-lo)
		if handed[port] {
			continue
		}
		addr := net.JoinHostPort(ip, strconv.Itoa(port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		ln.Close()
		handed[port] = true
		return addr, nil
	}
	return "", fmt.Errorf("finding a free TCP port on %s in %d-%d: none in %d tries", ip, lo, hi-1, tries)
}

// ephemeralLow returns the first port of the kernel's ephemeral range, or
// Linux's default 32768 when it cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile(rangeFile)
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < 1 || n > 65535 {
		return 32768
	}
	return n
}

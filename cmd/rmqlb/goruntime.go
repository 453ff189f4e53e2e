package main

import (
	"bufio"
	"bytes"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

// The garbage collector's settings the daemon takes when its environment
// sets neither GOGC nor GOMEMLIMIT (either one leaves both to the Go
// runtime, which reads them itself).
const (
	// daemonGCPercent is GOGC: the GC runs when the heap has grown by
	// twice the live heap, half as often as Go's default of 100.
	daemonGCPercent = 200
	// memoryLimitShare: the soft memory limit (GOMEMLIMIT) is this
	// fraction of the memory the daemon may use (its cgroup's
	// memory.max, else the host's memory), so that the higher GOGC
	// never grows a large heap into the memory of the brokers beside
	// it: near the limit the GC runs more often instead.
	memoryLimitShare = 8
	// minMemoryLimit is the least soft memory limit.
	minMemoryLimit = 64 << 20
)

// gcSettings are the GC settings the daemon applies.
type gcSettings struct {
	apply       bool  // false: the environment set GOGC or GOMEMLIMIT
	percent     int   // GOGC
	memoryLimit int64 // GOMEMLIMIT, bytes
}

// daemonGC returns the GC settings for an environment (getenv) and the
// memory the daemon may use (bytes; 0: unknown).
func daemonGC(getenv func(string) string, memory int64) gcSettings {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return gcSettings{}
	}
	return gcSettings{apply: true, percent: daemonGCPercent, memoryLimit: max(memory/memoryLimitShare, minMemoryLimit)}
}

// tuneGC applies daemonGC's settings to the running program and logs them.
func tuneGC(log *zap.Logger) {
	s := daemonGC(os.Getenv, availableMemory())
	if !s.apply {
		log.Info("GC settings from the environment (GOGC, GOMEMLIMIT)")
		return
	}
	debug.SetGCPercent(s.percent)
	debug.SetMemoryLimit(s.memoryLimit)
	log.Info("GC settings", zap.Int("gogc", s.percent), zap.Int64("memory_limit_bytes", s.memoryLimit))
}

// availableMemory returns the memory the process may use: the memory.max
// of its cgroup (v2) when set, else the host's MemTotal; 0 if unknown.
func availableMemory() int64 {
	host := memTotal(readFile("/proc/meminfo"))
	if cg := cgroupMemoryMax(readFile("/proc/self/cgroup"), func(dir string) []byte {
		return readFile("/sys/fs/cgroup" + dir + "/memory.max")
	}); cg > 0 && (host == 0 || cg < host) {
		return cg
	}
	return host
}

func readFile(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}

// memTotal parses MemTotal out of /proc/meminfo's text; 0 if absent.
func memTotal(meminfo []byte) int64 {
	sc := bufio.NewScanner(bytes.NewReader(meminfo))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[0] == "MemTotal:" && f[2] == "kB" {
			if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// cgroupMemoryMax returns the memory.max of the cgroup v2 that
// /proc/self/cgroup's text names (read by readMax for the cgroup's
// directory), or 0 if it has none ("max") or is unknown.
func cgroupMemoryMax(selfCgroup []byte, readMax func(dir string) []byte) int64 {
	for _, line := range strings.Split(string(selfCgroup), "\n") {
		dir, ok := strings.CutPrefix(line, "0::")
		if !ok {
			continue
		}
		v := strings.TrimSpace(string(readMax(dir)))
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return 0
		}
		return n
	}
	return 0
}

package main

import (
	"testing"
)

func TestDaemonGC(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	for _, c := range []struct {
		name   string
		getenv func(string) string
		memory int64
		want   gcSettings
	}{
		{"an eighth of the memory", env(), 8 << 30, gcSettings{apply: true, percent: 200, memoryLimit: 1 << 30}},
		{"at least 64 MiB", env(), 256 << 20, gcSettings{apply: true, percent: 200, memoryLimit: 64 << 20}},
		{"memory unknown", env(), 0, gcSettings{apply: true, percent: 200, memoryLimit: 64 << 20}},
		{"GOGC set", env("GOGC", "50"), 8 << 30, gcSettings{}},
		{"GOMEMLIMIT set", env("GOMEMLIMIT", "100MiB"), 8 << 30, gcSettings{}},
	} {
		if got := daemonGC(c.getenv, c.memory); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestAvailableMemoryParsers(t *testing.T) {
	if got := memTotal([]byte("MemTotal:        8029248 kB\nMemFree:  1 kB\n")); got != 8029248<<10 {
		t.Errorf("memTotal = %d", got)
	}
	if got := memTotal([]byte("MemFree:  1 kB\n")); got != 0 {
		t.Errorf("memTotal without MemTotal = %d", got)
	}
	read := func(want, v string) func(string) []byte {
		return func(dir string) []byte {
			if dir != want {
				t.Errorf("read memory.max of %q, want %q", dir, want)
			}
			return []byte(v)
		}
	}
	if got := cgroupMemoryMax([]byte("0::/system.slice/rmqlb.service\n"), read("/system.slice/rmqlb.service", "1073741824\n")); got != 1<<30 {
		t.Errorf("cgroupMemoryMax = %d", got)
	}
	if got := cgroupMemoryMax([]byte("0::/system.slice/rmqlb.service\n"), read("/system.slice/rmqlb.service", "max\n")); got != 0 {
		t.Errorf("cgroupMemoryMax of max = %d", got)
	}
	if got := cgroupMemoryMax([]byte("4:memory:/x\n"), read("", "")); got != 0 {
		t.Errorf("cgroupMemoryMax of cgroup v1 = %d", got)
	}
}

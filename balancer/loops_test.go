package balancer

import (
	"runtime"
	"testing"
)

// TestConfigLoops: Run starts Config.Loops event loops, GOMAXPROCS of them
// when it is 0, and a negative count is refused.
func TestConfigLoops(t *testing.T) {
	for _, c := range []struct{ loops, want int }{{0, runtime.GOMAXPROCS(0)}, {1, 1}, {3, 3}} {
		cfg := baseConfig([]BackendConfig{{Name: "a", Address: unusedAddr(t, "127.0.0.1"), Weight: 1}})
		cfg.Loops = c.loops
		r := startListener(t, cfg, 0)
		r.mu.Lock()
		got := len(r.loops)
		r.mu.Unlock()
		if got != c.want {
			t.Errorf("Loops %d: %d event loops, want %d", c.loops, got, c.want)
		}
		r.stop(t)
	}
	cfg := baseConfig([]BackendConfig{{Name: "a", Address: unusedAddr(t, "127.0.0.1"), Weight: 1}})
	cfg.Loops = -1
	if err := cfg.Validate(); err == nil {
		t.Error("Loops -1 accepted")
	}
}

package netlab

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestEnv(t *testing.T) {
	var mu sync.Mutex
	var logged []string
	logf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		logged = append(logged, format)
	}
	e, err := NewEnv("netlab-env-test-", false, logf)
	if err != nil {
		t.Fatal(err)
	}
	var order []int
	for i := 1; i <= 3; i++ {
		e.Cleanup(func() { order = append(order, i) })
	}
	d := e.TempDir()
	if filepath.Dir(d) != e.Dir {
		t.Errorf("TempDir %s not inside %s", d, e.Dir)
	}
	if e.Failed() {
		t.Error("Failed before Fail")
	}
	e.Fail()
	if !e.Failed() {
		t.Error("not Failed after Fail")
	}
	e.Logf("x %d", 1)
	e.Close()
	e.Close() // a second Close does nothing
	if got := order; len(got) != 3 || got[0] != 3 || got[2] != 1 {
		t.Errorf("clean-ups ran in order %v, want [3 2 1]", got)
	}
	if _, err := os.Stat(e.Dir); !os.IsNotExist(err) {
		t.Errorf("Dir still there after Close: %v", err)
	}
	late := make(chan struct{})
	e.Cleanup(func() { close(late) })
	select {
	case <-late:
	case <-time.After(5 * time.Second):
		t.Error("a clean-up registered after Close did not run")
	}
	mu.Lock()
	first := append([]string(nil), logged...)
	mu.Unlock()
	if len(first) == 0 || !strings.HasPrefix(first[0], "netlab: ") {
		t.Errorf("harness messages %q, want a netlab: prefix", first)
	}

	k, err := NewEnv("netlab-env-test-", true, logf)
	if err != nil {
		t.Fatal(err)
	}
	k.Close()
	if _, err := os.Stat(k.Dir); err != nil {
		t.Errorf("Keep: Dir gone after Close: %v", err)
	}
	os.RemoveAll(k.Dir)
}

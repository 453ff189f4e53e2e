package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/config"
)

func TestReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rmqlb.yaml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const good = `control_socket: /tmp/x.sock
listeners:
  - name: amqp
    bind: 127.0.0.1:5672
    check: {type: none}
    backends: [{name: a, address: 127.0.0.2:5672, weight: WEIGHT}]
`
	write(strings.Replace(good, "WEIGHT", "10", 1))
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := newDaemon(path, cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}

	// A bad file is refused and changes nothing.
	write("listeners: [{name: amqp, bind: nowhere}]\n")
	d.reload()
	if r := d.lastReload; r == nil || !strings.Contains(r.Error, "line 1: listeners[0].bind") {
		t.Fatalf("bad file: reload = %+v", d.lastReload)
	}
	if w := d.traffic.listeners[0].Snapshot().Backends[0].Weight; w != 10 {
		t.Errorf("weight after refused reload = %d, want 10", w)
	}

	// A new weight is applied live.
	write(strings.Replace(good, "WEIGHT", "3", 1))
	d.reload()
	if r := d.lastReload; r.Error != "" || !slices.Contains(r.Applied, "listener amqp") || len(r.Pending) != 0 {
		t.Fatalf("weight change: reload = %+v", r)
	}
	if w := d.traffic.listeners[0].Snapshot().Backends[0].Weight; w != 3 {
		t.Errorf("weight after reload = %d, want 3", w)
	}

	// A new backend needs a restart and is reported so.
	write(strings.Replace(good, "WEIGHT", "3}, {name: b, address: 127.0.0.3:5672", 1))
	d.reload()
	if r := d.lastReload; r.Error != "" || len(r.Pending) != 1 || !strings.Contains(r.Pending[0], "listener amqp") {
		t.Fatalf("backend added: reload = %+v", r)
	}
}

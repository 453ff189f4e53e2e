package daemon

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/internal/metricstest"
	"github.com/rmqlb/rmqlb/notify"
	"github.com/rmqlb/rmqlb/vrrp"
)

// envHook writes an executable hook into dir that writes the RMQLB_
// variables of its environment and PATH, one a line, into the file named
// by its first argument.
func envHook(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "hook")
	body := `#!/bin/sh
printf '%s\n' "$RMQLB_INSTANCE" "$RMQLB_STATE" "$RMQLB_PREV_STATE" "$RMQLB_VIPS" "$RMQLB_REASON" "$RMQLB_PRIORITY" "$PATH" > "$1.tmp"
mv "$1.tmp" "$1"
`
	if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// notifyStatus returns the status of instance v's hooks.
func (h *harness) notifyStatus() notify.Snapshot {
	h.t.Helper()
	s := h.d.Status()
	if len(s.VRRP) != 1 || s.VRRP[0].Notify == nil {
		h.t.Fatalf("no notify status: %+v", s.VRRP)
	}
	return *s.VRRP[0].Notify
}

// TestNotifyHooks: the instance's hooks run on its transitions with the
// transition's environment: BACKUP at start, MASTER when the fake clock
// passes the master down interval, STOP when the daemon stops (Run returns
// only after it ran); they are counted in status and metrics.
func TestNotifyHooks(t *testing.T) {
	l := newLab(t)
	dir := t.TempDir()
	hook := envHook(t, dir)
	out := func(k string) string { return filepath.Join(dir, k+".env") }
	h := newHarness(t, l.file("track: [{check: amqp/a, weight: -60}]",
		"track: [{check: amqp/a, weight: -60}]\n    notify:\n"+
			"      backup: ["+hook+", "+out("backup")+"]\n"+
			"      master: ["+hook+", "+out("master")+"]\n"+
			"      stop: ["+hook+", "+out("stop")+"]\n"))
	startChecked(t, h)
	h.eventually("the backup hook", func() bool { return h.notifyStatus().Runs == 1 })
	// What envHook writes: instance, state, previous state, VIPs, reason,
	// effective priority and PATH.
	check := func(kind string, state, prev, reason string) {
		t.Helper()
		b, err := os.ReadFile(out(kind))
		if err != nil {
			t.Fatal(err)
		}
		want := strings.Join([]string{"v", state, prev, "192.0.2.100/32", reason, "150", os.Getenv("PATH")}, "\n") + "\n"
		if string(b) != want {
			t.Errorf("%s hook saw:\n%s\nwant:\n%s", kind, b, want)
		}
	}
	check("backup", "BACKUP", "INIT", "startup")

	h.checks.get(idA).always(healthcheck.Result{})
	h.checks.get(idB).always(healthcheck.Result{})
	h.eventually("MASTER", func() bool {
		h.clk.Advance(20 * time.Millisecond)
		return h.vrrpSnapshot().State == vrrp.StateMaster
	})
	h.eventually("the master hook", func() bool { return h.notifyStatus().Runs == 2 })
	check("master", "MASTER", "BACKUP", "no advertisement heard within master down interval")
	s := h.notifyStatus()
	if s.Failures != 0 || s.Dropped != 0 || !slices.Equal(s.Configured, []string{"master", "backup", "stop"}) || s.Last.State != "MASTER" {
		t.Fatalf("notify status %+v", s)
	}
	metrics := filepath.Join(dir, "metrics")
	if err := prometheus.WriteToTextfile(metrics, h.reg); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(metrics); err != nil || !strings.Contains(string(b), `rmqlb_notify_runs_total{result="ok",state="master",vrrp_instance="v"} 1`+"\n") {
		t.Errorf("metrics lack one ok run of the master hook (%v):\n%s", err, b)
	}

	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	check("stop", "STOP", "MASTER", "shutdown")
}

// TestReloadNotify: a reload gives an instance new hooks in place,
// without a restart; the running model has them, so the same file again
// changes nothing.
func TestReloadNotify(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startChecked(t, h)
	if n := h.d.Status().VRRP[0].Notify; n != nil {
		t.Fatalf("notify status without hooks: %+v", n)
	}
	h.write(l.file("track: [{check: amqp/a, weight: -60}]", "track: [{check: amqp/a, weight: -60}]\n    notify: {master: [/bin/true], fault: [/bin/true]}"))
	r := h.d.Reload()
	if !r.OK() || !slices.Equal(r.Applied, []string{"notify hooks of vrrp instance v"}) || len(r.Pending) != 0 {
		t.Fatalf("reload: %+v", r)
	}
	if s := h.notifyStatus(); !slices.Equal(s.Configured, []string{"master", "fault"}) {
		t.Fatalf("after the reload: %+v", s)
	}
	if r := h.d.Reload(); !r.OK() || len(r.Applied) != 0 {
		t.Fatalf("the same file again: %+v", r)
	}
}

// TestDiffNotify: changed hooks are a live update of the instance, also
// next to other live changes, but not when its identity changes (the
// instance then runs on as it was until a restart); the running model
// keeps what was applied.
func TestDiffNotify(t *testing.T) {
	hooks := "    notify: {master: [/usr/local/bin/up], timeout: 5s}\n"
	withHooks := edit(t, "    track:", hooks+"    track:")
	p := Diff(mustParse(t, planBase), mustParse(t, withHooks))
	if len(p.VRRP) != 1 || p.VRRP[0].Op != OpUpdate || !p.VRRP[0].Notify || p.VRRP[0].Tracks || len(p.Restart) != 0 {
		t.Fatalf("hooks added: %+v", p)
	}
	old := mustParse(t, planBase)
	nc := mustParse(t, edit(t, "    track:", hooks+"    track:", "priority: 150", "priority: 120"))
	p = Diff(old, nc)
	if len(p.VRRP) != 1 || !p.VRRP[0].Notify || !p.VRRP[0].Settings || len(p.Restart) != 0 {
		t.Fatalf("hooks and priority: %+v", p)
	}
	run := running(old, nc, p, leftovers{instances: map[string]bool{}, settings: map[string]bool{}})
	if in := run.VRRP[0]; in.Priority != 120 || !slices.Equal(in.Notify.Master, []string{"/usr/local/bin/up"}) {
		t.Fatalf("running model: priority %d, hooks %+v", in.Priority, in.Notify)
	}
	if again := Diff(run, nc); len(again.VRRP) != 0 || len(again.Restart) != 0 {
		t.Fatalf("the same file again: %+v", again)
	}
	// The settings failed to apply: the hooks, which were applied, stay.
	run = running(old, nc, p, leftovers{instances: map[string]bool{}, settings: map[string]bool{"v": true}})
	if in := run.VRRP[0]; in.Priority != 150 || !slices.Equal(in.Notify.Master, []string{"/usr/local/bin/up"}) {
		t.Fatalf("running model after failed settings: priority %d, hooks %+v", in.Priority, in.Notify)
	}
	p = Diff(old, mustParse(t, edit(t, "    track:", hooks+"    track:", "interface: eth0", "interface: eth1")))
	if len(p.VRRP) != 0 {
		t.Fatalf("an instance whose interface changes applies nothing: %+v", p.VRRP)
	}
}

// TestUnsafeHookInStatus: a hook that others could change is not run
// (counted as a failure), and the status shows the warning the daemon
// logged when it read the file, until a reload finds it safe.
func TestUnsafeHookInStatus(t *testing.T) {
	l := newLab(t)
	dir := t.TempDir()
	hook := envHook(t, dir)
	if err := os.Chmod(hook, 0o777); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "backup.env")
	h := newHarness(t, l.file("track: [{check: amqp/a, weight: -60}]",
		"track: [{check: amqp/a, weight: -60}]\n    notify:\n      backup: ["+hook+", "+out+"]\n"))
	startChecked(t, h)
	h.eventually("the backup hook's run", func() bool { return h.notifyStatus().Runs == 1 })
	if s := h.notifyStatus(); s.Failures != 1 || !strings.Contains(s.LastError, "not run: "+hook+" is writable by every user, mode 0777") {
		t.Fatalf("notify status %+v", s)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("the unsafe hook ran")
	}
	warning := "the daemon will not run the hook: " + hook + " is writable by every user, mode 0777"
	ws := h.d.Status().ConfigWarnings
	if !slices.ContainsFunc(ws, func(w string) bool {
		return strings.HasPrefix(w, "vrrp_instances[0].notify.backup (line ") && strings.Contains(w, warning)
	}) {
		t.Fatalf("config warnings %q lack %q", ws, warning)
	}
	warnings := func() float64 {
		return metricstest.Value(t, metricstest.Gather(t, h.reg), "rmqlb_config_warnings", nil)
	}
	if n := warnings(); n != float64(len(ws)) {
		t.Fatalf("rmqlb_config_warnings %v, want %d", n, len(ws))
	}

	if err := os.Chmod(hook, 0o755); err != nil {
		t.Fatal(err)
	}
	if r := h.d.Reload(); !r.OK() {
		t.Fatalf("reload: %+v", r)
	}
	if ws := h.d.Status().ConfigWarnings; slices.ContainsFunc(ws, func(w string) bool { return strings.Contains(w, warning) }) {
		t.Fatalf("config warnings after the reload %q still hold %q", ws, warning)
	}
	if n, want := warnings(), float64(len(ws)-1); n != want {
		t.Fatalf("rmqlb_config_warnings after the reload %v, want %v", n, want)
	}
}

// TestHookTestCommand: "notify NAME STATE" runs the instance's hook once
// with the variables of that change, leaves the instance as it is and
// counts nothing; a state without a hook, an unknown state or instance is
// an error.
func TestHookTestCommand(t *testing.T) {
	l := newLab(t)
	dir := t.TempDir()
	hook := envHook(t, dir)
	out := func(k string) string { return filepath.Join(dir, k+".env") }
	h := newHarness(t, l.file("track: [{check: amqp/a, weight: -60}]",
		"track: [{check: amqp/a, weight: -60}]\n    notify:\n"+
			"      backup: ["+hook+", "+out("backup")+"]\n"+
			"      master: ["+hook+", "+out("master")+"]\n"))
	startChecked(t, h)
	h.eventually("the backup hook", func() bool { return h.notifyStatus().Runs == 1 })
	before := h.vrrpSnapshot()

	res, err := h.d.Handle(context.Background(), control.Request{Command: "notify", Args: []string{"v", "master"}})
	if err != nil {
		t.Fatal(err)
	}
	ht, ok := res.(control.HookTest)
	if !ok || ht.Instance != "v" || !ht.OK() || ht.State != "MASTER" || !slices.Equal(ht.Argv, []string{hook, out("master")}) {
		t.Fatalf("answer %#v", res)
	}
	b, err := os.ReadFile(out("master"))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{"v", "MASTER", before.State.String(), "192.0.2.100/32", hookTestReason, "150", os.Getenv("PATH")}, "\n") + "\n"
	if string(b) != want {
		t.Errorf("the test run saw:\n%s\nwant:\n%s", b, want)
	}
	if s := h.vrrpSnapshot(); s.State != before.State || !s.Since.Equal(before.Since) {
		t.Errorf("the instance changed: %v since %v, was %v since %v", s.State, s.Since, before.State, before.Since)
	}
	if s := h.notifyStatus(); s.Runs != 1 || s.Last.State != "BACKUP" {
		t.Errorf("the test run counted: %+v", s)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"v", "fault"}, "no hook configured for this state"},
		{[]string{"v", "up"}, `"up" is no hook`},
		{[]string{"w", "master"}, `no vrrp instance "w"`},
		{[]string{"v"}, "usage: notify NAME"},
	} {
		if _, err := h.d.Handle(context.Background(), control.Request{Command: "notify", Args: c.args}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("notify %q: %v, want %q", c.args, err, c.want)
		}
	}
}

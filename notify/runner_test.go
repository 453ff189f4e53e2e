package notify

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rmqlb/rmqlb/internal/clock"
)

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// series returns the series of rmqlb_notify_runs_total by their labels
// "vrrp_instance,state,result".
func series(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	out, err := gatherRuns(reg)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// gatherRuns returns the series of rmqlb_notify_runs_total by their
// labels "vrrp_instance,state,result".
func gatherRuns(reg *prometheus.Registry) (map[string]float64, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "rmqlb_notify_runs_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			out[labels["vrrp_instance"]+","+labels["state"]+","+labels["result"]] = m.GetCounter().GetValue()
		}
	}
	return out, nil
}

// runs returns rmqlb_notify_runs_total of instance v for state and result.
func runs(t *testing.T, reg *prometheus.Registry, state, result string) float64 {
	t.Helper()
	return series(t, reg)["v,"+state+","+result]
}

// TestEnvironmentNotServiceManagers: hooks inherit the daemon's
// environment but not the variables by which systemd addresses the
// daemon's own process.
func TestEnvironmentNotServiceManagers(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "env")
	rec := script(t, dir, "rec", `env > "$1"
`)
	for _, k := range ServiceManagerVars {
		t.Setenv(k, "daemon's")
	}
	t.Setenv("RMQLB_TEST_INHERITED", "yes")
	r, err := NewRunner("v", Config{Master: []string{rec, out}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r.Notify(event(Master, "BACKUP"))
	runToEnd(t, r)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	env := string(b)
	if !strings.Contains(env, "\nRMQLB_TEST_INHERITED=yes\n") && !strings.HasPrefix(env, "RMQLB_TEST_INHERITED=yes\n") {
		t.Fatalf("the daemon's environment was not inherited:\n%s", env)
	}
	for _, k := range ServiceManagerVars {
		if strings.Contains(env, k+"=") {
			t.Errorf("the hook got %s", k)
		}
	}
}

// TestEnvironmentAndOrder: each hook gets the inherited environment and
// the RMQLB_ variables of its own state change (which replace inherited
// ones), and the hooks run in the order of the changes.
func TestEnvironmentAndOrder(t *testing.T) {
	dir := t.TempDir()
	order := filepath.Join(dir, "order")
	rec := script(t, dir, "rec", `echo "$RMQLB_STATE" >> "$1"
env > "$1.$RMQLB_STATE"
`)
	argv := []string{rec, order}
	r, err := NewRunner("v", Config{Master: argv, Backup: argv, Fault: argv, Stop: argv},
		Options{Env: []string{"PATH=/usr/bin:/bin", "INHERITED=yes", "RMQLB_STATE=stale"}})
	if err != nil {
		t.Fatal(err)
	}
	r.Notify(event(Backup, "INIT"))
	r.Notify(event(Master, "BACKUP"))
	r.Notify(event(Fault, "MASTER"))
	r.Notify(event(Backup, "FAULT"))
	r.Notify(event(Stop, "BACKUP"))
	runToEnd(t, r)

	b, err := os.ReadFile(order)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Fields(string(b)), []string{"BACKUP", "MASTER", "FAULT", "BACKUP", "STOP"}; !slices.Equal(got, want) {
		t.Fatalf("hooks ran in order %v, want %v", got, want)
	}
	env := func(state string) map[string]string {
		b, err := os.ReadFile(order + "." + state)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			k, v, _ := strings.Cut(l, "=")
			m[k] = v
		}
		return m
	}
	m := env("MASTER")
	for k, want := range map[string]string{
		"RMQLB_INSTANCE":   "v",
		"RMQLB_STATE":      "MASTER",
		"RMQLB_PREV_STATE": "BACKUP",
		"RMQLB_VIPS":       "10.9.0.100/24 10.9.0.101/32",
		"RMQLB_REASON":     "test MASTER",
		"RMQLB_PRIORITY":   "120",
		"PATH":             "/usr/bin:/bin",
		"INHERITED":        "yes",
	} {
		if m[k] != want {
			t.Errorf("master hook: %s=%q, want %q", k, m[k], want)
		}
	}
	if m := env("STOP"); m["RMQLB_STATE"] != "STOP" || m["RMQLB_PREV_STATE"] != "BACKUP" {
		t.Errorf("stop hook: state %q prev %q", m["RMQLB_STATE"], m["RMQLB_PREV_STATE"])
	}
	if s := r.Snapshot(); s.Runs != 5 || s.Failures != 0 || s.Dropped != 0 || s.Queued != 0 || s.Last == nil || s.Last.State != "STOP" || s.Last.Result != ResultOK {
		t.Fatalf("snapshot %+v", s)
	}
}

// TestSlowHookDoesNotBlockNotify: while a hook runs, Notify returns at
// once; the later hooks wait for it and then run in order.
func TestSlowHookDoesNotBlockNotify(t *testing.T) {
	dir := t.TempDir()
	order := filepath.Join(dir, "order")
	gate := fifo(t, dir, "gate")
	// The master hook waits until the test writes into the gate.
	slow := script(t, dir, "slow", `read line < "$2"
echo "$RMQLB_STATE" >> "$1"
`)
	rec := script(t, dir, "rec", `echo "$RMQLB_STATE" >> "$1"`)
	r, err := NewRunner("v", Config{Master: []string{slow, order, gate}, Backup: []string{rec, order}, Stop: []string{rec, order}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	stop := startRunner(t, r)
	r.Notify(event(Master, "BACKUP"))
	// These return while the master hook is blocked.
	r.Notify(event(Backup, "MASTER"))
	r.Notify(event(Stop, "BACKUP"))
	if s := r.Snapshot(); s.Queued < 2 || s.Runs != 0 {
		t.Fatalf("while the master hook is blocked: %+v", s)
	}
	writeFIFO(t, gate, "go\n")
	stop()
	b, err := os.ReadFile(order)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Fields(string(b)), []string{"MASTER", "BACKUP", "STOP"}; !slices.Equal(got, want) {
		t.Fatalf("hooks ran in order %v, want %v", got, want)
	}
}

// TestTimeoutKillsProcessGroup: a hook still running at its timeout is
// killed with the children it started (its process group), on the
// runner's clock; the run counts as a timeout.
func TestTimeoutKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	pidPipe := fifo(t, dir, "pids")
	hang := script(t, dir, "hang", `sleep 1000 &
echo $$ $! > "$1"
wait
`)
	clk := clock.NewFake(t0)
	reg := prometheus.NewRegistry()
	r, err := NewRunner("v", Config{Master: []string{hang, pidPipe}, Timeout: 3 * time.Second}, Options{Clock: clk, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	stop := startRunner(t, r)
	r.Notify(event(Master, "BACKUP"))
	ps, pidfds := hookProcs(t, pidPipe) // the shell and its background sleep
	clk.WaitArmed(t, t0.Add(3*time.Second))
	if s := r.Snapshot(); !s.Running || s.Runs != 0 {
		t.Fatalf("before the timeout: %+v", s)
	}
	clk.Advance(3 * time.Second)
	for i, fd := range pidfds {
		waitExit(t, fd, ps[i])
	}
	stop()
	s := r.Snapshot()
	if s.Runs != 1 || s.Failures != 1 || s.Last == nil || s.Last.Result != ResultTimeout || s.Last.Duration != 3*time.Second ||
		!strings.Contains(s.LastError, "timed out after 3s: process group killed") || !s.LastErrorAt.Equal(t0) {
		t.Fatalf("snapshot %+v (last %+v)", s, s.Last)
	}
	if n := runs(t, reg, "master", "timeout"); n != 1 {
		t.Fatalf("runs_total{master,timeout} = %v", n)
	}
}

// TestOutputStaysOpen: a hook that exits at once but leaves a child
// holding its output runs until its timeout, which kills the child.
func TestOutputStaysOpen(t *testing.T) {
	dir := t.TempDir()
	pidPipe := fifo(t, dir, "pids")
	gate := fifo(t, dir, "gate")
	leave := script(t, dir, "leave", `sleep 1000 &
echo $$ $! > "$1"
read line < "$2"
exit 0
`)
	clk := clock.NewFake(t0)
	r, err := NewRunner("v", Config{Backup: []string{leave, pidPipe, gate}, Timeout: time.Second}, Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	stop := startRunner(t, r)
	r.Notify(event(Backup, "INIT"))
	ps, pidfds := hookProcs(t, pidPipe) // the shell and its background sleep
	writeFIFO(t, gate, "exit\n")
	waitExit(t, pidfds[0], ps[0]) // the hook itself exits
	clk.WaitArmed(t, t0.Add(time.Second))
	if s := r.Snapshot(); !s.Running {
		t.Fatalf("the hook's output is open, but it does not count as running: %+v", s)
	}
	clk.Advance(time.Second)
	waitExit(t, pidfds[1], ps[1])
	stop()
	if s := r.Snapshot(); s.Failures != 1 || s.Last.Result != ResultTimeout || !strings.Contains(s.LastError, "exited (exit status 0) but its output stayed open") {
		t.Fatalf("snapshot %+v (last %+v)", s, s.Last)
	}
}

// TestOutputLogged: the hook's standard output and error are logged line
// by line with their stream; a long line is cut, and past MaxOutputLines
// the lines are counted, not logged.
func TestOutputLogged(t *testing.T) {
	dir := t.TempDir()
	talk := script(t, dir, "talk", `echo "hello from $RMQLB_STATE"
echo "trouble" >&2
head -c 3000 /dev/zero | tr '\0' x; echo
i=0; while [ $i -lt 150 ]; do echo "line $i"; i=$((i+1)); done
`)
	core, logs := observer.New(zap.DebugLevel)
	r, err := NewRunner("v", Config{Master: []string{talk}}, Options{Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	r.Notify(event(Master, "BACKUP"))
	runToEnd(t, r)
	out := logs.FilterMessage("notify hook output").All()
	if len(out) != MaxOutputLines {
		t.Fatalf("%d output lines logged, want %d", len(out), MaxOutputLines)
	}
	lines := map[string]map[string]any{}
	for _, e := range out {
		m := e.ContextMap()
		lines[m["line"].(string)] = m
	}
	if m := lines["hello from MASTER"]; m == nil || m["stream"] != "stdout" || m["vrrp_instance"] != "v" || m["state"] != "MASTER" {
		t.Errorf("stdout line: %v", m)
	}
	if m := lines["trouble"]; m == nil || m["stream"] != "stderr" {
		t.Errorf("stderr line: %v", m)
	}
	if m := lines[strings.Repeat("x", MaxLineLen)]; m == nil || m["cut"] != true {
		t.Errorf("long line not logged cut at %d bytes", MaxLineLen)
	}
	// 3 lines and 150 more: 153 in all, MaxOutputLines logged.
	skipped := logs.FilterMessage("notify hook output: further lines not logged").All()
	if len(skipped) != 1 || skipped[0].ContextMap()["lines"] != int64(153-MaxOutputLines) {
		t.Fatalf("skipped lines: %v", skipped)
	}
	if s := r.Snapshot(); s.Failures != 0 || s.Last.Result != ResultOK {
		t.Fatalf("snapshot %+v", s)
	}
}

// TestFailuresCounted: a non-zero exit status and a program that cannot
// be started are failures, in the snapshot and the metrics.
func TestFailuresCounted(t *testing.T) {
	dir := t.TempDir()
	fail := script(t, dir, "fail", "echo failing >&2; exit 3\n")
	reg := prometheus.NewRegistry()
	r, err := NewRunner("v", Config{Fault: []string{fail}, Master: []string{filepath.Join(dir, "missing")}, Backup: []string{"/bin/true"}},
		Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	r.Notify(event(Backup, "INIT"))
	r.Notify(event(Fault, "BACKUP"))
	runToEnd(t, r)
	s := r.Snapshot()
	if s.Runs != 2 || s.Failures != 1 || s.Last.Result != ResultFailed || !strings.Contains(s.LastError, "running notify fault hook "+fail+": exit status 3") {
		t.Fatalf("after exit 3: %+v (last %+v)", s, s.Last)
	}

	r2, err := NewRunner("w", Config{Master: []string{filepath.Join(dir, "missing")}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r2.Notify(event(Master, "BACKUP"))
	runToEnd(t, r2)
	if s := r2.Snapshot(); s.Failures != 1 || s.Last.Result != ResultError || !strings.Contains(s.LastError, "no such file") {
		t.Fatalf("missing program: %+v (last %+v)", s, s.Last)
	}
	for _, c := range []struct {
		state, result string
		want          float64
	}{{"backup", "ok", 1}, {"fault", "failed", 1}, {"fault", "ok", 0}} {
		if n := runs(t, reg, c.state, c.result); n != c.want {
			t.Errorf("runs_total{%s,%s} = %v, want %v", c.state, c.result, n, c.want)
		}
	}
	// Every state and result has its series from the start; only the two
	// runs above counted.
	all := series(t, reg)
	nonzero := 0
	for _, v := range all {
		if v != 0 {
			nonzero++
		}
	}
	if len(all) != len(Kinds)*5 || nonzero != 2 {
		t.Errorf("%d series (%d not 0), want %d (2 not 0)", len(all), nonzero, len(Kinds)*5)
	}
}

// TestQueueOverflow: past the queue's bound Notify puts the change in the
// place of the last one waiting, whose hook it drops and counts, instead
// of waiting: the queued ones still run in order and the latest state's
// hook runs last; after Run has returned every hook is dropped.
func TestQueueOverflow(t *testing.T) {
	dir := t.TempDir()
	order := filepath.Join(dir, "order")
	rec := script(t, dir, "rec", `echo "$RMQLB_STATE" >> "$1"`)
	argv := []string{rec, order}
	reg := prometheus.NewRegistry()
	core, logs := observer.New(zap.DebugLevel)
	r, err := NewRunner("v", Config{Master: argv, Backup: argv}, Options{QueueLen: 2, Registerer: reg, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	r.Notify(event(Backup, "INIT"))
	r.Notify(event(Master, "BACKUP"))
	r.Notify(event(Backup, "MASTER"))
	r.Notify(event(Master, "BACKUP"))
	r.Notify(event(Backup, "MASTER"))
	if s := r.Snapshot(); s.Queued != 2 || s.Dropped != 3 {
		t.Fatalf("after 5 changes with room for 2: %+v", s)
	}
	if n := logs.FilterMessageSnippet("dropping notify hook").FilterLevelExact(zap.WarnLevel).Len(); n != 1 {
		t.Errorf("%d drop warnings for one run of drops, want 1", n)
	}
	// Each change that found the queue full took the place of the last
	// one waiting: MASTER, BACKUP, MASTER were dropped in turn.
	if a, b := runs(t, reg, "backup", "dropped"), runs(t, reg, "master", "dropped"); a != 1 || b != 2 {
		t.Errorf("dropped: backup %v master %v, want 1 and 2", a, b)
	}
	runToEnd(t, r)
	b, err := os.ReadFile(order)
	if err != nil {
		t.Fatal(err)
	}
	// The first change, then the latest: the state the instance is in.
	if got, want := strings.Fields(string(b)), []string{"BACKUP", "BACKUP"}; !slices.Equal(got, want) {
		t.Fatalf("hooks ran %v, want %v", got, want)
	}
	r.Notify(event(Master, "BACKUP"))
	if s := r.Snapshot(); s.Runs != 2 || s.Dropped != 4 || s.Queued != 0 {
		t.Fatalf("after Run returned: %+v", s)
	}
}

// TestNoHookNoRun: a change without a hook is neither queued nor counted;
// SetConfig applies to later changes while a queued one keeps its hook.
func TestNoHookNoRun(t *testing.T) {
	dir := t.TempDir()
	order := filepath.Join(dir, "order")
	rec := script(t, dir, "rec", `echo "$RMQLB_STATE $2" >> "$1"`)
	r, err := NewRunner("v", Config{Master: []string{rec, order, "old"}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r.Notify(event(Backup, "INIT"))
	if s := r.Snapshot(); s.Queued != 0 || s.Dropped != 0 {
		t.Fatalf("change without a hook: %+v", s)
	}
	r.Notify(event(Master, "BACKUP"))
	if err := r.SetConfig(Config{Master: []string{rec, order, "new"}, Backup: []string{rec, order, "new"}}); err != nil {
		t.Fatal(err)
	}
	if err := r.SetConfig(Config{Master: []string{"rec"}}); err == nil {
		t.Fatal("SetConfig took a relative path")
	}
	r.Notify(event(Backup, "MASTER"))
	runToEnd(t, r)
	b, err := os.ReadFile(order)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(b)); got != "MASTER old\nBACKUP new" {
		t.Fatalf("hooks ran:\n%s", got)
	}
}

// TestValidate: the rules of a hook's command line and timeout.
func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Master: []string{"/bin/true"}, Stop: []string{"/bin/echo", "a b"}, Timeout: time.Minute}, ""},
		{Config{}, ""},
		{Config{Master: []string{}}, "master: needs at least the program's absolute path"},
		{Config{Backup: []string{"true"}}, `backup: program "true" is not an absolute path`},
		{Config{Fault: []string{"./hook.sh"}}, `fault: program "./hook.sh" is not an absolute path`},
		{Config{Stop: []string{"/bin/echo", "a\x00b"}}, "stop: argument 1 contains a NUL byte"},
		{Config{Timeout: -time.Second}, "timeout: must be 1ms..10m0s, not -1s"},
		{Config{Timeout: time.Hour}, "timeout: must be 1ms..10m0s, not 1h0m0s"},
	} {
		err := tc.cfg.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.cfg, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
	if _, err := NewRunner("v", Config{Master: []string{"hook"}}, Options{}); err == nil {
		t.Error("NewRunner took a relative path")
	}
}

// TestCheckProgram: what makes a program unusable on this host.
func TestCheckProgram(t *testing.T) {
	dir := t.TempDir()
	ok := script(t, dir, "ok", "exit 0\n")
	noexec := filepath.Join(dir, "noexec")
	if err := os.WriteFile(noexec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckProgram(ok); err != nil {
		t.Errorf("executable script: %v", err)
	}
	for p, want := range map[string]string{
		noexec:                        "is not executable (mode 0644)",
		dir:                           "is not a regular file",
		filepath.Join(dir, "missing"): "no such file",
	} {
		if err := CheckProgram(p); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckProgram(%s) = %v, want %q", p, err, want)
		}
	}
}

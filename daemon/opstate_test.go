package daemon

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/internal/metricstest"
	"github.com/rmqlb/rmqlb/vrrp"
)

// weightOf returns backend name's weight in effect in listener amqp, and
// whether it is an operator's.
func (h *harness) weightOf(name string) (int, bool) {
	h.t.Helper()
	for _, l := range h.d.Status().Listeners {
		for _, b := range l.Backends {
			if l.Name == "amqp" && b.Name == name {
				return b.Weight, b.WeightOverride
			}
		}
	}
	h.t.Fatalf("no backend amqp/%s", name)
	return 0, false
}

// TestOperatorStateAcrossRestart: with a state file, the operator's maint
// and weight outlive a restart of the daemon, and a ready and a weight
// reset are kept too; an operator's weight is not restored once the
// backend's weight changed in the file; without a state file nothing is
// written.
func TestOperatorStateAcrossRestart(t *testing.T) {
	l := newLab(t)
	state := filepath.Join(t.TempDir(), "state.json")
	withState := "control_socket: SOCKET\nstate_file: " + state
	restart := func(file string) *harness {
		t.Helper()
		h := newHarness(t, file)
		startPassing(t, h, idA, idB)
		return h
	}

	h := restart(l.file("control_socket: SOCKET", withState))
	if _, err := h.d.SetAdmin("amqp/a", "maint"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.d.SetWeight("amqp/b", 7); err != nil {
		t.Fatal(err)
	}
	if s := mustReadOpState(t, state); len(s.Backends) != 2 {
		t.Fatalf("state file: %+v", s)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}

	h = restart(l.file("control_socket: SOCKET", withState))
	h.eventually("a MAINT after the restart", func() bool { return h.backendState(idA) == backend.Maint })
	wantReason(t, h, "a", "operator set MAINT (restored from the state file at start)")
	if w, op := h.weightOf("b"); w != 7 || !op {
		t.Errorf("b's weight after the restart: %d (operator's: %v), want the operator's 7", w, op)
	}
	if _, err := h.d.SetAdmin("amqp/a", "ready"); err != nil {
		t.Fatal(err)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}

	// b's maxconn set in the file: the operator's weight is dropped too,
	// as a reload that changes the backend drops it.
	if _, err := h.d.SetWeight("amqp/b", 7); err != nil {
		t.Fatal(err)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	h = restart(l.file("control_socket: SOCKET", withState, l.b.addr()+", weight: 10}", l.b.addr()+", weight: 10, maxconn: 50}"))
	h.eventually("a UP", func() bool { return h.backendState(idA) == backend.Up })
	if w, op := h.weightOf("b"); op {
		t.Errorf("b's weight after its maxconn changed in the file: the operator's %d", w)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	// The weight left out is left out of the file: the file of before
	// does not bring it back.
	h = restart(l.file("control_socket: SOCKET", withState))
	if w, op := h.weightOf("b"); op {
		t.Errorf("b's weight dropped at the last start came back: %d", w)
	}
	if _, err := h.d.SetWeight("amqp/b", 7); err != nil {
		t.Fatal(err)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}

	// b's weight changed in the file: the operator's is dropped; a is ready.
	h = restart(l.file("control_socket: SOCKET", withState, l.b.addr()+", weight: 10}", l.b.addr()+", weight: 20}"))
	h.eventually("a UP", func() bool { return h.backendState(idA) == backend.Up })
	if w, op := h.weightOf("b"); op {
		t.Errorf("b's weight after its weight changed in the file: the operator's %d", w)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}

	// A state file that is not one (cut short): the daemon starts without
	// it.
	if err := os.WriteFile(state, []byte(`{"version": 1, "broken": 1, "backends": [{"listener": "amqp", "backend": "a", "admin": "maint"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	h = restart(l.file("control_socket: SOCKET", withState))
	h.eventually("a UP", func() bool { return h.backendState(idA) == backend.Up })
	if f := h.d.Status().StateFile; f == nil || f.Op != control.StateFileRead || f.Path != state || !strings.Contains(f.Error, "unexpected EOF") {
		t.Errorf("status after a start with a broken state file: %+v, want it not restored", f)
	}
	if b, _ := os.ReadFile(state); !strings.Contains(string(b), "broken") {
		t.Errorf("the broken state file was rewritten at start:\n%s", b)
	}
	if _, err := h.d.SetAdmin("amqp/b", "drain"); err != nil {
		t.Fatal(err)
	}
	if f := h.d.Status().StateFile; f != nil {
		t.Errorf("status once the file is written: %+v", f)
	}
	if _, err := h.d.SetAdmin("amqp/b", "ready"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(state, []byte("broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}

	// Without a state file, the one of before is neither read nor written.
	h = restart(l.file())
	if _, err := h.d.SetAdmin("amqp/a", "drain"); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(state); err != nil || !strings.Contains(string(b), "broken") {
		t.Errorf("the state file after a change without state_file: %q, %v", b, err)
	}
	// A reload that names a state file writes the states there at once.
	other := filepath.Join(t.TempDir(), "other.json")
	if r := h.reload(l.file("control_socket: SOCKET", "control_socket: SOCKET\nstate_file: "+other)); !r.OK() || !slices.Contains(r.Applied, "state_file "+other) {
		t.Fatalf("reload: %+v", r)
	}
	b, err := os.ReadFile(other)
	if s, derr := decodeOpState(b); err != nil || derr != nil || len(s.Backends) != 1 || s.Backends[0].Admin != "drain" {
		t.Errorf("the state file named by a reload: %+v, %v, %v:\n%s", s, err, derr, b)
	}
	if !strings.Contains(l.file(), l.b.addr()+", weight: 10}") {
		t.Fatal("the lab's file has changed: the weight edit above edits nothing")
	}
}

// wantReason checks the reason of the last state change of backend name
// of listener amqp.
func wantReason(t *testing.T, h *harness, name, want string) {
	t.Helper()
	for _, b := range h.d.Status().Listeners[0].Backends {
		if b.Name == name && b.LastChangeReason != want {
			t.Errorf("%s's reason: %q, want %q", name, b.LastChangeReason, want)
		}
	}
}

// TestOperatorStateAcrossRestartUnchecked: the operator's state of a
// backend without checks, set on its listener, outlives a restart too.
func TestOperatorStateAcrossRestartUnchecked(t *testing.T) {
	l := newLab(t)
	state := filepath.Join(t.TempDir(), "state.json")
	file := l.file("control_socket: SOCKET", "control_socket: SOCKET\nstate_file: "+state,
		"      - {name: b, address: "+l.b.addr()+", weight: 10}", "      - {name: b, address: "+l.b.addr()+", weight: 10, check: {type: none}}")
	h := newHarness(t, file)
	startCheckedA(t, h)
	if _, err := h.d.SetAdmin("amqp/b", "drain"); err != nil {
		t.Fatal(err)
	}
	wantReason(t, h, "b", "operator set DRAIN")
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	h = newHarness(t, file)
	startCheckedA(t, h)
	if st := h.backendState(idB); st != backend.Drain {
		t.Errorf("b after the restart: %v, want DRAIN", st)
	}
	wantReason(t, h, "b", "operator set DRAIN (restored from the state file at start)")
}

// TestAdminReasonCheckedOrNot: an operator's command reads the same in
// the reason of a backend's state whether the backend is checked (a) or
// not (b).
func TestAdminReasonCheckedOrNot(t *testing.T) {
	l := newLab(t)
	file := l.file("      - {name: b, address: "+l.b.addr()+", weight: 10}", "      - {name: b, address: "+l.b.addr()+", weight: 10, check: {type: none}}")
	h := newHarness(t, file)
	startCheckedA(t, h)
	for _, c := range []struct {
		cmd, want string
		st        backend.State
	}{
		{"drain", "operator set DRAIN", backend.Drain},
		{"maint", "operator set MAINT", backend.Maint},
		{"ready", "operator cleared MAINT", backend.Up},
	} {
		for _, key := range []string{"amqp/a", "amqp/b"} {
			if _, err := h.d.SetAdmin(key, c.cmd); err != nil {
				t.Fatal(err)
			}
		}
		h.eventually("a and b "+c.st.String(), func() bool { return h.backendState(idA) == c.st && h.backendState(idB) == c.st })
		wantReason(t, h, "a", c.want)
		wantReason(t, h, "b", c.want)
	}
}

// startCheckedA starts the daemon and passes every check of a (b has
// none).
func startCheckedA(t *testing.T, h *harness) {
	t.Helper()
	startPassing(t, h, idA)
}

// startPassing starts the daemon with every check of the backends ids
// passing from the first: set before the start, since a first check that
// ran before would wait for an answer until its deadline, on a fake clock
// that does not move.
func startPassing(t *testing.T, h *harness, ids ...backend.ID) {
	t.Helper()
	for _, id := range ids {
		c := h.checks.get(id)
		if c == nil {
			t.Fatalf("no check of %s before the start", id)
		}
		c.always(healthcheck.Result{})
	}
	h.start()
	h.ready()
}

// TestReleaseAcrossRestart: with a state file, an operator's release of a
// VRRP instance outlives a restart of the daemon with its start, its end
// and its reason, and a ready is kept too; a release that ended while the
// daemon was stopped, or of an instance that is another virtual router
// now, is not restored, and is left out of the file.
func TestReleaseAcrossRestart(t *testing.T) {
	l := newLab(t)
	state := filepath.Join(t.TempDir(), "state.json")
	withState := "control_socket: SOCKET\nstate_file: " + state
	// restart starts a daemon on file whose clock reads at.
	restart := func(file string, at time.Time) *harness {
		t.Helper()
		h := newHarness(t, file)
		h.clk.Set(at)
		h.lastRound = at
		startPassing(t, h, idA, idB)
		return h
	}
	saved := func() opState {
		t.Helper()
		return mustReadOpState(t, state)
	}
	released := func(h *harness) vrrp.Snapshot {
		t.Helper()
		h.eventually("released", func() bool { return h.vrrpSnapshot().Released })
		return h.vrrpSnapshot()
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	h := restart(l.file("control_socket: SOCKET", withState), t0)
	before, err := h.vrrpCommand("release", "v", "1h")
	if err != nil {
		t.Fatal(err)
	}
	if s := saved(); len(s.VRRP) != 1 || s.VRRP[0].Name != "v" || !s.VRRP[0].Since.Equal(before.ReleasedSince) ||
		!s.VRRP[0].Until.Equal(before.ReleasedUntil) || s.VRRP[0].Reason != before.ReleaseReason {
		t.Fatalf("the state file after the release: %+v, want the release of %+v", s.VRRP, before)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}

	// Ten minutes later: released as before. The file the start wrote,
	// before the instance ran, kept the release.
	h = restart(l.file("control_socket: SOCKET", withState), t0.Add(10*time.Minute))
	if s := saved(); len(s.VRRP) != 1 || !s.VRRP[0].Until.Equal(before.ReleasedUntil) {
		t.Errorf("the state file after the start: %+v, want the release kept", s.VRRP)
	}
	after := released(h)
	reason := before.ReleaseReason + ", restored from the state file at start"
	if !after.ReleasedSince.Equal(before.ReleasedSince) || !after.ReleasedUntil.Equal(before.ReleasedUntil) || after.ReleaseReason != reason {
		t.Errorf("after the restart: since %v until %v (%q), want since %v until %v (%q)",
			after.ReleasedSince, after.ReleasedUntil, after.ReleaseReason, before.ReleasedSince, before.ReleasedUntil, reason)
	}
	// Another restart: the reason notes it once.
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	h = restart(l.file("control_socket: SOCKET", withState), t0.Add(15*time.Minute))
	if again := released(h); again.ReleaseReason != reason || !again.ReleasedSince.Equal(before.ReleasedSince) {
		t.Errorf("after a second restart: since %v (%q), want since %v (%q)", again.ReleasedSince, again.ReleaseReason, before.ReleasedSince, reason)
	}
	if _, err := h.vrrpCommand("ready", "v"); err != nil {
		t.Fatal(err)
	}
	if s := saved(); len(s.VRRP) != 0 {
		t.Errorf("the state file after ready: %+v", s.VRRP)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	h = restart(l.file("control_socket: SOCKET", withState), t0.Add(20*time.Minute))
	untilMaster(h)
	if s := h.vrrpSnapshot(); s.Released {
		t.Errorf("ready before the restart, released after it: %+v", s)
	}

	// A release for 1h, the daemon stopped for 2h: over.
	if _, err := h.vrrpCommand("release", "v", "1h"); err != nil {
		t.Fatal(err)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	h = restart(l.file("control_socket: SOCKET", withState), t0.Add(140*time.Minute))
	if s := saved(); len(s.VRRP) != 0 {
		t.Errorf("a release that ended while the daemon was stopped is in the file: %+v", s.VRRP)
	}
	untilMaster(h)
	if s := h.vrrpSnapshot(); s.Released {
		t.Errorf("a release that ended while the daemon was stopped was restored: %+v", s)
	}

	// Released until ready; the instance's VRID changed in the file: it
	// is another virtual router, not released.
	if _, err := h.vrrpCommand("release", "v"); err != nil {
		t.Fatal(err)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	h = restart(l.file("control_socket: SOCKET", withState, "virtual_router_id: 1", "virtual_router_id: 2"), t0.Add(150*time.Minute))
	if s := saved(); len(s.VRRP) != 0 {
		t.Errorf("the release of another virtual router is in the file: %+v", s.VRRP)
	}
	untilMaster(h)
	if s := h.vrrpSnapshot(); s.Released {
		t.Errorf("the release of VRID 1 was restored to VRID 2: %+v", s)
	}
}

// TestStateFileFailing: a state file that cannot be written is found at
// start, before an operator's command: status shows it from its first
// failure, with the last error, and so does rmqlb_state_file_failing;
// a reload to a file that can be written ends it.
func TestStateFileFailing(t *testing.T) {
	l := newLab(t)
	bad := filepath.Join(t.TempDir(), "missing", "state.json") // its directory does not exist
	h := newHarness(t, l.file("control_socket: SOCKET", "control_socket: SOCKET\nstate_file: "+bad))
	start := h.clk.Now()
	startChecked(t, h)
	failing := func() float64 {
		t.Helper()
		return metricstest.Value(t, metricstest.Gather(t, h.reg), "rmqlb_state_file_failing", nil)
	}
	f := h.d.Status().StateFile
	if f == nil || f.Path != bad || !f.Since.Equal(start) || !strings.Contains(f.Error, "no such file or directory") || failing() != 1 {
		t.Fatalf("status at start: %+v, rmqlb_state_file_failing %v; want the state file failing since the start", f, failing())
	}
	var out strings.Builder
	control.Format(&out, h.d.Status(), control.FormatOptions{})
	if !strings.Contains(out.String(), "state file not written for 0s ("+bad+": ") {
		t.Errorf("rmqlb status does not say it:\n%s", out.String())
	}
	h.clk.Advance(time.Minute)
	r, err := h.d.SetAdmin("amqp/a", "drain")
	if err != nil {
		t.Fatal(err)
	}
	if want := "not kept across a restart: writing the state file " + bad + ": "; !strings.HasPrefix(r.StateFileNote, want) ||
		!strings.HasSuffix(r.StateFileNote, ": this change lasts until the daemon stops") {
		t.Errorf("the answer to drain: %+v, want a note that begins %q", r, want)
	}
	if f := h.d.Status().StateFile; f == nil || !f.Since.Equal(start) {
		t.Errorf("after a command that failed to write it too: %+v, want it failing since the start", f)
	}
	// A reload to another file it cannot write says so.
	bad2 := filepath.Join(t.TempDir(), "missing", "other.json")
	if r := h.reload(l.file("control_socket: SOCKET", "control_socket: SOCKET\nstate_file: "+bad2)); !r.OK() ||
		!slices.ContainsFunc(r.Applied, func(s string) bool { return strings.HasPrefix(s, "state_file "+bad2+" (not written: open ") }) {
		t.Errorf("reload to a state file it cannot write: %+v", r)
	}
	good := filepath.Join(t.TempDir(), "state.json")
	if r := h.reload(l.file("control_socket: SOCKET", "control_socket: SOCKET\nstate_file: "+good)); !r.OK() {
		t.Fatalf("reload: %+v", r)
	}
	if f := h.d.Status().StateFile; f != nil || failing() != 0 {
		t.Errorf("after a reload to a file that can be written: %+v, rmqlb_state_file_failing %v", f, failing())
	}
	if s := mustReadOpState(t, good); len(s.Backends) != 1 || s.Backends[0].Admin != "drain" {
		t.Errorf("the new state file: %+v", s)
	}
}

// TestStateFileInPart: a start restores the entries of a state file that
// it can read and leaves out, with a warning, one it could not have
// written (edited by hand), instead of every operator state of the host;
// it ignores, with a warning, a field it does not know (a newer version's,
// after a downgrade) and restores the rest of that entry; the file it
// writes holds only what it restored, and the fields it does not know of
// what it restored and of the top level: the entry's until the operator
// changes it. Neither is a state file error.
func TestStateFileInPart(t *testing.T) {
	l := newLab(t)
	state := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(state, []byte(`{"version": 1, "saved": "2026-01-01T00:00:00Z", "hosts": [], "backends": [
		{"listener": "amqp", "backend": "a", "admin": "maint", "maint_until": "2026-01-02T00:00:00Z"},
		{"listener": "amqp", "backend": "b", "admin": "soft-drain"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.WarnLevel)
	h := newHarness(t, l.file("control_socket: SOCKET", "control_socket: SOCKET\nstate_file: "+state),
		func(o *Options) { o.Logger = zap.New(zapcore.NewTee(o.Logger.Core(), core)) })
	startPassing(t, h, idA, idB)
	h.eventually("a MAINT after the start", func() bool { return h.backendState(idA) == backend.Maint })
	wantReason(t, h, "a", "operator set MAINT (restored from the state file at start)")
	if got := h.backendState(idB); got != backend.Up {
		t.Errorf("b: %v, want UP (its entry left out)", got)
	}
	if f := h.d.Status().StateFile; f != nil {
		t.Errorf("status: state file error %+v, want none", f)
	}
	for _, w := range []string{"not restoring an entry of the state file", "ignoring fields of the state file"} {
		if logs.FilterMessageSnippet(w).Len() != 1 {
			t.Errorf("no warning %q; logs: %v", w, logs.All())
		}
	}
	if e := logs.FilterMessageSnippet("not restoring an entry").All(); len(e) == 1 && !strings.Contains(e[0].ContextMap()["entry"].(string), `backends[1]: amqp/b: admin "soft-drain", want drain or maint`) {
		t.Errorf("the refused entry logged as %v", e[0].ContextMap())
	}
	if e := logs.FilterMessageSnippet("ignoring fields").All(); len(e) == 1 && !reflect.DeepEqual(e[0].ContextMap()["fields"], []any{"hosts", "backends[0].maint_until"}) {
		t.Errorf("the ignored fields logged as %v", e[0].ContextMap()["fields"])
	}
	b, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	if s := mustReadOpState(t, state); len(s.Backends) != 1 || s.Backends[0].Backend != "a" || strings.Contains(string(b), "soft-drain") ||
		!slices.Equal(s.ignored, []string{"hosts", "backends[0].maint_until"}) || !strings.Contains(string(b), `"maint_until": "2026-01-02T00:00:00Z"`) {
		t.Errorf("the state file written at start, ignoring %q:\n%s", s.ignored, b)
	}
	// A change of another backend keeps a's field; a's own change drops it.
	if _, err := h.backendCmd("amqp/b", "drain"); err != nil {
		t.Fatal(err)
	}
	if s := mustReadOpState(t, state); len(s.Backends) != 2 || !slices.Equal(s.ignored, []string{"hosts", "backends[0].maint_until"}) {
		t.Errorf("after b's drain: %+v, ignoring %q", s.Backends, s.ignored)
	}
	if _, err := h.backendCmd("amqp/a", "drain"); err != nil {
		t.Fatal(err)
	}
	if s := mustReadOpState(t, state); len(s.Backends) != 2 || s.Backends[0].Admin != "drain" || !slices.Equal(s.ignored, []string{"hosts"}) {
		t.Errorf("after a's drain: %+v, ignoring %q", s.Backends, s.ignored)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
}

// mustReadOpState reads and decodes the state file at path.
func mustReadOpState(t *testing.T, path string) opState {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := decodeOpState(b)
	if err != nil {
		t.Fatalf("%v:\n%s", err, b)
	}
	return s
}

// TestDecodeOpState: a state file the daemon wrote reads back; one that
// is not a state file of this format is refused as a whole with why; an
// entry the daemon could not have written is left out with where and why,
// and the others read; a field it does not know is ignored and named, the
// rest of its entry read.
func TestDecodeOpState(t *testing.T) {
	const (
		release = `"name": "vi_1", "interface": "eth0", "vrid": 51, "version": 3, "since": "2026-12-04T12:00:00Z"`
		digest  = `"config": "abababababababababababababababababababababababababababababababab"`
	)
	for _, tc := range []struct {
		name, in string
		err      string   // the file refused with this
		refused  string   // its one refused entry, with this
		ignored  []string // the fields it ignores
		backends int      // the backends read
		releases int      // the releases read
	}{
		{name: "written", in: `{"version": 1, "saved": "2026-12-04T12:00:00Z", "backends": [
			{"listener": "amqp", "backend": "rmq1", "admin": "maint"},
			{"listener": "amqp", "backend": "rmq2", "weight": 0, ` + digest + `}]}`, backends: 2},
		{name: "no backend", in: `{"version": 1, "backends": []}`},
		{name: "not JSON", in: `version 1`, err: "reading state: invalid character"},
		{name: "not an object", in: `[1]`, err: "reading state: JSON array, want an object"},
		{name: "null", in: `null`, err: "version 0, want 1"},
		{name: "backends not a list", in: `{"version": 1, "backends": {}}`, err: "reading state: backends: JSON object, want []json.RawMessage"},
		{name: "version not a number", in: `{"version": "1", "backends": []}`, err: "reading state: version: JSON string, want int"},
		{name: "two objects", in: `{"version": 1, "backends": []} {}`, err: "data after the JSON object"},
		{name: "a brace after it", in: "{\"version\": 1, \"backends\": []} }\n", err: "data after the JSON object"},
		{name: "a bracket after it", in: `{"version": 1, "backends": []}]`, err: "data after the JSON object"},
		{name: "white space after it", in: "{\"version\": 1, \"backends\": []}\n\t \n", backends: 0},
		{name: "another version", in: `{"version": 2, "backends": []}`, err: "version 2, want 1"},
		{name: "unknown field", in: `{"version": 1, "backends": [], "extra": 1, "a b": 2}`, ignored: []string{`"a b"`, "extra"}},
		{name: "known field in another case", in: `{"Version": 1, "Backends": [{"Listener": "amqp", "backend": "a", "ADMIN": "drain"}]}`, backends: 1},
		{name: "unknown field of a backend", in: `{"version": 1, "backends": [{"listener": "amqp", "backend": "a", "admin": "drain", "note": "disk swap"}, {"listener": "amqp", "backend": "b", "admin": "drain"}]}`,
			ignored: []string{"backends[0].note"}, backends: 2},
		{name: "bad name", in: `{"version": 1, "backends": [{"listener": "a/b", "backend": "c", "admin": "drain"}, {"listener": "amqp", "backend": "c", "admin": "drain"}]}`,
			refused: `backends[0]: bad name "a/b"/"c"`, backends: 1},
		{name: "empty name", in: `{"version": 1, "backends": [{"listener": "amqp", "backend": "", "admin": "drain"}]}`, refused: "backends[0]: bad name"},
		{name: "entry not an object", in: `{"version": 1, "backends": [3]}`, refused: "backends[0]: JSON number, want an object"},
		{name: "entry null", in: `{"version": 1, "backends": [null]}`, refused: `backends[0]: bad name ""/""`},
		{name: "twice", in: `{"version": 1, "backends": [{"listener": "amqp", "backend": "a", "admin": "drain"}, {"listener": "amqp", "backend": "a", "admin": "maint"}]}`,
			refused: "backends[1]: amqp/a twice: the first is read", backends: 1},
		{name: "bad admin", in: `{"version": 1, "backends": [{"listener": "amqp", "backend": "a", "admin": "ready"}]}`, refused: `backends[0]: amqp/a: admin "ready", want drain or maint`},
		{name: "admin not a string", in: `{"version": 1, "backends": [{"listener": "amqp", "backend": "a", "admin": 1}]}`, refused: "backends[0]: admin: JSON number, want string"},
		{name: "weight out of range", in: `{"version": 1, "backends": [{"listener": "amqp", "backend": "a", "weight": 65536, ` + digest + `}]}`, refused: "weight 65536 out of 0..65535"},
		{name: "weight without its backend's settings", in: `{"version": 1, "backends": [{"listener": "amqp", "backend": "a", "weight": 5}]}`, refused: `config "", want the SHA-256`},
		{name: "settings not a digest", in: `{"version": 1, "backends": [{"listener": "amqp", "backend": "a", "weight": 5, "config": "abc"}]}`, refused: `config "abc", want the SHA-256`},
		{name: "settings without a weight", in: `{"version": 1, "backends": [{"listener": "amqp", "backend": "a", "admin": "drain", ` + digest + `}]}`, refused: "config without a weight"},
		{name: "negative weight", in: `{"version": 1, "backends": [{"listener": "amqp", "backend": "a", "weight": -1}]}`, refused: "weight -1 out of"},
		{name: "no change", in: `{"version": 1, "backends": [{"listener": "amqp", "backend": "a"}]}`, refused: "amqp/a has no change"},
		{name: "released until ready", in: `{"version": 1, "backends": [], "vrrp": [{` + release + `}]}`, releases: 1},
		{name: "released for an hour", in: `{"version": 1, "backends": [], "vrrp": [{"name": "vi_1", "interface": "eth0", "vrid": 51, "version": 2, "since": "2026-12-04T12:00:00Z", "until": "2026-12-04T13:00:00Z", "reason": "released by the operator for 1h0m0s (rmqlb vrrp release --for)"}]}`, releases: 1},
		{name: "release: bad name", in: `{"version": 1, "backends": [], "vrrp": [{"name": "vi 1", "interface": "eth0", "vrid": 51, "version": 3, "since": "2026-12-04T12:00:00Z"}]}`, refused: "vrrp[0]: bad name \"vi 1\""},
		{name: "release: no interface", in: `{"version": 1, "backends": [], "vrrp": [{"name": "vi_1", "interface": "", "vrid": 51, "version": 3, "since": "2026-12-04T12:00:00Z"}]}`, refused: "bad interface \"\""},
		{name: "release: interface too long", in: `{"version": 1, "backends": [], "vrrp": [{"name": "vi_1", "interface": "abcdefghijklmnop", "vrid": 51, "version": 3, "since": "2026-12-04T12:00:00Z"}]}`, refused: "bad interface"},
		{name: "release: interface with a slash", in: `{"version": 1, "backends": [], "vrrp": [{"name": "vi_1", "interface": "../eth0", "vrid": 51, "version": 3, "since": "2026-12-04T12:00:00Z"}]}`, refused: "bad interface"},
		{name: "release: VRID 0", in: `{"version": 1, "backends": [], "vrrp": [{"name": "vi_1", "interface": "eth0", "vrid": 0, "version": 3, "since": "2026-12-04T12:00:00Z"}]}`, refused: "virtual router id 0 out of 1..255"},
		{name: "release: VRID 256", in: `{"version": 1, "backends": [], "vrrp": [{"name": "vi_1", "interface": "eth0", "vrid": 256, "version": 3, "since": "2026-12-04T12:00:00Z"}]}`, refused: "vrrp[0]: vrid: JSON number 256, want uint8"},
		{name: "release: version 4", in: `{"version": 1, "backends": [], "vrrp": [{"name": "vi_1", "interface": "eth0", "vrid": 51, "version": 4, "since": "2026-12-04T12:00:00Z"}]}`, refused: "version 4, want 2 or 3"},
		{name: "release: no start", in: `{"version": 1, "backends": [], "vrrp": [{"name": "vi_1", "interface": "eth0", "vrid": 51, "version": 3}]}`, refused: "vi_1: no start"},
		{name: "release: start not a time", in: `{"version": 1, "backends": [], "vrrp": [{"name": "vi_1", "interface": "eth0", "vrid": 51, "version": 3, "since": "noon"}]}`, refused: "vrrp[0]: parsing time"},
		{name: "release: ends before it began", in: `{"version": 1, "backends": [], "vrrp": [{"name": "vi_1", "interface": "eth0", "vrid": 51, "version": 3, "since": "2026-12-04T12:00:00Z", "until": "2026-12-04T12:00:00Z"}]}`, refused: "ends (until 2026-12-04T12:00:00Z) before it began"},
		{name: "release: reason too long", in: `{"version": 1, "backends": [], "vrrp": [{"name": "vi_1", "interface": "eth0", "vrid": 51, "version": 3, "since": "2026-12-04T12:00:00Z", "reason": "LONG"}]}`, refused: "reason of 1025 bytes, more than 1024"},
		{name: "release: unknown field", in: `{"version": 1, "backends": [], "vrrp": [{` + release + `, "priority": 0}]}`, ignored: []string{"vrrp[0].priority"}, releases: 1},
		{name: "release: twice", in: `{"version": 1, "backends": [], "vrrp": [{` + release + `}, {` + release + `}]}`, refused: "vrrp[1]: vi_1 twice", releases: 1},
	} {
		s, err := decodeOpState([]byte(strings.Replace(tc.in, "LONG", strings.Repeat("x", 1025), 1)))
		if tc.err != "" || err != nil {
			if tc.err == "" || err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want one with %q", tc.name, err, tc.err)
			}
			continue
		}
		if len(s.Backends) != tc.backends || len(s.VRRP) != tc.releases {
			t.Errorf("%s: read %d backends and %d releases, want %d and %d", tc.name, len(s.Backends), len(s.VRRP), tc.backends, tc.releases)
		}
		switch {
		case tc.refused == "" && len(s.refused) != 0:
			t.Errorf("%s: refused %q", tc.name, s.refused)
		case tc.refused != "" && (len(s.refused) != 1 || !strings.Contains(s.refused[0], tc.refused)):
			t.Errorf("%s: refused %q, want one entry with %q", tc.name, s.refused, tc.refused)
		}
		if !slices.Equal(s.ignored, tc.ignored) {
			t.Errorf("%s: ignored %q, want %q", tc.name, s.ignored, tc.ignored)
		}
	}
	if _, err := decodeOpState(make([]byte, maxOpState+1)); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("a file past the bound: %v", err)
	}
}

// FuzzDecodeOpState: a state file read at start never panics; of one that
// is accepted, each entry is read or refused, and what is read is written
// back as it reads, with nothing refused (the daemon writes what it read)
// and the fields it does not know kept, and a start's plan of it restores
// a state only where the configuration can take it: a backend it has, a
// release of the same virtual router that has not ended.
func FuzzDecodeOpState(f *testing.F) {
	cfg, err := config.Parse([]byte(`control_socket: /run/rmqlb/test.sock
vrrp_instances:
  - {name: vi_1, interface: eth0, virtual_router_id: 51, version: 3, virtual_ipaddress: [10.0.0.100/24]}
listeners:
  - name: amqp
    bind: 10.0.0.100:5672
    check: {type: tcp}
    backends:
      - {name: rmq1, address: 10.0.0.1:5672}
      - {name: rmq2, address: 10.0.0.2:5672}
`))
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2026, 12, 4, 12, 30, 0, 0, time.UTC)
	f.Add([]byte(`{"version": 1, "saved": "2026-12-04T12:00:00Z", "backends": [{"listener": "amqp", "backend": "rmq1", "admin": "maint"}, {"listener": "amqp", "backend": "rmq2", "weight": 7, "config": "abababababababababababababababababababababababababababababababab"}]}`))
	f.Add([]byte(`{"version": 1, "backends": []}`))
	f.Add([]byte(`{"version": 1, "backends": [{"listener": "amqp", "backend": "a", "weight": -1}]}`))
	f.Add([]byte(`{"version": 1, "backends": [{"listener": "amqp", "backend": "rmq1", "admin": "maint"}, {"listener": "amqp", "backend": "rmq3", "admin": "drain"}], "vrrp": [{"name": "vi_1", "interface": "eth0", "vrid": 51, "version": 3, "since": "2026-12-04T12:00:00Z", "until": "2026-12-04T13:00:00Z"}]}`))
	f.Add([]byte(`{"version": 1, "backends": [], "vrrp": [{"name": "vi_1", "interface": "eth0", "vrid": 51, "version": 3, "since": "2026-12-04T12:00:00Z", "until": "2026-12-04T13:00:00+01:00", "reason": "released"}]}`))
	f.Add([]byte(`{"version": 1, "backends": [{"listener": "amqp", "backend": "rmq1", "admin": "soft", "x": 1}, 7, {"listener": "amqp", "backend": "rmq2", "admin": "drain", "note": ""}], "vrrp": [{"name": "vi_1"}], "hosts": {}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeOpState(b)
		if err != nil {
			return
		}
		again, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		s2, err := decodeOpState(again)
		if err != nil || len(s2.refused) != 0 || len(s2.ignored) != len(s.ignored) {
			t.Fatalf("written back, refused: %v, %q; ignoring %q, read ignoring %q\n%s", err, s2.refused, s2.ignored, s.ignored, again)
		}
		var raw struct{ Backends, VRRP []json.RawMessage }
		if err := json.Unmarshal(b, &raw); err != nil {
			t.Fatalf("accepted, not JSON: %v", err)
		}
		if len(s.Backends)+len(s.VRRP)+len(s.refused) != len(raw.Backends)+len(raw.VRRP) {
			t.Fatalf("%d entries, %d read and %d refused", len(raw.Backends)+len(raw.VRRP), len(s.Backends)+len(s.VRRP), len(s.refused))
		}
		if !reflect.DeepEqual(normalOpState(s), normalOpState(s2)) {
			t.Fatalf("written back, read as another:\n%+v\n%+v", s, s2)
		}
		for _, a := range planRestore(cfg, s, now) {
			if a.skip != "" {
				continue
			}
			switch a.kind {
			case restoreAdmin, restoreWeight:
				if _, ok := cfg.Backend(a.backend); !ok {
					t.Fatalf("restores %v of a backend the configuration lacks", a)
				}
			case restoreRelease:
				in, ok := cfg.VRRPInstance(a.release.Name)
				if !ok || !a.release.sameRouter(in) || a.left < 0 || (a.left == 0) != a.release.Until.IsZero() {
					t.Fatalf("restores %v, left %v", a, a.left)
				}
			}
		}
	})
}

// normalOpState makes s comparable: times by their instant.
func normalOpState(s opState) opState {
	s.refused, s.ignored = nil, nil
	s.Saved = s.Saved.UTC()
	s.VRRP = slices.Clone(s.VRRP)
	for i := range s.VRRP {
		s.VRRP[i].Since, s.VRRP[i].Until = s.VRRP[i].Since.UTC(), s.VRRP[i].Until.UTC()
	}
	return s
}

// TestBackendFingerprint: the fingerprint of a backend's settings is the
// same in every process (golden: nothing in it may be a pointer or a
// handle), and changes with each setting a reload compares.
func TestBackendFingerprint(t *testing.T) {
	const base = `control_socket: /run/rmqlb/test.sock
listeners:
  - name: amqp
    bind: 10.0.0.100:5672
    check: {type: tcp}
    backends:
      - {name: a, address: 10.0.0.1:5672, weight: 10}
`
	id := backend.ID{Listener: "amqp", Name: "a"}
	fp := func(file string) string {
		t.Helper()
		return backendFingerprint(mustParse(t, file), id)
	}
	got := fp(base)
	if want := sha256Hex("address=10.0.0.1:5672 weight=10 maxconn=0 backup=false proxy_protocol=0 checked=true"); got != want {
		t.Errorf("fingerprint %s, want %s", got, want)
	}
	for _, edit := range [][2]string{
		{"address: 10.0.0.1:5672", "address: 10.0.0.2:5672"},
		{"weight: 10}", "weight: 11}"},
		{"weight: 10}", "weight: 10, maxconn: 5}"},
		{"weight: 10}", "weight: 10, backup: true}"},
		{"weight: 10}", "weight: 10, check: {type: none}}"},
		{"    check: {type: tcp}\n", "    check: {type: tcp}\n    proxy_protocol: v1\n"},
	} {
		if fp(strings.Replace(base, edit[0], edit[1], 1)) == got {
			t.Errorf("%q -> %q leaves the fingerprint", edit[0], edit[1])
		}
	}
	if fp(strings.Replace(base, "bind: 10.0.0.100:5672", "bind: 10.0.0.100:5673", 1)) != got {
		t.Error("the listener's bind changes the backend's fingerprint")
	}
	if backendFingerprint(mustParse(t, base), backend.ID{Listener: "amqp", Name: "z"}) != "" {
		t.Error("a fingerprint for a backend that is not configured")
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestWriteOpStateCarries: writing the state file keeps the fields of the
// file it replaces that this daemon does not know: those of the top level,
// and those of each entry it writes unchanged (a backend with the same
// admin state, weight and fingerprint; a release of the same virtual
// router with the same start and end, whatever its reason), after the
// entry's own fields (golden bytes). An entry changed, or new, has none;
// a file it cannot read gives none.
func TestWriteOpStateCarries(t *testing.T) {
	const digest = "abababababababababababababababababababababababababababababababab"
	prev := `{"version": 1, "saved": "2026-12-04T12:00:00Z", "hosts": {"h1": [1, 2]}, "Z": "<&>", "backends": [
	  {"listener": "amqp", "backend": "a", "admin": "maint", "until": "2026-12-05T00:00:00Z", "by": "ops"},
	  {"listener": "amqp", "backend": "b", "weight": 5, "config": "` + digest + `", "note": 1},
	  {"listener": "amqp", "backend": "c", "admin": "drain", "note": 2}],
	 "vrrp": [
	  {"name": "v1", "interface": "eth0", "vrid": 1, "version": 3, "since": "2026-12-04T12:00:00Z", "reason": "r", "ticket": "T-1"},
	  {"name": "v2", "interface": "eth0", "vrid": 2, "version": 3, "since": "2026-12-04T12:00:00Z", "ticket": "T-2"}]}`
	five, six := 5, 6
	since := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	s := opState{Version: opStateVersion, Saved: time.Date(2026, 12, 4, 13, 0, 0, 0, time.UTC), Backends: []opBackend{
		{Listener: "amqp", Backend: "a", Admin: "maint"},                                // unchanged: carried
		{Listener: "amqp", Backend: "b", Weight: &six, Config: digest},                  // another weight: not
		{Listener: "amqp", Backend: "c", Admin: "maint"},                                // another admin: not
		{Listener: "amqp", Backend: "d", Admin: "drain", Weight: &five, Config: digest}, // new
	}, VRRP: []opRelease{
		{handedVRRPInfo: handedVRRPInfo{Name: "v1", Interface: "eth0", VRID: 1, Version: 3}, Since: since, Reason: "r, restored from the state file at start"},
		{handedVRRPInfo: handedVRRPInfo{Name: "v2", Interface: "eth0", VRID: 2, Version: 3}, Since: since, Until: since.Add(time.Hour)},
	}}
	want := `{
  "version": 1,
  "saved": "2026-12-04T13:00:00Z",
  "backends": [
    {
      "listener": "amqp",
      "backend": "a",
      "admin": "maint",
      "by": "ops",
      "until": "2026-12-05T00:00:00Z"
    },
    {
      "listener": "amqp",
      "backend": "b",
      "weight": 6,
      "config": "` + digest + `"
    },
    {
      "listener": "amqp",
      "backend": "c",
      "admin": "maint"
    },
    {
      "listener": "amqp",
      "backend": "d",
      "admin": "drain",
      "weight": 5,
      "config": "` + digest + `"
    }
  ],
  "vrrp": [
    {
      "name": "v1",
      "interface": "eth0",
      "vrid": 1,
      "version": 3,
      "since": "2026-12-04T12:00:00Z",
      "reason": "r, restored from the state file at start",
      "ticket": "T-1"
    },
    {
      "name": "v2",
      "interface": "eth0",
      "vrid": 2,
      "version": 3,
      "since": "2026-12-04T12:00:00Z",
      "until": "2026-12-04T13:00:00Z"
    }
  ],
  "Z": "\u003c\u0026\u003e",
  "hosts": {
    "h1": [
      1,
      2
    ]
  }
}
`
	dir := t.TempDir()
	for _, tc := range []struct {
		name, prev, want string
	}{
		{"carried", prev, want},
		{"no file before", "", ""},
		{"a file not read", `{"version": 2, "hosts": 1}`, ""},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
		if tc.prev != "" {
			if err := os.WriteFile(path, []byte(tc.prev), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := writeOpState(path, s); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if tc.want == "" {
			if s2 := mustReadOpState(t, path); len(s2.ignored) != 0 {
				t.Errorf("%s: written with fields it does not know %q:\n%s", tc.name, s2.ignored, b)
			}
			continue
		}
		if string(b) != tc.want {
			t.Errorf("%s: written\n%s\nwant\n%s", tc.name, b, tc.want)
		}
		// Written again over itself: the same.
		if err := writeOpState(path, s); err != nil {
			t.Fatal(err)
		}
		if again, _ := os.ReadFile(path); string(again) != string(b) {
			t.Errorf("%s: written over itself\n%s", tc.name, again)
		}
	}
}

// TestControlAnswersAfterRestore: the control socket answers only once
// the operator's states of the last run are restored and written back,
// so that neither a status shows the backends without them nor an
// operator's command is overwritten by them. The state file is a FIFO,
// so that the daemon waits in the middle of each read of it (one to
// restore, one to keep what it does not know when it writes the file)
// for as long as the test wants.
func TestControlAnswersAfterRestore(t *testing.T) {
	l := newLab(t)
	state := filepath.Join(t.TempDir(), "state.json")
	if err := syscall.Mkfifo(state, 0o600); err != nil {
		t.Fatal(err)
	}
	const saved = `{"version": 1, "saved": "2026-01-01T00:00:00Z", "backends": [{"listener": "amqp", "backend": "a", "admin": "maint"}]}`
	// serve waits until the daemon opens the FIFO to read it, which
	// opening it to write does, and gives it the file's content.
	serve := func() {
		t.Helper()
		done := make(chan error, 1)
		go func() {
			w, err := os.OpenFile(state, os.O_WRONLY, 0)
			if err == nil {
				_, err = w.WriteString(saved)
				w.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("the daemon did not read the state file within 20 s")
		}
	}
	h := newHarness(t, l.file("control_socket: SOCKET", "control_socket: SOCKET\nstate_file: "+state))
	for _, id := range []backend.ID{idA, idB} {
		h.checks.get(id).always(healthcheck.Result{})
	}
	h.start()
	// When the test fails, the daemon may wait on the FIFO: the stop
	// (the cleanup before this one) needs it to read an empty file
	// until it has written the state file over it.
	t.Cleanup(func() {
		for start := time.Now(); time.Since(start) < 10*time.Second; time.Sleep(10 * time.Millisecond) {
			if fi, err := os.Lstat(state); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
				return
			}
			if f, err := os.OpenFile(state, os.O_RDWR, 0); err == nil {
				f.Close()
			}
		}
	})
	answers := make(chan control.Status, 1)
	errs := make(chan error, 1)
	notYet := func(when string) {
		t.Helper()
		select {
		case s := <-answers:
			t.Fatalf("status answered %s: %+v", when, s.Listeners)
		case err := <-errs:
			t.Fatalf("status %s: %v", when, err)
		case <-time.After(300 * time.Millisecond):
		}
	}
	serve()
	// The daemon has read the file once: its control socket listens.
	go func() {
		var s control.Status
		if err := control.Call(h.socket(), control.Request{Command: "status"}, &s, 30*time.Second); err != nil {
			errs <- err
			return
		}
		answers <- s
	}()
	notYet("before the state file was written back")
	serve()
	select {
	case s := <-answers:
		if len(s.Listeners) != 1 || len(s.Listeners[0].Backends) != 2 || s.Listeners[0].Backends[0].State != backend.Maint {
			t.Errorf("the first status answered: %+v, want a MAINT as restored", s.Listeners)
		}
		if s.StateFile != nil {
			t.Errorf("the first status answered: state file %+v, want it written", s.StateFile)
		}
	case err := <-errs:
		t.Fatalf("status: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("no answer to status within 20 s of the state file written")
	}
	if s := mustReadOpState(t, state); len(s.Backends) != 1 || s.Backends[0].Admin != "maint" {
		t.Errorf("the state file written back: %+v", s)
	}
}

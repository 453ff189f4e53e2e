package daemon

import (
	"errors"
	"slices"
	"testing"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/config"
)

// listenerWalkOld and listenerWalkNew make a plan with every kind of
// listener step: gone is removed; mv, held and lost move; add1 and add2
// are added; upd loses backend b, gets c, a new check interval for a, and
// no check for d; the metrics endpoint moves.
const (
	listenerWalkOld = `metrics_listen: 127.0.0.1:9100
listeners:
  - {name: gone, bind: 127.0.0.1:1001, backends: [{name: a, address: 10.0.0.1:5672}]}
  - {name: mv, bind: 127.0.0.1:1002, backends: [{name: a, address: 10.0.0.1:5672}]}
  - {name: held, bind: 127.0.0.1:1003, backends: [{name: a, address: 10.0.0.1:5672}]}
  - {name: lost, bind: 127.0.0.1:1004, backends: [{name: a, address: 10.0.0.1:5672}]}
  - name: upd
    bind: 127.0.0.1:1005
    backends:
      - {name: a, address: 10.0.0.1:5672}
      - {name: b, address: 10.0.0.2:5672}
      - {name: d, address: 10.0.0.4:5672}
`
	listenerWalkNew = `metrics_listen: 127.0.0.1:9101
listeners:
  - {name: mv, bind: 127.0.0.1:1012, backends: [{name: a, address: 10.0.0.1:5672}]}
  - {name: held, bind: 127.0.0.1:1013, backends: [{name: a, address: 10.0.0.1:5672, check: {interval: 5s}}]}
  - {name: lost, bind: 127.0.0.1:1014, backends: [{name: a, address: 10.0.0.1:5672}]}
  - name: upd
    bind: 127.0.0.1:1005
    backends:
      - {name: a, address: 10.0.0.1:5672, check: {interval: 5s}}
      - {name: c, address: 10.0.0.3:5672}
      - {name: d, address: 10.0.0.4:5672, check: {type: none}}
  - {name: add1, bind: 127.0.0.1:1021, backends: [{name: a, address: 10.0.0.1:5672}]}
  - {name: add2, bind: 127.0.0.1:1022, backends: [{name: a, address: 10.0.0.1:5672}]}
`
)

// listenerWalkDoer records what walkListeners asks of it and fails the
// steps named in fail ("start lost", "restore lost", "metrics", "update
// upd", "check-remove upd/b", "check-set upd/c").
type listenerWalkDoer struct {
	fail  []string
	calls []string
}

func (w *listenerWalkDoer) do(step string) error {
	w.calls = append(w.calls, step)
	if slices.Contains(w.fail, step) {
		return errors.New("failed")
	}
	return nil
}

func (w *listenerWalkDoer) stopAccepting(name string) { _ = w.do("stop " + name) }
func (w *listenerWalkDoer) moveMetrics() error        { return w.do("metrics") }
func (w *listenerWalkDoer) start(c ListenerChange) (err, restoreErr error) {
	if err = w.do("start " + c.Name); err != nil && c.Op == OpReplace {
		restoreErr = w.do("restore " + c.Name)
	}
	return err, restoreErr
}
func (w *listenerWalkDoer) dropChecks(l *config.Listener) { _ = w.do("drop-checks " + l.Name) }
func (w *listenerWalkDoer) removeCheck(id backend.ID) error {
	return w.do("check-remove " + id.String())
}
func (w *listenerWalkDoer) update(c ListenerChange) error { return w.do("update " + c.Name) }
func (w *listenerWalkDoer) serveUnchecked(id backend.ID)  { _ = w.do("serve " + id.String()) }
func (w *listenerWalkDoer) setCheck(c CheckChange) error {
	return w.do("check-set " + c.Backend.String())
}

// TestWalkListeners: the listener steps of a reload, as Daemon.apply
// makes them and a dry run lists them: what goes away stops first (but a
// listener whose new address another socket holds, which runs on
// untouched), then the metrics endpoint moves, then listeners bind; a
// moved listener that cannot bind runs where it was, or, when that fails
// too, is gone with its checks; the check changes of a listener whose
// own change failed are skipped; a failed step is refused alone.
func TestWalkListeners(t *testing.T) {
	old, nc := mustParse(t, listenerWalkOld), mustParse(t, listenerWalkNew)
	p := Diff(old, nc)
	binds := map[string]error{"held": errors.New("address in use")}
	for _, tc := range []struct {
		name                   string
		fail                   []string
		calls, applied, refuse []string
		failed                 map[string]string // listener: the bind it keeps, "" for none
		metricsFailed          bool
	}{
		{
			name: "nothing fails as it is made",
			calls: []string{"stop mv", "stop lost", "stop gone", "metrics",
				"start mv", "start lost", "start add1", "start add2",
				"check-remove gone/a", "check-remove upd/b", "check-remove upd/d", "update upd", "serve upd/d",
				"check-set upd/a", "check-set upd/c", "check-set add1/a", "check-set add2/a"},
			applied: []string{"listener gone removed", "metrics_listen 127.0.0.1:9101",
				"listener mv moved on 127.0.0.1:1012", "listener lost moved on 127.0.0.1:1014",
				"listener add1 added on 127.0.0.1:1021", "listener add2 added on 127.0.0.1:1022",
				"check of gone/a removed", "check of upd/b removed", "check of upd/d removed", "listener upd updated",
				"check of upd/a updated", "check of upd/c added", "check of add1/a added", "check of add2/a added"},
			refuse: []string{"listener held: address in use (it stays on 127.0.0.1:1003)"},
			failed: map[string]string{"held": "127.0.0.1:1003"},
		},
		{
			name: "every step that can fail",
			fail: []string{"metrics", "start lost", "restore lost", "start add1", "update upd", "start mv"},
			calls: []string{"stop mv", "stop lost", "stop gone", "metrics",
				"start mv", "restore mv", "start lost", "restore lost", "drop-checks lost", "start add1", "start add2",
				"check-remove gone/a", "check-remove upd/b", "check-remove upd/d", "update upd", "check-set add2/a"},
			applied: []string{"listener gone removed", "listener add2 added on 127.0.0.1:1022",
				"check of gone/a removed", "check of upd/b removed", "check of upd/d removed", "check of add2/a added"},
			refuse: []string{
				"metrics_listen: failed",
				"listener mv: failed (it stays on 127.0.0.1:1002)",
				"listener held: address in use (it stays on 127.0.0.1:1003)",
				"listener lost: failed; binding its old address 127.0.0.1:1004 again failed too: failed (the listener is gone; a reload adds it again)",
				"listener add1: failed",
				"listener upd: failed",
			},
			failed:        map[string]string{"held": "127.0.0.1:1003", "mv": "127.0.0.1:1002", "lost": "", "add1": "", "upd": "127.0.0.1:1005"},
			metricsFailed: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			do := &listenerWalkDoer{fail: tc.fail}
			failed := newLeftovers()
			var applied, refused []string
			walkListeners(p, nc, binds, do, &failed,
				func(_ listenerStep, line string) { applied = append(applied, line) },
				func(what string, err error) { refused = append(refused, what+": "+err.Error()) })
			if !slices.Equal(do.calls, tc.calls) {
				t.Errorf("calls:\n%q\nwant:\n%q", do.calls, tc.calls)
			}
			if !slices.Equal(applied, tc.applied) {
				t.Errorf("applied:\n%q\nwant:\n%q", applied, tc.applied)
			}
			if !slices.Equal(refused, tc.refuse) {
				t.Errorf("refused:\n%q\nwant:\n%q", refused, tc.refuse)
			}
			got := map[string]string{}
			for name, l := range failed.listeners {
				got[name] = ""
				if l != nil {
					got[name] = l.Bind.String()
				}
			}
			if len(got) != len(tc.failed) {
				t.Errorf("failed listeners %v, want %v", got, tc.failed)
			}
			for name, bind := range tc.failed {
				if g, ok := got[name]; !ok || g != bind {
					t.Errorf("failed listeners %v, want %v", got, tc.failed)
				}
			}
			if failed.metrics != tc.metricsFailed {
				t.Errorf("metrics failed %v, want %v", failed.metrics, tc.metricsFailed)
			}
		})
	}
}

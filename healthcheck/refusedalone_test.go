package healthcheck

import (
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/internal/clock"
)

// TestRefusedAloneFails drives the scheduler's results step by step: with
// RefusedAloneFails, a refused login fails a backend once another backend
// of its listener that logs in alike has passed cleanly since the refusals
// began; refused by every backend alike, each stays DEGRADED, as without
// the setting, for another login or on another listener.
func TestRefusedAloneFails(t *testing.T) {
	refused := Result{Warning: "login refused: 403 ACCESS_REFUSED", Refused: true}
	pass := Result{Info: "RabbitMQ"}
	type step struct {
		backend string // "l/name"
		r       Result
	}
	for _, tc := range []struct {
		name  string
		cfg   map[string]CheckConfig // by backend, beside the common one
		steps []step
		want  map[string]string // state, and a word of the reason of a DOWN
	}{
		{"refused alone", nil,
			[]step{{"l/a", pass}, {"l/b", pass}, {"l/c", pass}, {"l/a", refused}, {"l/b", pass}, {"l/a", refused}, {"l/a", refused}},
			map[string]string{"l/a": "DOWN refused by this node alone (the same login passes on b): login refused: 403", "l/b": "UP", "l/c": "UP"}},
		{"refused alone, peers not checked since", nil,
			[]step{{"l/a", pass}, {"l/b", pass}, {"l/a", refused}, {"l/a", refused}, {"l/a", refused}},
			map[string]string{"l/a": "DEGRADED", "l/b": "UP"}},
		{"refused by every node", nil,
			[]step{{"l/a", pass}, {"l/b", pass}, {"l/a", refused}, {"l/b", refused}, {"l/a", refused}, {"l/b", refused}, {"l/a", refused}, {"l/b", refused}},
			map[string]string{"l/a": "DEGRADED", "l/b": "DEGRADED"}},
		{"a peer that passes again after its own refusal", nil,
			[]step{{"l/a", pass}, {"l/b", pass}, {"l/a", refused}, {"l/b", refused}, {"l/b", pass}, {"l/a", refused}, {"l/a", refused}},
			map[string]string{"l/a": "DOWN refused by this node alone (the same login passes on b)", "l/b": "UP"}},
		{"another login", map[string]CheckConfig{"l/b": {Login: "other"}},
			[]step{{"l/a", pass}, {"l/b", pass}, {"l/a", refused}, {"l/b", pass}, {"l/a", refused}, {"l/a", refused}},
			map[string]string{"l/a": "DEGRADED", "l/b": "UP"}},
		{"another listener", nil,
			[]step{{"l/a", pass}, {"m/b", pass}, {"l/a", refused}, {"m/b", pass}, {"l/a", refused}, {"l/a", refused}},
			map[string]string{"l/a": "DEGRADED", "m/b": "UP"}},
		{"not set", map[string]CheckConfig{"l/a": {Login: "k"}},
			[]step{{"l/a", pass}, {"l/b", pass}, {"l/a", refused}, {"l/b", pass}, {"l/a", refused}, {"l/a", refused}},
			map[string]string{"l/a": "DEGRADED", "l/b": "UP"}},
		{"an inconclusive check keeps the run", nil,
			[]step{{"l/a", pass}, {"l/b", pass}, {"l/a", refused}, {"l/b", pass}, {"l/a", Result{Err: errFail, Inconclusive: true}}, {"l/a", refused}, {"l/a", refused}},
			map[string]string{"l/a": "DOWN refused by this node alone"}},
		{"a clean pass ends the run", nil,
			[]step{{"l/a", pass}, {"l/b", pass}, {"l/a", refused}, {"l/b", pass}, {"l/a", pass}, {"l/a", refused}, {"l/a", refused}},
			map[string]string{"l/a": "DEGRADED", "l/b": "UP"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			s := NewScheduler(Options{Clock: clk})
			ids := map[string]backend.ID{}
			for _, st := range tc.steps {
				if _, ok := ids[st.backend]; ok {
					continue
				}
				l, n, _ := strings.Cut(st.backend, "/")
				id := backend.ID{Listener: l, Name: n}
				cfg := CheckConfig{Interval: time.Second, Rise: 1, Fall: 2, Login: "k", RefusedAloneFails: true}
				if c, ok := tc.cfg[st.backend]; ok {
					cfg.Login, cfg.RefusedAloneFails = c.Login, c.RefusedAloneFails
				}
				if err := s.Add(id, cfg, &scripted{}); err != nil {
					t.Fatal(err)
				}
				ids[st.backend] = id
			}
			for _, st := range tc.steps {
				clk.Advance(100 * time.Millisecond)
				s.mu.Lock()
				e := s.backends[ids[st.backend]]
				s.mu.Unlock()
				s.observe(result{e: e, r: st.r, latency: time.Millisecond})
			}
			snap := s.Snapshot()
			for name, want := range tc.want {
				for _, b := range snap.Backends {
					if b.Backend != ids[name] {
						continue
					}
					got := b.State.String()
					if b.State == backend.Down {
						got += " " + b.LastError
					}
					if !strings.HasPrefix(got, want) {
						t.Errorf("%s: %q, want %q...", name, got, want)
					}
				}
			}
		})
	}
}

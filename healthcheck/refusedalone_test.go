package healthcheck

import (
	"slices"
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
	// alone is BackendStatus.RefusedAlone by test and backend: the same
	// rule, whether or not the setting acts on it; absent means empty.
	alone := map[string]map[string][]string{
		"refused alone": {"l/a": {"b"}},
		"a peer that passes again after its own refusal": {"l/a": {"b"}},
		"not set":                             {"l/a": {"b"}},
		"an inconclusive check keeps the run": {"l/a": {"b"}},
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
			for _, b := range snap.Backends {
				if want := alone[tc.name][b.Backend.String()]; !slices.Equal(b.RefusedAlone, want) {
					t.Errorf("%s: RefusedAlone %q, want %q", b.Backend, b.RefusedAlone, want)
				}
			}
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

// TestPassedAlike covers the rule on its own: same listener, same login,
// a clean pass after the run of refusals began, never the backend itself.
func TestPassedAlike(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a, b, c := backend.ID{Listener: "l", Name: "a"}, backend.ID{Listener: "l", Name: "b"}, backend.ID{Listener: "l", Name: "c"}
	peer := func(id backend.ID, login string, clean bool, at time.Duration) LoginCheck {
		return LoginCheck{Backend: id, Login: login, Clean: clean, At: t0.Add(at)}
	}
	for _, tc := range []struct {
		name   string
		login  string
		checks []LoginCheck
		want   []backend.ID
	}{
		{"passed since", "k", []LoginCheck{peer(a, "k", true, time.Second), peer(b, "k", true, time.Second), peer(c, "k", true, time.Second)}, []backend.ID{b, c}},
		{"passed at the start, not after", "k", []LoginCheck{peer(b, "k", true, 0)}, nil},
		{"passed before", "k", []LoginCheck{peer(b, "k", true, -time.Second)}, nil},
		{"not checked yet", "k", []LoginCheck{{Backend: b, Login: "k", Clean: true}}, nil},
		{"passed with a warning", "k", []LoginCheck{peer(b, "k", false, time.Second)}, nil},
		{"another login", "k", []LoginCheck{peer(b, "j", true, time.Second)}, nil},
		{"another listener", "k", []LoginCheck{peer(backend.ID{Listener: "m", Name: "b"}, "k", true, time.Second)}, nil},
		{"no login", "", []LoginCheck{peer(b, "", true, time.Second)}, nil},
	} {
		if got := PassedAlike(a, tc.login, t0, tc.checks); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

package healthcheck

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/internal/clock"
	"github.com/rmqlb/rmqlb/internal/metricstest"
)

// TestRefusedAloneFails drives the scheduler's results step by step: with
// RefusedAloneFails, a refused login fails a backend once another backend
// of its listener that logs in alike was let in since the refusals
// began; refused by every backend alike, each stays DEGRADED, as without
// the setting, for another login or on another listener.
func TestRefusedAloneFails(t *testing.T) {
	refused := Result{Warning: "login refused: 403 ACCESS_REFUSED", Refused: true}
	pass := Result{Info: "RabbitMQ"}
	type step struct {
		backend string // "l/name"
		r       Result
		login   string // the login the check ran with; "": its backend's ("k" unless cfg says)
	}
	alarm := Result{Info: "RabbitMQ", Alarm: "publishers blocked: memory"}
	// alone is BackendStatus.RefusedAlone by test and backend: the same
	// rule, whether or not the setting acts on it; absent means empty.
	alone := map[string]map[string][]string{
		"refused alone": {"l/a": {"b"}},
		"a peer that passes again after its own refusal": {"l/a": {"b"}},
		"not set":                              {"l/a": {"b"}},
		"an inconclusive check keeps the run":  {"l/a": {"b"}},
		"a peer let in under a resource alarm": {"l/a": {"b"}},
		"a peer let in with the new login":     {"l/a": {"b"}},
	}
	for _, tc := range []struct {
		name  string
		cfg   map[string]CheckConfig // by backend, beside the common one
		steps []step
		want  map[string]string // state, and a word of the reason of a DOWN
	}{
		{"refused alone", nil,
			[]step{{"l/a", pass, ""}, {"l/b", pass, ""}, {"l/c", pass, ""}, {"l/a", refused, ""}, {"l/b", pass, ""}, {"l/a", refused, ""}, {"l/a", refused, ""}},
			map[string]string{"l/a": "DOWN refused by this node alone (the same login passes on b): login refused: 403", "l/b": "UP", "l/c": "UP"}},
		{"refused alone, peers not checked since", nil,
			[]step{{"l/a", pass, ""}, {"l/b", pass, ""}, {"l/a", refused, ""}, {"l/a", refused, ""}, {"l/a", refused, ""}},
			map[string]string{"l/a": "DEGRADED", "l/b": "UP"}},
		{"refused by every node", nil,
			[]step{{"l/a", pass, ""}, {"l/b", pass, ""}, {"l/a", refused, ""}, {"l/b", refused, ""}, {"l/a", refused, ""}, {"l/b", refused, ""}, {"l/a", refused, ""}, {"l/b", refused, ""}},
			map[string]string{"l/a": "DEGRADED", "l/b": "DEGRADED"}},
		{"a peer that passes again after its own refusal", nil,
			[]step{{"l/a", pass, ""}, {"l/b", pass, ""}, {"l/a", refused, ""}, {"l/b", refused, ""}, {"l/b", pass, ""}, {"l/a", refused, ""}, {"l/a", refused, ""}},
			map[string]string{"l/a": "DOWN refused by this node alone (the same login passes on b)", "l/b": "UP"}},
		{"another login", map[string]CheckConfig{"l/b": {Login: "other"}},
			[]step{{"l/a", pass, ""}, {"l/b", pass, ""}, {"l/a", refused, ""}, {"l/b", pass, ""}, {"l/a", refused, ""}, {"l/a", refused, ""}},
			map[string]string{"l/a": "DEGRADED", "l/b": "UP"}},
		{"another listener", nil,
			[]step{{"l/a", pass, ""}, {"m/b", pass, ""}, {"l/a", refused, ""}, {"m/b", pass, ""}, {"l/a", refused, ""}, {"l/a", refused, ""}},
			map[string]string{"l/a": "DEGRADED", "m/b": "UP"}},
		{"not set", map[string]CheckConfig{"l/a": {Login: "k"}},
			[]step{{"l/a", pass, ""}, {"l/b", pass, ""}, {"l/a", refused, ""}, {"l/b", pass, ""}, {"l/a", refused, ""}, {"l/a", refused, ""}},
			map[string]string{"l/a": "DEGRADED", "l/b": "UP"}},
		{"an inconclusive check keeps the run", nil,
			[]step{{"l/a", pass, ""}, {"l/b", pass, ""}, {"l/a", refused, ""}, {"l/b", pass, ""}, {"l/a", Result{Err: errFail, Inconclusive: true}, ""}, {"l/a", refused, ""}, {"l/a", refused, ""}},
			map[string]string{"l/a": "DOWN refused by this node alone"}},
		{"a peer let in under a resource alarm", nil,
			[]step{{"l/a", pass, ""}, {"l/b", pass, ""}, {"l/a", refused, ""}, {"l/b", alarm, ""}, {"l/a", refused, ""}, {"l/a", refused, ""}},
			map[string]string{"l/a": "DOWN refused by this node alone (the same login passes on b)"}},
		{"a peer that failed", nil,
			[]step{{"l/a", pass, ""}, {"l/b", pass, ""}, {"l/a", refused, ""}, {"l/b", Result{Err: errFail}, ""}, {"l/a", refused, ""}, {"l/a", refused, ""}},
			map[string]string{"l/a": "DEGRADED"}},
		{"a login changed by a reload starts a new run", nil,
			[]step{{"l/a", pass, ""}, {"l/b", pass, ""}, {"l/a", refused, ""}, {"l/b", pass, ""}, {"l/a", refused, "k2"}, {"l/a", refused, "k2"}},
			map[string]string{"l/a": "DEGRADED", "l/b": "UP"}},
		{"the run of a new login begins at its first refusal", nil,
			[]step{{"l/a", pass, ""}, {"l/b", pass, ""}, {"l/a", refused, ""}, {"l/b", pass, "k2"}, {"l/a", refused, "k2"}, {"l/a", refused, "k2"}},
			map[string]string{"l/a": "DEGRADED", "l/b": "UP"}},
		{"a peer let in with the new login", nil,
			[]step{{"l/a", pass, ""}, {"l/b", pass, ""}, {"l/a", refused, ""}, {"l/a", refused, "k2"}, {"l/b", pass, "k2"}, {"l/a", refused, "k2"}, {"l/a", refused, "k2"}},
			map[string]string{"l/a": "DOWN refused by this node alone (the same login passes on b)", "l/b": "UP"}},
		{"a clean pass ends the run", nil,
			[]step{{"l/a", pass, ""}, {"l/b", pass, ""}, {"l/a", refused, ""}, {"l/b", pass, ""}, {"l/a", pass, ""}, {"l/a", refused, ""}, {"l/a", refused, ""}},
			map[string]string{"l/a": "DEGRADED", "l/b": "UP"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			reg, met := newTestMetrics(t)
			s := NewScheduler(Options{Clock: clk, Metrics: met})
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
				login := st.login
				if login == "" {
					login = e.m.cfg.Login
				}
				s.observe(result{e: e, r: st.r, latency: time.Millisecond, login: login})
			}
			snap := s.Snapshot()
			mfs := metricstest.Gather(t, reg)
			for _, b := range snap.Backends {
				name := b.Backend.String()
				if want := alone[tc.name][name]; !slices.Equal(b.RefusedAlone, want) {
					t.Errorf("%s: RefusedAlone %q, want %q", b.Backend, b.RefusedAlone, want)
				}
				// The gauge is 1 for a refusal that is the node's own, served or not.
				want := 0.0
				if len(alone[tc.name][name]) > 0 {
					want = 1
				}
				if v := metricstest.Value(t, mfs, "rmqlb_healthcheck_login_refused_alone", map[string]string{"listener": b.Backend.Listener, "backend": b.Backend.Name}); v != want {
					t.Errorf("%s: rmqlb_healthcheck_login_refused_alone %v, want %v", name, v, want)
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
// let in after the run of refusals began, never the backend itself.
func TestPassedAlike(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a, b, c := backend.ID{Listener: "l", Name: "a"}, backend.ID{Listener: "l", Name: "b"}, backend.ID{Listener: "l", Name: "c"}
	peer := func(id backend.ID, login string, in bool, at time.Duration) LoginCheck {
		return LoginCheck{Backend: id, Login: login, LoggedIn: in, At: t0.Add(at)}
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
		{"not checked yet", "k", []LoginCheck{{Backend: b, Login: "k", LoggedIn: true}}, nil},
		{"refused too, or failed", "k", []LoginCheck{peer(b, "k", false, time.Second)}, nil},
		{"another login", "k", []LoginCheck{peer(b, "j", true, time.Second)}, nil},
		{"another listener", "k", []LoginCheck{peer(backend.ID{Listener: "m", Name: "b"}, "k", true, time.Second)}, nil},
		{"no login", "", []LoginCheck{peer(b, "", true, time.Second)}, nil},
	} {
		if got := PassedAlike(a, tc.login, t0, tc.checks); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestRefusedAloneMetricFollowsPeers: the gauge of a backend refused alone
// changes with its peers' checks and their removal, not only its own.
func TestRefusedAloneMetricFollowsPeers(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	reg, met := newTestMetrics(t)
	s := NewScheduler(Options{Clock: clk, Metrics: met})
	cfg := CheckConfig{Interval: time.Second, Rise: 1, Fall: 2, Login: "k"}
	a, b := backend.ID{Listener: "l", Name: "a"}, backend.ID{Listener: "l", Name: "b"}
	for _, id := range []backend.ID{a, b} {
		if err := s.Add(id, cfg, &scripted{}); err != nil {
			t.Fatal(err)
		}
	}
	step := func(id backend.ID, r Result) {
		clk.Advance(100 * time.Millisecond)
		s.mu.Lock()
		e := s.backends[id]
		s.mu.Unlock()
		s.observe(result{e: e, r: r, latency: time.Millisecond, login: "k"})
	}
	gauge := func() float64 {
		return metricstest.Value(t, metricstest.Gather(t, reg), "rmqlb_healthcheck_login_refused_alone", map[string]string{"listener": "l", "backend": "a"})
	}
	refused := Result{Warning: "login refused: 403 ACCESS_REFUSED", Refused: true}
	step(a, refused)
	if v := gauge(); v != 0 {
		t.Fatalf("refused, b not checked since: %v, want 0", v)
	}
	step(b, Result{Info: "RabbitMQ"})
	if v := gauge(); v != 1 {
		t.Fatalf("b let the login in after a's refusal: %v, want 1", v)
	}
	if err := s.Remove(b); err != nil {
		t.Fatal(err)
	}
	if v := gauge(); v != 0 {
		t.Fatalf("b removed: %v, want 0", v)
	}
}

package balancer

import (
	"math"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	rbackend "github.com/rmqlb/rmqlb/backend"
)

func testPool(policy Policy, weights ...int) *pool {
	p := &pool{policy: policy}
	for i, w := range weights {
		p.backends = append(p.backends, newBackend(BackendConfig{Name: string(rune('a' + i)), Weight: w}, time.Time{}))
	}
	return p
}

func picks(t *testing.T, p *pool, n int) string {
	t.Helper()
	var sb strings.Builder
	for range n {
		b, _ := p.pick(nil)
		if b == nil {
			sb.WriteByte('-')
			continue
		}
		sb.WriteString(b.name)
	}
	return sb.String()
}

func TestWRRSmoothSequence(t *testing.T) {
	tests := []struct {
		weights []int
		want    string
	}{
		{[]int{5, 1, 1}, "aabacaa" + "aabacaa"}, // nginx's documented sequence
		{[]int{1, 1, 1}, "abcabc"},
		{[]int{2, 1}, "abaaba"},
		{[]int{3, 0, 1}, "aacaaaca"}, // weight 0 never picked
		{[]int{0, 0}, "---"},
	}
	for _, tt := range tests {
		p := testPool(PolicyWRR, tt.weights...)
		if got := picks(t, p, len(tt.want)); got != tt.want {
			t.Errorf("weights %v: sequence %q, want %q", tt.weights, got, tt.want)
		}
	}
}

func TestWRRDistribution(t *testing.T) {
	weights := []int{10, 5, 3, 1, 7}
	p := testPool(PolicyWRR, weights...)
	const n = 100_000
	count := map[string]int{}
	for range n {
		b, _ := p.pick(nil)
		count[b.name]++
	}
	sum := 0
	for _, w := range weights {
		sum += w
	}
	for i, w := range weights {
		name := string(rune('a' + i))
		want := float64(n) * float64(w) / float64(sum)
		if got := float64(count[name]); math.Abs(got-want)/want > 0.01 {
			t.Errorf("backend %s weight %d: %v picks, want %v ±1%%", name, w, got, want)
		}
	}
}

func TestWRRSmoothness(t *testing.T) {
	// A backend with weight w out of total W must never get more than
	// ceil(w/W*k)+1 of any k consecutive picks (no bursts).
	weights := []int{6, 3, 1}
	p := testPool(PolicyWRR, weights...)
	seq := picks(t, p, 1000)
	if i := strings.Index(seq, "aaa"); i >= 0 {
		t.Errorf("burst of 3 picks of weight 6/10 at %d: %s", i, seq[:40])
	}
	if strings.Contains(seq, "bb") || strings.Contains(seq, "cc") {
		t.Errorf("consecutive picks of a minority backend: %s", seq[:40])
	}
}

func TestRoundRobin(t *testing.T) {
	p := testPool(PolicyRoundRobin, 5, 1, 0, 2)
	if got, want := picks(t, p, 9), "abdabdabd"; got != want {
		t.Errorf("sequence %q, want %q (weights ignored except 0)", got, want)
	}
	p.backends[1].state = rbackend.Down
	p.backends[3].state = rbackend.Drain
	if got, want := picks(t, p, 3), "aaa"; got != want {
		t.Errorf("with b down and d draining: %q, want %q", got, want)
	}
}

func TestLeastConn(t *testing.T) {
	p := testPool(PolicyLeastConn, 1, 1, 2)
	p.backends[0].active = 3
	p.backends[1].active = 1
	p.backends[2].active = 3 // 3/2 > 1/1
	b, _ := p.pick(nil)
	if b.name != "b" {
		t.Fatalf("picked %s, want b (fewest connections per weight)", b.name)
	}
	// Simulate assigning connections: the picks must keep active/weight
	// balanced.
	p = testPool(PolicyLeastConn, 1, 1, 2)
	for range 400 {
		b, _ := p.pick(nil)
		b.active++
	}
	if a, b, c := p.backends[0].active, p.backends[1].active, p.backends[2].active; a != 100 || b != 100 || c != 200 {
		t.Errorf("active after 400 picks: %d %d %d, want 100 100 200", a, b, c)
	}
	// Ties are broken in turn, not always to the first.
	p = testPool(PolicyLeastConn, 1, 1, 1)
	if got, want := picks(t, p, 6), "abcabc"; got != want {
		t.Errorf("tie sequence %q, want %q", got, want)
	}
}

func TestPickMaxConnAndSkip(t *testing.T) {
	for _, pol := range []Policy{PolicyRoundRobin, PolicyWRR, PolicyLeastConn} {
		p := testPool(pol, 1, 1)
		p.backends[0].maxConn = 1
		p.backends[0].active = 1
		for range 4 {
			if b, _ := p.pick(nil); b == nil || b.name != "b" {
				t.Fatalf("%s: a is at maxconn, picked %v", pol, b)
			}
		}
		p.backends[1].maxConn = 2
		p.backends[1].active = 2
		b, full := p.pick(nil)
		if b != nil || !full {
			t.Errorf("%s: all at maxconn: got %v full=%v, want nil true", pol, b, full)
		}
		p.backends[1].active = 0
		b, full = p.pick(func(b *backend) bool { return b.name == "b" })
		if b != nil || !full {
			t.Errorf("%s: b skipped, a full: got %v full=%v, want nil true", pol, b, full)
		}
		p.backends[0].state = rbackend.Down
		if b, full = p.pick(func(b *backend) bool { return b.name == "b" }); b != nil || full {
			t.Errorf("%s: a down, b skipped: got %v full=%v, want nil false", pol, b, full)
		}
	}
}

// TestWeightPercent: slow start scales the weight (a weight of 0 stays a
// drain whatever the share) and Degraded backends are served like Up ones.
func TestWeightPercent(t *testing.T) {
	p := testPool(PolicyWRR, 10, 10)
	p.backends[0].percent = 10 // a ramps up: 1 against b's 10
	if got := picks(t, p, 11); strings.Count(got, "a") != 1 {
		t.Errorf("a at 10%% of 10 against b at 10: sequence %q, want a once in 11", got)
	}
	p.backends[0].percent = 1
	if w, full := p.backends[0].scaledWeight(), p.backends[1].scaledWeight(); w != 10 || full != 1000 {
		t.Errorf("scaled weights of 10 at 1%% and 10 at 100%% = %d, %d, want 10, 1000", w, full)
	}
	p.backends[0].weight = 0 // the operator's drain wins over slow start
	if w := p.backends[0].scaledWeight(); w != 0 {
		t.Errorf("scaled weight of 0 at 1%% = %d, want 0", w)
	}
	p = testPool(PolicyRoundRobin, 1, 1)
	p.backends[1].state = rbackend.Degraded
	if got := picks(t, p, 4); got != "abab" {
		t.Errorf("with b DEGRADED: sequence %q, want abab", got)
	}
}

// TestSlowStartAtWeightOne: at weight 1, the default, a backend in slow
// start gets its share under every policy: with a at 10 % and b, c at
// 100 %, a takes 10 of every 210 new connections (roundrobin, wrr), and
// with leastconn a broker coming back without sessions is not handed
// every new connection until it has as many as the others.
func TestSlowStartAtWeightOne(t *testing.T) {
	for _, pol := range []Policy{PolicyRoundRobin, PolicyWRR} {
		p := testPool(pol, 1, 1, 1)
		p.backends[0].percent = 10
		seq := picks(t, p, 2100)
		if a, b, c := strings.Count(seq, "a"), strings.Count(seq, "b"), strings.Count(seq, "c"); a != 100 || b != 1000 || c != 1000 {
			t.Errorf("%s: a at 10%%, b and c at 100%%: %d %d %d picks of 2100, want 100 1000 1000", pol, a, b, c)
		}
		if strings.Contains(seq, "aa") {
			t.Errorf("%s: a picked twice in a row during its slow start: %s", pol, seq[:60])
		}
		p.backends[0].percent = 100 // slow start over: every backend in turn
		if got := picks(t, p, 30); strings.Count(got, "a") != 10 {
			t.Errorf("%s: after slow start %q, want a in a third of the picks", pol, got)
		}
	}

	p := testPool(PolicyLeastConn, 1, 1, 1)
	p.backends[0].percent = 10
	p.backends[1].active, p.backends[2].active = 100, 100
	for range 210 {
		b, _ := p.pick(nil)
		b.active++
	}
	// Balanced when a.active/10 = b.active/100: a ends near 20 of 410.
	if a, b, c := p.backends[0].active, p.backends[1].active, p.backends[2].active; a < 18 || a > 22 || b+c != 410-a {
		t.Errorf("leastconn: a back at 10%% against b and c with 100 sessions each, after 210 picks: %d %d %d, want a near 20", a, b, c)
	}
}

// TestCheckedStartsDown: a backend whose state a checker sets is not
// served before its first result; one without a checker is.
func TestCheckedStartsDown(t *testing.T) {
	l, err := NewListener(baseConfig([]BackendConfig{
		{Name: "checked", Address: netip.MustParseAddrPort("127.0.0.2:1"), Weight: 1, Checked: true},
		{Name: "plain", Address: netip.MustParseAddrPort("127.0.0.3:1"), Weight: 1},
	}), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := l.Snapshot()
	if s.Backends[0].State != rbackend.Down || s.Backends[0].LastChangeReason != "not checked yet" || s.Backends[1].State != rbackend.Up {
		t.Fatalf("initial states %+v", s.Backends)
	}
	if err := l.SetBackendWeightPercent("plain", 0); err == nil {
		t.Error("weight share 0 accepted")
	}
	if err := l.SetBackendWeightPercent("plain", 50); err != nil {
		t.Fatal(err)
	}
	if err := l.Apply(baseConfig([]BackendConfig{{Name: "plain", Address: netip.MustParseAddrPort("127.0.0.3:1"), Weight: 8}})); err != nil {
		t.Fatal(err)
	}
	if b := l.Snapshot().Backends[0]; b.Weight != 8 || b.WeightPercent != 50 {
		t.Errorf("after a reload: weight %d at %d%%, want 8 at 50%% (the share outlives the reload)", b.Weight, b.WeightPercent)
	}
}

// TestSequenceKeptAcrossChanges: a backend's change of state, and a reload
// that changes neither the backends nor their weights, leave the policy's
// sequence where it was: restarting it each time would send the clients
// that come between two such changes to the first backend. A change of
// weight starts it over.
func TestSequenceKeptAcrossChanges(t *testing.T) {
	for _, pol := range []Policy{PolicyRoundRobin, PolicyWRR} {
		cfg := baseConfig([]BackendConfig{
			{Name: "a", Address: netip.MustParseAddrPort("127.0.0.2:1"), Weight: 1},
			{Name: "b", Address: netip.MustParseAddrPort("127.0.0.3:1"), Weight: 1},
			{Name: "c", Address: netip.MustParseAddrPort("127.0.0.4:1"), Weight: 1},
		})
		cfg.Policy = pol
		l, err := NewListener(cfg, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		pick := func() string {
			var e *stickyEntry
			tg, _ := l.choose(netip.MustParseAddr("10.0.0.1"), &e, nil)
			l.sessionEnded(tg.be, e)
			return tg.be.name
		}
		var seq strings.Builder
		for i := range 12 {
			seq.WriteString(pick())
			switch i % 3 {
			case 0: // c flaps between UP and DEGRADED
				st := rbackend.Degraded
				if i%2 == 0 {
					st = rbackend.Up
				}
				if err := l.SetBackendState("c", st, "check"); err != nil {
					t.Fatal(err)
				}
			case 1: // a reload without a change
				if err := l.Apply(cfg); err != nil {
					t.Fatal(err)
				}
			}
		}
		if got := seq.String(); got != "abcabcabcabc" {
			t.Errorf("%s: sequence with state changes and reloads between picks %q, want abcabcabcabc", pol, got)
		}
		// A reload that changes a weight starts over.
		pick() // a
		cfg2 := cfg
		cfg2.Backends = slices.Clone(cfg.Backends)
		cfg2.Backends[2].Weight = 2
		if err := l.Apply(cfg2); err != nil {
			t.Fatal(err)
		}
		want := map[Policy]string{PolicyRoundRobin: "a", PolicyWRR: "c"}[pol] // wrr: c's 2 against 1 and 1
		if got := pick(); got != want {
			t.Errorf("%s: first pick after a change of weight %s, want %s", pol, got, want)
		}
	}
}

// TestFirstFailureReason: a checked backend's first failure leaves it
// DOWN since its start, with the failure as the reason in place of "not
// checked yet"; later calls in the same state change neither.
func TestFirstFailureReason(t *testing.T) {
	l, err := NewListener(baseConfig([]BackendConfig{
		{Name: "checked", Address: netip.MustParseAddrPort("127.0.0.2:1"), Weight: 1, Checked: true},
	}), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	since := l.Snapshot().Backends[0].LastChange
	for _, step := range []struct {
		st     rbackend.State
		reason string
		want   string
	}{
		{rbackend.Down, "connecting to 127.0.0.2:1: connection refused", "connecting to 127.0.0.2:1: connection refused"},
		{rbackend.Down, "3 consecutive failures: timeout", "connecting to 127.0.0.2:1: connection refused"},
	} {
		if err := l.SetBackendState("checked", step.st, step.reason); err != nil {
			t.Fatal(err)
		}
		b := l.Snapshot().Backends[0]
		if b.State != rbackend.Down || b.LastChangeReason != step.want || !b.LastChange.Equal(since) {
			t.Errorf("after %q: %v since %v, %q; want DOWN since %v, %q", step.reason, b.State, b.LastChange, b.LastChangeReason, since, step.want)
		}
	}
}

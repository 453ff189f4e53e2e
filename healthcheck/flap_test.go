package healthcheck

import (
	"slices"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/backend"
)

// TestMachineDowns: only the checks taking a serving backend DOWN count, as
// HAProxy's chkdown does; a first failure, further failures while DOWN, an
// operator's state and inconclusive checks do not, and RecentDowns keeps
// the latest RecentDownsKept of them.
func TestMachineDowns(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	m := NewMachine(bid("rmq1"), CheckConfig{Interval: time.Second, Rise: 1, Fall: 2}, now, 0)
	check := func(r string) {
		t.Helper()
		now = now.Add(time.Second)
		m.Begin(now)
		m.Observe(now, res(r), time.Millisecond)
	}
	// DOWN from the first check, and failing on: no DOWN taken.
	check("fail")
	check("fail")
	check("fail")
	if st := m.Status(); st.State != backend.Down || st.Downs != 0 || st.RecentDowns != nil {
		t.Fatalf("DOWN from the start: %v, %d downs %v, want none", st.State, st.Downs, st.RecentDowns)
	}
	var want []time.Time
	check("ok")
	check("fail") // one failure: fall is 2
	check("local")
	check("fail")
	want = append(want, now)
	check("fail")
	if st := m.Status(); st.Downs != 1 || !slices.Equal(st.RecentDowns, want) {
		t.Fatalf("after UP and two failures: %d downs %v, want 1 %v", st.Downs, st.RecentDowns, want)
	}
	// DEGRADED to DOWN counts; an operator's MAINT of a DOWN backend and back does not.
	check("warn")
	check("fail")
	check("fail")
	want = append(want, now)
	m.SetAdmin(now, backend.AdminMaint)
	m.SetAdmin(now, backend.AdminNone)
	if st := m.Status(); st.Downs != 2 || !slices.Equal(st.RecentDowns, want) {
		t.Fatalf("after DEGRADED and two failures: %d downs %v, want 2 %v", st.Downs, st.RecentDowns, want)
	}
	// A drained backend whose checks fail is DOWN: that counts too.
	check("ok")
	m.SetAdmin(now, backend.AdminDrain)
	check("fail")
	check("fail")
	want = append(want, now)
	m.SetAdmin(now, backend.AdminNone)
	for range RecentDownsKept {
		check("ok")
		check("fail")
		check("fail")
		want = append(want, now)
	}
	st := m.Status()
	if n := uint64(3 + RecentDownsKept); st.Downs != n {
		t.Errorf("%d downs, want %d", st.Downs, n)
	}
	if w := want[len(want)-RecentDownsKept:]; !slices.Equal(st.RecentDowns, w) {
		t.Errorf("recent downs %v, want the last %d: %v", st.RecentDowns, RecentDownsKept, w)
	}
	// The status holds a copy.
	st.RecentDowns[0] = time.Time{}
	if m.Status().RecentDowns[0].IsZero() {
		t.Error("the status shares the machine's slice")
	}
}

func TestDownsSince(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := BackendStatus{RecentDowns: []time.Time{t0, t0.Add(time.Minute), t0.Add(5 * time.Minute)}}
	for _, c := range []struct {
		since time.Time
		n     int
		last  time.Time
	}{
		{t0.Add(-time.Second), 3, t0.Add(5 * time.Minute)},
		{t0, 2, t0.Add(5 * time.Minute)},
		{t0.Add(4 * time.Minute), 1, t0.Add(5 * time.Minute)},
		{t0.Add(5 * time.Minute), 0, time.Time{}},
	} {
		if n, last := b.DownsSince(c.since); n != c.n || !last.Equal(c.last) {
			t.Errorf("DownsSince(%v): %d, %v; want %d, %v", c.since, n, last, c.n, c.last)
		}
	}
	if n, last := (BackendStatus{}).DownsSince(t0); n != 0 || !last.IsZero() {
		t.Errorf("no downs: %d, %v", n, last)
	}
}

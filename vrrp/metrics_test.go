package vrrp

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rmqlb/rmqlb/internal/metricstest"
)

// TestMetricsNamesAndLabels: every metric of an instance carries
// vrrp_instance (never instance), passes the lint, and rmqlb_vrrp_state is
// one series per state with a 1 on the current one only.
func TestMetricsNamesAndLabels(t *testing.T) {
	const mdi = 3609375 * time.Microsecond
	h := startInstance(t, testConfig(), newFakeTransport(local))
	want := map[string][]string{
		"rmqlb_vrrp_adverts_sent_total":             {"vrrp_instance"},
		"rmqlb_vrrp_adverts_received_total":         {"vrrp_instance"},
		"rmqlb_vrrp_adverts_dropped_total":          {"reason", "vrrp_instance"},
		"rmqlb_vrrp_send_errors_total":              {"vrrp_instance"},
		"rmqlb_vrrp_owner_errors_total":             {"vrrp_instance"},
		"rmqlb_vrrp_owner_faults_total":             {"vrrp_instance"},
		"rmqlb_vrrp_transitions_total":              {"vrrp_instance"},
		"rmqlb_vrrp_role_changes_total":             {"vrrp_instance"},
		"rmqlb_vrrp_interval_clamped_total":         {"vrrp_instance"},
		"rmqlb_vrrp_rebinds_total":                  {"vrrp_instance"},
		"rmqlb_vrrp_vip_conflicts_total":            {"vrrp_instance"},
		"rmqlb_vrrp_lower_masters_total":            {"vrrp_instance"},
		"rmqlb_vrrp_adverts_addresses_differ_total": {"vrrp_instance"},
		"rmqlb_vrrp_link_watch_errors_total":        {"vrrp_instance"},
		"rmqlb_vrrp_state":                          {"state", "vrrp_instance"},
		"rmqlb_vrrp_effective_priority":             {"vrrp_instance"},
		"rmqlb_vrrp_advert_send_delay_seconds":      {"vrrp_instance"},
	}
	mfs := metricstest.Gather(t, h.reg)
	metricstest.RequireFamilies(t, mfs, want)
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if v := metricstest.Labels(m)["vrrp_instance"]; v != "test" {
				t.Errorf("%s vrrp_instance=%q, want test", name, v)
			}
		}
	}
	metricstest.RequireClean(t, h.reg)

	// Every drop reason has its series from the start, at 0.
	for _, r := range dropReasons {
		if v := metricstest.Value(t, mfs, "rmqlb_vrrp_adverts_dropped_total", map[string]string{"reason": r}); v != 0 {
			t.Errorf("dropped{reason=%s} = %v at start", r, v)
		}
	}

	wantState := func(s State) {
		t.Helper()
		mfs := metricstest.Gather(t, h.reg)
		if n := len(mfs["rmqlb_vrrp_state"].GetMetric()); n != len(states) {
			t.Fatalf("%d rmqlb_vrrp_state series, want %d", n, len(states))
		}
		for _, st := range states {
			want := 0.0
			if st == s {
				want = 1
			}
			if v := metricstest.Value(t, mfs, "rmqlb_vrrp_state", map[string]string{"state": st.String()}); v != want {
				t.Errorf("rmqlb_vrrp_state{state=%q} = %v in %v, want %v", st, v, s, want)
			}
		}
		if v := metricstest.Value(t, mfs, "rmqlb_vrrp_effective_priority", nil); v != 100 {
			t.Errorf("effective priority %v, want 100", v)
		}
	}
	h.clock.WaitArmed(t, t0.Add(mdi))
	wantState(StateBackup)
	h.becomeMaster(t, mdi)
	wantState(StateMaster)
	wantChanges := func(transitions, roleChanges float64, what string) {
		t.Helper()
		mfs := metricstest.Gather(t, h.reg)
		if v := metricstest.Value(t, mfs, "rmqlb_vrrp_transitions_total", nil); v != transitions {
			t.Errorf("transitions %v, want %v (%s)", v, transitions, what)
		}
		if v := metricstest.Value(t, mfs, "rmqlb_vrrp_role_changes_total", nil); v != roleChanges {
			t.Errorf("role changes %v, want %v (%s)", v, roleChanges, what)
		}
	}
	wantChanges(2, 1, "INIT -> BACKUP -> MASTER: the start is no role change")
	defer func() {
		h.shutdown(t)
		wantChanges(3, 1, "MASTER -> INIT: the stop is no role change")
	}()

	// The first advert went out on the transition, not on its timer: no
	// delay recorded. The next one is stepped 3 ms after its timer
	// expired: one delay of 3 ms.
	delays := func() (uint64, float64) {
		mf := metricstest.Gather(t, h.reg)["rmqlb_vrrp_advert_send_delay_seconds"]
		hg := mf.GetMetric()[0].GetHistogram()
		return hg.GetSampleCount(), hg.GetSampleSum()
	}
	if n, _ := delays(); n != 0 {
		t.Errorf("%d send delays recorded before the advert timer expired", n)
	}
	h.clock.Advance(time.Second + 3*time.Millisecond)
	h.tr.nextSent(t)
	h.clock.WaitArmed(t, t0.Add(mdi+2*time.Second))
	if n, sum := delays(); n != 1 || sum != 0.003 {
		t.Errorf("send delays: %d, sum %vs; want 1 of 0.003s", n, sum)
	}
}

// TestDropReasonsListed: every reason DropReason returns has its series in
// the dropped-adverts metric from the start.
func TestDropReasonsListed(t *testing.T) {
	for _, err := range []error{io.ErrUnexpectedEOF, ErrBadTTL, ErrBadVersion, ErrBadType, ErrBadChecksum,
		ErrBadLength, ErrBadInterval, ErrWrongVRID, ErrAuthMismatch, ErrIntervalMismatch, ErrAddressMismatch,
		ErrNotPeer, ErrOwnPacket, errors.New("anything else")} {
		r := DropReason(fmt.Errorf("wrapped: %w", err))
		if !slices.Contains(dropReasons, r) {
			t.Errorf("drop reason %q (of %v) is not in dropReasons", r, err)
		}
	}
	reg := prometheus.NewPedanticRegistry()
	if _, err := newMetrics(reg, "x"); err != nil {
		t.Fatal(err)
	}
	mfs := metricstest.Gather(t, reg)
	if n := len(mfs["rmqlb_vrrp_adverts_dropped_total"].GetMetric()); n != len(dropReasons) {
		t.Errorf("%d dropped series, want %d", n, len(dropReasons))
	}
}

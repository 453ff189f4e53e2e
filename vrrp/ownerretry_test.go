package vrrp

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// failingOwner is a fakeOwner whose first failReleases Release calls fail.
type failingOwner struct {
	*fakeOwner
	mu           sync.Mutex
	failReleases int
}

func (o *failingOwner) Release(ctx context.Context) error {
	_ = o.fakeOwner.Release(ctx)
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failReleases > 0 {
		o.failReleases--
		return errors.New("netlink: no buffer space available")
	}
	return nil
}

// A Release that fails is tried again, after a second and then twice as
// long each time, until one succeeds: a BACKUP must not keep the VIPs the
// new master announces.
func TestReleaseRetriedAfterFailure(t *testing.T) {
	const mdi = 3609375 * time.Microsecond
	tr := newFakeTransport(local)
	owner := &failingOwner{fakeOwner: newFakeOwner(), failReleases: 2}
	h := startInstanceWith(t, testConfig(), tr, owner)
	h.becomeMaster(t, mdi)
	// A tenth of a second on, so that no retry falls on the instant of
	// the master's next advert, whose timer may still be armed when the
	// state change is seen.
	h.clock.Advance(100 * time.Millisecond)
	now := t0.Add(mdi + 100*time.Millisecond)
	tr.inject(t, advertBytes(t, higher, 200, time.Second), higher, MulticastIPv4, 255)
	if c := owner.next(t); c != "release" {
		t.Fatalf("owner call %q, want release", c)
	}
	h.wantState(t, StateBackup)
	for _, after := range []time.Duration{releaseRetry, 2 * releaseRetry} {
		h.clock.WaitArmed(t, now.Add(after))
		h.clock.Advance(after)
		now = now.Add(after)
		if c := owner.next(t); c != "release" {
			t.Fatalf("owner call %q %v after a failed release, want release", c, after)
		}
	}
	// The third succeeded: no retry is armed, and no call comes.
	time.Sleep(50 * time.Millisecond)
	if slices.Contains(h.clock.Armed(), now.Add(4*releaseRetry)) {
		t.Fatal("a retry is armed after a release succeeded")
	}
	select {
	case c := <-owner.calls:
		t.Fatalf("owner call %q after a release succeeded", c)
	default:
	}
}

// An instance that carries on as MASTER from the process it succeeds, but
// starts released or with its link down, releases the VIPs its
// predecessor left on the interface.
func TestAdoptedMasterReleasesWhenItCannotHold(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(*Instance)
		want  State
	}{
		{"released", func(i *Instance) { i.StepDown(0, "carried on") }, StateBackup},
		{"link down", func(i *Instance) { i.SetLinkUp(false) }, StateFault},
	} {
		t.Run(tc.name, func(t *testing.T) {
			owner := newFakeOwner()
			h := newInstanceHarness(t, testConfig(), newFakeTransport(local), owner)
			tc.setup(h.inst)
			if err := h.inst.Adopt(Adoption{State: StateMaster}); err != nil {
				t.Fatal(err)
			}
			h.run(t)
			h.waitSnapshot(t, tc.want.String(), func(s Snapshot) bool { return s.State == tc.want })
			if c := owner.next(t); c != "release" {
				t.Fatalf("owner call %q, want release", c)
			}
		})
	}
}

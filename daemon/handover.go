package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rmqlb/rmqlb/vrrp"
)

// vrrpUsage is the usage of the vrrp control command.
const vrrpUsage = "usage: vrrp release NAME [DURATION] | vrrp ready NAME"

// handleVRRP answers the vrrp control command:
//
//	vrrp release NAME [DURATION]   release the instance (vrrp.Instance.StepDown)
//	vrrp ready NAME                end its release (vrrp.Instance.Ready)
//
// DURATION is a Go duration (5m, 1h30m); without it the release lasts
// until ready. The answer is the instance's vrrp.Snapshot once the
// instance has applied the request.
func (d *Daemon) handleVRRP(ctx context.Context, args []string) (any, error) {
	if len(args) < 2 {
		return nil, errors.New(vrrpUsage)
	}
	var forDur time.Duration
	switch {
	case args[0] == "release" && len(args) <= 3:
		if len(args) == 3 {
			var err error
			if forDur, err = time.ParseDuration(args[2]); err != nil || forDur <= 0 {
				return nil, fmt.Errorf("vrrp release %s: duration %q: want a positive Go duration such as 5m or 1h30m", args[1], args[2])
			}
		}
		return d.ReleaseVRRP(ctx, args[1], forDur)
	case args[0] == "ready" && len(args) == 2:
		return d.ReadyVRRP(ctx, args[1])
	}
	return nil, errors.New(vrrpUsage)
}

// ReleaseVRRP releases the VRRP instance name for planned maintenance of
// this host, for forDur (0: until ReadyVRRP): a master hands its VIPs to
// the best backup (priority 0), keeping them until the new master took
// over and announced them; the instance stays BACKUP and takes the VIPs
// only as the last resort. It waits, bounded by ctx, for the daemon to be
// ready and the instance to apply the release, and returns its snapshot.
// It is refused once the daemon has begun to stop, and fails when the
// instance stops before it has applied the release.
// The release lasts across reloads that keep the instance and across an
// upgrade in place; with a state file (config.Config.StateFile), where it
// is written once applied, across a restart of the daemon too.
func (d *Daemon) ReleaseVRRP(ctx context.Context, name string, forDur time.Duration) (vrrp.Snapshot, error) {
	s, err := d.requestVRRP(ctx, name, "releasing", func(in *vrrp.Instance) <-chan struct{} {
		reason := "released by the operator (rmqlb vrrp release)"
		if forDur > 0 {
			reason = fmt.Sprintf("released by the operator for %v (rmqlb vrrp release --for)", forDur)
		}
		return in.StepDown(forDur, reason)
	})
	if err == nil {
		d.saveOpState()
	}
	return s, err
}

// ReadyVRRP ends the release of the VRRP instance name: it is eligible as
// master again with its priority (and preempts, if it may, a master of
// lower priority). It waits as ReleaseVRRP does, and writes the state
// file as it does.
func (d *Daemon) ReadyVRRP(ctx context.Context, name string) (vrrp.Snapshot, error) {
	s, err := d.requestVRRP(ctx, name, "readying", (*vrrp.Instance).Ready)
	if err == nil {
		d.saveOpState()
	}
	return s, err
}

// requestVRRP makes the request of ask to instance name once the daemon is
// ready and waits until the instance applied it.
func (d *Daemon) requestVRRP(ctx context.Context, name, what string, ask func(*vrrp.Instance) <-chan struct{}) (vrrp.Snapshot, error) {
	var applied <-chan struct{}
	select {
	case <-d.ready:
	case <-ctx.Done():
		return vrrp.Snapshot{}, fmt.Errorf("%s VRRP instance %s: the daemon is still starting: %w", what, name, ctx.Err())
	}
	select {
	case <-d.stopping:
		// Its instance stops or has stopped: nothing would apply the
		// request, and a stopped instance answers at once.
		return vrrp.Snapshot{}, fmt.Errorf("%s VRRP instance %s: the daemon is stopping: nothing was applied", what, name)
	default:
	}
	d.mu.Lock()
	u := d.units[name]
	var up *upgradeRun
	var ended <-chan struct{}
	if u != nil {
		if up = d.upgrade; up == nil {
			// Asked under d.mu: an upgrade starts before or after it.
			applied = ask(u.inst)
			if u.instPart != nil {
				ended = u.instPart.done
			}
		}
	}
	d.mu.Unlock()
	if u == nil {
		return vrrp.Snapshot{}, fmt.Errorf("%s VRRP instance %s: no such instance", what, name)
	}
	if up != nil {
		return vrrp.Snapshot{}, fmt.Errorf("%s VRRP instance %s: an upgrade is under way (new process pid %d); ask again once it is done", what, name, up.pid)
	}
	select {
	case <-applied:
	case <-ctx.Done():
		// The request stays queued: the instance applies it when its
		// loop comes to it.
		return vrrp.Snapshot{}, fmt.Errorf("%s VRRP instance %s: not applied yet (the instance's loop has not come to it), but still queued: it applies when the loop does, see rmqlb status: %w", what, name, ctx.Err())
	}
	select {
	case <-ended:
		// A stopped instance answers every request at once: the daemon
		// began to stop, or a reload removed or restarted the instance.
		return vrrp.Snapshot{}, fmt.Errorf("%s VRRP instance %s: the instance stopped (the daemon stops, or a reload removed or restarted it): nothing was applied", what, name)
	default:
	}
	return u.inst.Snapshot(), nil
}

package daemon

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/vrrp"
)

// vrrpUsage is the usage of the vrrp control command.
const vrrpUsage = "usage: vrrp release NAME [DURATION] | vrrp ready NAME | vrrp release-all [DURATION] | vrrp ready-all"

// handleVRRP answers the vrrp control command:
//
//	vrrp release NAME [DURATION]   release the instance (vrrp.Instance.StepDown)
//	vrrp ready NAME                end its release (vrrp.Instance.Ready)
//	vrrp release-all [DURATION]    release every instance
//	vrrp ready-all                 end the release of every instance
//
// DURATION is a Go duration (5m, 1h30m); without it the release lasts
// until ready. The answer is the instance's vrrp.Snapshot once the
// instance has applied the request, or, for every instance, their
// snapshots in file order.
func (d *Daemon) handleVRRP(ctx context.Context, args []string) (any, error) {
	if len(args) == 0 {
		return nil, errors.New(vrrpUsage)
	}
	switch {
	case args[0] == "release" && (len(args) == 2 || len(args) == 3):
		forDur, err := releasePeriod("vrrp release "+args[1], args[2:])
		if err != nil {
			return nil, err
		}
		return d.ReleaseVRRP(ctx, args[1], forDur)
	case args[0] == "ready" && len(args) == 2:
		return d.ReadyVRRP(ctx, args[1])
	case args[0] == "release-all" && len(args) <= 2:
		forDur, err := releasePeriod("vrrp release-all", args[1:])
		if err != nil {
			return nil, err
		}
		return d.ReleaseAllVRRP(ctx, forDur)
	case args[0] == "ready-all" && len(args) == 1:
		return d.ReadyAllVRRP(ctx)
	}
	return nil, errors.New(vrrpUsage)
}

// releasePeriod parses the optional DURATION of a release (none: 0,
// until ready).
func releasePeriod(what string, args []string) (time.Duration, error) {
	if len(args) == 0 {
		return 0, nil
	}
	d, err := time.ParseDuration(args[0])
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s: duration %q: want a positive Go duration such as 5m or 1h30m", what, args[0])
	}
	return d, nil
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
func (d *Daemon) ReleaseVRRP(ctx context.Context, name string, forDur time.Duration) (control.VRRPAnswer, error) {
	return d.savedVRRP(d.releaseVRRP(ctx, name, forDur))
}

// savedVRRP writes the state file after a request of one instance that
// was applied, and answers with its outcome.
func (d *Daemon) savedVRRP(s vrrp.Snapshot, err error) (control.VRRPAnswer, error) {
	if err != nil {
		return control.VRRPAnswer{}, err
	}
	return control.VRRPAnswer{Snapshot: s, StateFileNote: stateFileNote(d.saveOpState())}, nil
}

// releaseVRRP is ReleaseVRRP without writing the state file.
func (d *Daemon) releaseVRRP(ctx context.Context, name string, forDur time.Duration) (vrrp.Snapshot, error) {
	return d.requestVRRP(ctx, name, "releasing", func(in *vrrp.Instance) <-chan struct{} {
		reason := "released by the operator (rmqlb vrrp release)"
		if forDur > 0 {
			reason = fmt.Sprintf("released by the operator for %v (rmqlb vrrp release --for)", forDur)
		}
		return in.StepDown(forDur, reason)
	})
}

// ReleaseAllVRRP releases every VRRP instance of the running
// configuration, as ReleaseVRRP does each (planned maintenance of the
// whole host), and returns their snapshots in file order. It asks every
// instance even when one fails, writes the state file once, and fails
// when one failed, naming it and those applied.
func (d *Daemon) ReleaseAllVRRP(ctx context.Context, forDur time.Duration) (control.VRRPAllAnswer, error) {
	return d.requestAllVRRP("releasing", func(name string) (vrrp.Snapshot, error) { return d.releaseVRRP(ctx, name, forDur) })
}

// ReadyAllVRRP ends the release of every VRRP instance, as ReleaseAllVRRP
// releases them.
func (d *Daemon) ReadyAllVRRP(ctx context.Context) (control.VRRPAllAnswer, error) {
	return d.requestAllVRRP("readying", func(name string) (vrrp.Snapshot, error) {
		return d.requestVRRP(ctx, name, "readying", (*vrrp.Instance).Ready)
	})
}

// requestAllVRRP makes request of every VRRP instance of the running
// configuration in file order, then writes the state file once if one
// applied it.
func (d *Daemon) requestAllVRRP(what string, request func(name string) (vrrp.Snapshot, error)) (control.VRRPAllAnswer, error) {
	d.mu.Lock()
	var names []string
	for _, in := range d.cfg.VRRP {
		names = append(names, in.Name)
	}
	d.mu.Unlock()
	if len(names) == 0 {
		return control.VRRPAllAnswer{}, fmt.Errorf("%s every VRRP instance: the configuration has none", what)
	}
	var out control.VRRPAllAnswer
	var applied, failed []string
	for _, name := range names {
		s, err := request(name)
		if err != nil {
			failed = append(failed, err.Error())
			continue
		}
		out.Instances = append(out.Instances, s)
		applied = append(applied, name)
	}
	if len(applied) > 0 {
		out.StateFileNote = stateFileNote(d.saveOpState())
	}
	if len(failed) > 0 {
		done := "applied to none"
		if len(applied) > 0 {
			done = "applied to " + strings.Join(applied, ", ")
		}
		if out.StateFileNote != "" {
			done += "; " + out.StateFileNote
		}
		return control.VRRPAllAnswer{}, fmt.Errorf("%s (%s)", strings.Join(failed, "; "), done)
	}
	return out, nil
}

// ReadyVRRP ends the release of the VRRP instance name: it is eligible as
// master again with its priority (and preempts, if it may, a master of
// lower priority). It waits as ReleaseVRRP does, and writes the state
// file as it does.
func (d *Daemon) ReadyVRRP(ctx context.Context, name string) (control.VRRPAnswer, error) {
	return d.savedVRRP(d.requestVRRP(ctx, name, "readying", (*vrrp.Instance).Ready))
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

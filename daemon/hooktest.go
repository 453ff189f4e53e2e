package daemon

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/notify"
)

// hookTestReason is RMQLB_REASON of an operator's test run of a hook.
const hookTestReason = "a test run by the operator (rmqlb notify)"

// NotifyCommandTimeout bounds the "notify" command on the control socket:
// the hook's own timeout (notify.MaxTimeout at most) and the hooks queued
// before it. rmqlb notify waits a little longer for the answer.
const NotifyCommandTimeout = notify.MaxTimeout + time.Minute

// TestHook runs the notify hook of VRRP instance name for state (master,
// backup, fault or stop) once, for the operator (rmqlb notify), as the
// daemon runs it on a state change: as its user, in its sandbox, with the
// RMQLB_ variables of that change (RMQLB_PREV_STATE the instance's state
// now, RMQLB_REASON hookTestReason, RMQLB_PRIORITY its effective priority
// now), queued behind the instance's own hooks. Nothing else happens: the
// instance's state and VIPs stay as they are. It returns the run's outcome
// and output once the hook has finished (see notify.Runner.Test).
func (d *Daemon) TestHook(ctx context.Context, name, state string) (control.HookTest, error) {
	k, err := notify.ParseKind(state)
	if err != nil {
		return control.HookTest{}, err
	}
	d.mu.Lock()
	u := d.units[name]
	var ev notify.Event
	if u != nil {
		snap := u.inst.Snapshot()
		ev = notify.Event{Kind: k, Prev: snap.State.String(), Reason: hookTestReason,
			VIPs: slices.Clone(u.cfg.VIPs), Priority: int(snap.EffectivePriority)}
	}
	d.mu.Unlock()
	if u == nil {
		return control.HookTest{}, fmt.Errorf("no vrrp instance %q", name)
	}
	res, err := u.hooks.Test(ctx, ev)
	if err != nil {
		return control.HookTest{}, err
	}
	return control.HookTest{Instance: name, TestRun: res}, nil
}

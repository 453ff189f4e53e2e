package vrrp

import "time"

// downTimerBase is what a BACKUP's running Master_Down_Timer was armed
// with: Master_Down_Interval and Skew_Time, which depend on the
// effective priority, the master's interval and late_adverts_tolerated.
type downTimerBase struct{ mdi, skew time.Duration }

// downTimerBase returns the machine's current one.
func (m *Machine) downTimerBase() downTimerBase {
	return downTimerBase{mdi: m.MasterDownInterval(), skew: m.SkewTime()}
}

// rescaleDownTimer moves a BACKUP's running Master_Down_Timer by the
// change from before of the interval it runs on (Skew_Time after a
// priority-0 advert, else Master_Down_Interval), as if it had been armed
// with the new one when it was: a change of the effective priority (a
// tracked check, a reload, the end of a release) or of the settings
// applies to the timer already running, not only from the next advert
// (keepalived moves its timer the same way on a priority change). A timer
// brought before now fires at the next step. A preemption deadline
// (preempt_delay) does not depend on them: backupSettingsChanged sees to
// it.
func (m *Machine) rescaleDownTimer(now time.Time, before downTimerBase) {
	if m.state != StateBackup || m.masterDownAt.IsZero() {
		return
	}
	after := m.downTimerBase()
	var d time.Duration
	switch m.masterDownReason.kind {
	case downPreemptDelay:
		return
	case downPrio0, downReadyPrio0:
		d = after.skew - before.skew
	default:
		d = after.mdi - before.mdi
	}
	if d != 0 {
		m.masterDownAt = later(m.masterDownAt.Add(d), now)
	}
}

// backupTimersFollow re-arms a BACKUP's timers after a change of its
// effective priority (before it was before) or of its settings (base was
// the timer's base before): the running Master_Down_Timer moves
// (rescaleDownTimer), and a pending preemption follows the new priority,
// or the new preempt settings when preemptChanged (backupSettingsChanged).
// A reload and a tracked check's adjustment both come through here.
func (m *Machine) backupTimersFollow(now time.Time, out []Action, before uint8, base downTimerBase, preemptChanged bool) []Action {
	m.rescaleDownTimer(now, base)
	if m.EffectivePriority() != before || preemptChanged {
		out = m.backupSettingsChanged(now, out)
	}
	return out
}

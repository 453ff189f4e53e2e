package vrrp

import (
	"net/netip"
	"time"
)

// adoptInterval makes the advertisement interval iv of the master src
// Master_Adver_Interval (RFC 5798 section 6.4.2), no longer than
// adoptLimit, and reports a clamping.
func (m *Machine) adoptInterval(out []Action, src netip.Addr, iv time.Duration) []Action {
	used := min(iv, m.adoptLimit())
	m.masterAdverInterval = used
	if used != iv {
		out = append(out, IntervalClamped{From: src, Advertised: iv, Used: used})
	}
	return out
}

// preempts reports whether this BACKUP discards the advertisements of a
// master of priority (above 0) and takes over from it (RFC 5798 section
// 6.4.2): with Preempt_Mode, one of lower priority than its own. The
// address owner (255) preempts whatever Preempt_Mode says (section 6.1).
func (m *Machine) preempts(priority uint8) bool {
	local := m.EffectivePriority()
	return (m.cfg.Preempt || local == 255) && priority < local
}

// backupSettingsChanged re-arms the Master_Down_Timer of a BACKUP whose
// effective priority, preempt or preempt_delay changed (a reload, a
// tracked check) while a preemption of the master of lower priority is
// pending, as the new settings say from the preemption's start (the
// first lower-priority advertisement, which is kept):
//
//   - with no reason to preempt any more (preempt off, a priority no
//     longer above the master's) the preemption is cancelled, and the
//     master accepted from its last advertisement, as if heard again;
//   - with a preempt_delay, the preemption is due at its start plus the
//     new delay, not before now (so that a delay already waited out
//     preempts at the next step), and until then the master is accepted
//     and must keep advertising;
//   - without one, the master's advertisements are discarded and the
//     Master_Down_Timer, which runs from the last one accepted, fires
//     (RFC 5798 section 6.4.2).
//
// A preemption that is not pending yet starts at the next
// advertisement, by the usual rules; priority 0 and a release have
// timers of their own.
func (m *Machine) backupSettingsChanged(now time.Time, out []Action) []Action {
	if m.state != StateBackup || m.released || m.lowerSince.IsZero() || !m.hasMaster || m.master.Priority == 0 {
		return out
	}
	mi, local := m.master, m.EffectivePriority()
	if !m.cfg.Preempt && local != 255 || mi.Priority >= local {
		m.lowerSince = time.Time{}
		out = m.adoptInterval(out, mi.Addr, mi.AdvertInterval)
		m.masterDownAt = later(mi.Heard.Add(m.MasterDownInterval()), now)
		m.masterDownReason = downReason{kind: downSilent, peer: mi.Addr}
		return out
	}
	if m.cfg.PreemptDelay == 0 {
		m.masterDownReason = m.preemptReason(downPreempt, mi.Heard)
		return out
	}
	out = m.adoptInterval(out, mi.Addr, mi.AdvertInterval)
	m.masterDownAt = later(mi.Heard.Add(m.MasterDownInterval()), now)
	m.masterDownReason = downReason{kind: downSilent, peer: mi.Addr}
	if deadline := later(m.lowerSince.Add(m.cfg.PreemptDelay), now); deadline.Before(m.masterDownAt) {
		m.masterDownAt = deadline
		m.masterDownReason = m.preemptReason(downPreemptDelay, mi.Heard)
	}
	return out
}

// adoptLimit returns the longest master's interval a backup adopts:
// for VRRPv3 Config.MaxAdoptedInterval, or the previous one after a
// reload that shortened it until an advert within the new one is heard
// (the master not reloaded yet still advertises its old interval); a
// VRRPv2 advert carries one of the intervals configured (acceptsInterval),
// which is never clamped.
func (m *Machine) adoptLimit() time.Duration {
	if m.cfg.Version == 2 {
		return maxV2Interval
	}
	return max(m.cfg.maxAdopted(), m.prevMaxAdopted)
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}

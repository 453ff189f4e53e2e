package healthcheck

import "time"

// RecentDownsKept is how many of a backend's latest DOWNs
// BackendStatus.RecentDowns holds: enough to tell a flapping backend (a
// few DOWNs within minutes) from one that failed now and then.
const RecentDownsKept = 8

// wentDown records that the checks took the backend DOWN from UP or
// DEGRADED at now: HAProxy's chkdown, kept with its time.
func (m *Machine) wentDown(now time.Time) {
	m.downs++
	m.recentDowns = append(m.recentDowns, now)
	if len(m.recentDowns) > RecentDownsKept {
		m.recentDowns = m.recentDowns[len(m.recentDowns)-RecentDownsKept:]
	}
}

// DownsSince returns how many of the DOWNs in b.RecentDowns came after t
// (at most RecentDownsKept), and when the last of them was (zero when
// none).
func (b BackendStatus) DownsSince(t time.Time) (n int, last time.Time) {
	for _, d := range b.RecentDowns {
		if d.After(t) {
			n++
			last = d
		}
	}
	return n, last
}

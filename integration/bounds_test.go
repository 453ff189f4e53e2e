package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/integration/netlab"
)

// bound is the longest a measured time may be: what the protocol or the
// configuration guarantees plus netlab.SchedulingSlack. integration/doc.go
// lists every bound and why it holds.
type bound struct {
	d   time.Duration
	why string // the terms of d, for the log
}

func (b bound) String() string {
	return fmt.Sprintf("%v = %s", b.d.Round(time.Millisecond), b.why)
}

// slack is the term every bound ends with.
func slack() (time.Duration, string) {
	return netlab.SchedulingSlack, fmt.Sprintf("scheduling slack %v", netlab.SchedulingSlack)
}

// masterDown is RFC 5798's Master_Down_Interval for a backup of priority p:
// 3 x Advertisement_Interval + Skew_Time.
func masterDown(advert time.Duration, p int) time.Duration {
	return 3*advert + skew(advert, p)
}

// skew is RFC 5798's Skew_Time: (256 - priority) x Advertisement_Interval
// / 256.
func skew(advert time.Duration, p int) time.Duration {
	return time.Duration(256-p) * advert / 256
}

// linkCutBound bounds the client's outage when the master's link is cut.
// The backup's Master_Down_Timer was last reset by an advert heard no later
// than the cut, so it fires at most Master_Down_Interval after it; the new
// master adds the VIP and sends a gratuitous ARP at once, and the probe's
// next connect, at most one probe interval later, reaches it (RFC 5798
// section 6.4.2).
func linkCutBound(advert time.Duration, backupPrio int) bound {
	s, sw := slack()
	md := masterDown(advert, backupPrio)
	return bound{md + netlab.DefaultProbeInterval + s,
		fmt.Sprintf("Master_Down_Interval %v + probe interval %v + %s", md, netlab.DefaultProbeInterval, sw)}
}

// cleanStopBound bounds the client's outage when the master stops cleanly:
// it sends an advert of priority 0 and removes the VIP, and the backup
// takes over after Skew_Time alone (RFC 5798 section 6.4.2).
func cleanStopBound(advert time.Duration, backupPrio int) bound {
	s, sw := slack()
	sk := skew(advert, backupPrio)
	return bound{sk + netlab.DefaultProbeInterval + s,
		fmt.Sprintf("Skew_Time %v + probe interval %v + %s", sk, netlab.DefaultProbeInterval, sw)}
}

// garpBound bounds the time from the new master holding the VIP to a silent
// client's ARP entry pointing at it: the master sends count gratuitous ARPs
// interval apart, the first as it adds the VIP, and any of them updates
// the entry.
func garpBound(count int, interval time.Duration) bound {
	s, sw := slack()
	last := time.Duration(count-1) * interval
	return bound{last + s, fmt.Sprintf("last of %d gratuitous ARPs %v after the first + %s", count, last, sw)}
}

// refreshBound bounds the time from a split brain healing to the client
// reaching the winner again: only the winner's periodic gratuitous ARP
// (garp.refresh) moves the client's entry back, and the probe's next
// connect reaches it.
func refreshBound(refresh time.Duration) bound {
	s, sw := slack()
	return bound{refresh + netlab.DefaultProbeInterval + s,
		fmt.Sprintf("garp.refresh %v + probe interval %v + %s", refresh, netlab.DefaultProbeInterval, sw)}
}

// checkDownBound bounds the time from a broker freezing to its backend
// being DOWN: the next check starts at most interval after the last
// passing one, the following fall-1 ones max(fastinterval, timeout) apart
// (checks never overlap), and the last fails after timeout (package
// healthcheck, "Timing").
func checkDownBound(interval, fastInterval, timeout time.Duration, fall int) bound {
	s, sw := slack()
	d := interval + time.Duration(fall-1)*max(fastInterval, timeout) + timeout
	return bound{d + s, fmt.Sprintf("interval + (fall-1) x max(fastinterval, timeout) + timeout %v + %s", d, sw)}
}

// trackMoveBound bounds the time from the master's own broker freezing to
// the VIP being on the backup alone: the check is DOWN within
// checkDownBound's guarantee, the track rule drops the master's priority
// below the backup's at once, the backup, which ignores adverts of a lower
// priority when it may preempt, takes over when its Master_Down_Timer
// (last reset by an advert of the old priority) fires, and the old master
// gives the VIP up on the new master's first advert.
func trackMoveBound(interval, fastInterval, timeout time.Duration, fall int, advert time.Duration, backupPrio int) bound {
	s, sw := slack()
	down := interval + time.Duration(fall-1)*max(fastInterval, timeout) + timeout
	md := masterDown(advert, backupPrio)
	return bound{down + md + s, fmt.Sprintf("check DOWN %v + Master_Down_Interval %v + %s", down, md, sw)}
}

// within logs a measured time with its bound, so that every run reports
// the figure, and fails t when the time is over the bound.
func within(t *testing.T, what string, got time.Duration, b bound) {
	t.Helper()
	t.Logf("%s: %v (bound %s)", what, got.Round(time.Millisecond), b)
	if got > b.d {
		t.Errorf("%s: %v, want <= %s", what, got.Round(time.Millisecond), b)
	}
}

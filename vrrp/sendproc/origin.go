package sendproc

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// originSlack is how far past the server's origin of time the reading of
// CLOCK_MONOTONIC that sets the advert timer's deadlines may lie: every
// advert is sent that much late. A reading further off (the thread was
// preempted between the two clock reads) is taken again.
const originSlack = 50 * time.Microsecond

// originTries bounds how often clockOrigin reads the clocks again; the
// last pair is kept however far apart (late adverts, never early ones).
const originTries = 100

// clockOrigin returns the origin of the server's time (its now is the
// time since epoch, read from the runtime's monotonic clock) and
// CLOCK_MONOTONIC in nanoseconds read at or after that origin (mono), at
// most originSlack after it when the clocks can be read that close. now
// and readMono read the two clocks (time.Now and clock_gettime).
//
// The order matters: the advert timer expires at mono plus the server's
// time asked for, so with mono read after epoch it never expires before
// that time. Read the other way round, a thread preempted between the two
// reads (a busy host) made every deadline expire early by as long as it
// waited: every advert went out nearly an interval late, and a one-shot
// deadline (a report owed between two adverts) woke the server before it
// was due and was taken for still pending though the kernel had spent it,
// so that no advert went out again until the daemon killed the process
// (the timer now sees such an expiry: advertTimer.arm).
func clockOrigin(now func() time.Time, readMono func() (int64, error)) (epoch time.Time, mono int64, err error) {
	for range originTries {
		epoch = now()
		if mono, err = readMono(); err != nil {
			return time.Time{}, 0, fmt.Errorf("reading CLOCK_MONOTONIC: %w", err)
		}
		if now().Sub(epoch) <= originSlack {
			break
		}
	}
	return epoch, mono, nil
}

// readMonotonic reads CLOCK_MONOTONIC in nanoseconds.
func readMonotonic() (int64, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, err
	}
	return ts.Nano(), nil
}

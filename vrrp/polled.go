package vrrp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// deadlineWaker is the part of the receiving socket that wakes the polled
// loop: a read deadline in the past ends its wait.
type deadlineWaker interface {
	SetReadDeadline(t time.Time) error
}

// runPolled is Run's event loop with the real transport and without a
// real-time priority. Like the real-time loop it reads the receiving
// socket itself and handles each advert where it read it: a read loop
// handing adverts over on a channel woke a second thread of the Go
// runtime for every advert a backup heard. It waits in the runtime's
// poller, with the machine's next deadline as the socket's read deadline;
// kick moves that deadline to the past. It steps the machine as the other
// loops do and returns when ctx is done (nil) or the socket fails. tr is
// the transport; own is tr when Run opened it, else nil (see
// applyDesired).
func (i *Instance) runPolled(ctx context.Context, tr, own *IPv4Transport, ow *ownerWorker) error {
	pc, rc := tr.pollerConn()
	if pc == nil {
		return errors.New("waiting for VRRP adverts: the socket is not in the poller")
	}
	i.wakeMu.Lock()
	i.wakeConn = pc
	i.wakeMu.Unlock()
	defer func() {
		i.wakeMu.Lock()
		i.wakeConn = nil
		i.wakeMu.Unlock()
	}()
	defer context.AfterFunc(ctx, i.kick)()
	// Something may have changed before wakeConn was set.
	lw := &loopWake{i: i, tr: tr, own: own, ow: ow}
	lw.start()
	buf := make([]byte, 1500)
	var read int
	var rerr error
	// waitFn reads and handles the adverts waiting; none: wait.
	waitFn := func(fd uintptr) bool {
		read, rerr = i.readPending(tr, ow, int(fd), buf)
		return read > 0 || rerr != nil
	}
	pendingFn := func(fd uintptr) { _, rerr = i.readPending(tr, ow, int(fd), buf) }
	for ctx.Err() == nil {
		var at time.Time // none
		if wake, ok := lw.next(); ok {
			at = time.Now().Add(max(wake.Sub(i.clock.Now()), 0))
		}
		if err := pc.SetReadDeadline(at); err != nil {
			return fmt.Errorf("waiting for VRRP adverts: %w", err)
		}
		// A kick after this line sets its deadline after the one above,
		// so the wait below ends at once.
		kicked := i.kicked.Swap(false)
		readAll := kicked
		if !kicked {
			err := rc.Read(waitFn)
			switch {
			case err == nil && rerr != nil:
				return rerr
			case err == nil:
				// Adverts read and handled.
			case errors.Is(err, os.ErrDeadlineExceeded):
				// The deadline passed, or a kick: rc.Read returns
				// before it reads when the deadline has passed, so
				// what waits is read below.
				readAll = true
			default:
				return fmt.Errorf("waiting for VRRP adverts: %w", err)
			}
			kicked = i.kicked.Swap(false)
		}
		if readAll {
			if err := rc.Control(pendingFn); err != nil {
				return fmt.Errorf("receiving VRRP advert: %w", err)
			}
			if rerr != nil {
				return rerr
			}
		}
		if kicked && ctx.Err() != nil {
			return nil
		}
		lw.woken(kicked)
	}
	return nil
}

// wakePolled makes the polled loop, if it runs, look at the desired state
// (kick calls it).
func (i *Instance) wakePolled() {
	i.wakeMu.Lock()
	defer i.wakeMu.Unlock()
	if i.wakeConn != nil {
		i.kicked.Store(true)
		_ = i.wakeConn.SetReadDeadline(time.Unix(1, 0))
	}
}

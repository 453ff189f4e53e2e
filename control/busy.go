package control

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// The pauses between the attempts of a call the daemon refused busy: the
// first is about busyFirstPause, each next about twice the last, up to
// about busyMaxPause; each is drawn between half and all of that, so that
// clients refused together do not all come back together.
const (
	busyFirstPause = 20 * time.Millisecond
	busyMaxPause   = 500 * time.Millisecond
)

// isBusy reports whether err is the daemon's ErrBusy answer: it refused
// the connection unread, so the request did nothing and may be sent again.
func isBusy(err error) bool {
	var refused *RefusedError
	return errors.As(err, &refused) && refused.Message == ErrBusy.Error()
}

// retryBusy calls try until it returns anything but the daemon's ErrBusy,
// pausing between the attempts, and returns that. When ctx is done first,
// it returns the last ErrBusy answer (a RefusedError still) with how long
// it waited: also when the attempt under way when ctx was done failed
// without sending its request (ErrNotSent), which did nothing either.
func retryBusy(ctx context.Context, try func() error) error {
	start := time.Now()
	pause := busyFirstPause
	var busy error // the last ErrBusy answer
	waited := func() error {
		return fmt.Errorf("waiting %s for a free control connection: %w", time.Since(start).Round(time.Millisecond), busy)
	}
	for {
		err := try()
		if busy != nil && ended(ctx) && errors.Is(err, ErrNotSent) {
			return waited()
		}
		if !isBusy(err) {
			return err
		}
		busy = err
		t := time.NewTimer(pause/2 + rand.N(pause/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return waited()
		case <-t.C:
		}
		pause = min(2*pause, busyMaxPause)
	}
}

// ended reports whether ctx is done or its deadline has passed: an
// attempt's connection, which has the same deadline, may fail on it a
// moment before ctx's own timer has marked ctx done.
func ended(ctx context.Context) bool {
	dl, ok := ctx.Deadline()
	return ctx.Err() != nil || ok && !time.Now().Before(dl)
}

package control

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestRetryBusy drives retryBusy with scripted attempts: a busy answer is
// asked again; an attempt that the end of the call cut short before it
// sent its request reports the busy answer, not the cut; one cut short
// after sending (the daemon may have acted) reports its own error; and an
// error that is not busy ends it at once.
func TestRetryBusy(t *testing.T) {
	busy := &RefusedError{Message: ErrBusy.Error()}
	cut := errors.New("i/o timeout")
	cases := []struct {
		name     string
		attempts []error // the last repeats
		cancelAt int     // cancel the context during this attempt (0: never)
		want     string  // in the error; "" for nil
		busy     bool    // the error is the daemon's ErrBusy
		tries    int
	}{
		{"busy, then answered", []error{busy, busy, nil}, 0, "", false, 3},
		{"busy until the end, the last attempt cut before sending", []error{busy, busy, notSent{cut}}, 3, "for a free control connection", true, 3},
		{"busy, then cut after sending", []error{busy, cut}, 2, "i/o timeout", false, 2},
		{"another refusal", []error{busy, &RefusedError{Message: "no such backend"}}, 0, "no such backend", false, 2},
		{"busy until the end", []error{busy}, 4, "for a free control connection", true, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			n := 0
			err := retryBusy(ctx, func() error {
				n++
				if n == c.cancelAt {
					cancel()
				}
				return c.attempts[min(n, len(c.attempts))-1]
			})
			switch {
			case c.want == "" && err != nil, c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want %q", err, c.want)
			case isBusy(err) != c.busy:
				t.Errorf("busy %v, want %v: %v", isBusy(err), c.busy, err)
			case n != c.tries:
				t.Errorf("%d attempts, want %d", n, c.tries)
			}
		})
	}
}

// deadlineOnly is a context whose deadline has passed but whose timer has
// not marked it done yet.
type deadlineOnly struct {
	context.Context
	dl time.Time
}

func (c deadlineOnly) Deadline() (time.Time, bool) { return c.dl, true }

// TestEndedAtDeadline: an attempt whose connection failed on the call's
// deadline, a moment before the context's timer marked it done, counts as
// cut by the end of the call: the busy answer is reported.
func TestEndedAtDeadline(t *testing.T) {
	past := deadlineOnly{context.Background(), time.Now().Add(-time.Millisecond)}
	if !ended(past) {
		t.Error("a context past its deadline, not yet done: not ended")
	}
	if ended(deadlineOnly{context.Background(), time.Now().Add(time.Hour)}) {
		t.Error("a context before its deadline: ended")
	}
	busy := &RefusedError{Message: ErrBusy.Error()}
	n := 0
	err := retryBusy(past, func() error {
		n++
		return [...]error{busy, notSent{errors.New("i/o timeout")}}[min(n, 2)-1]
	})
	if n != 2 || !isBusy(err) || !strings.Contains(err.Error(), "for a free control connection") {
		t.Errorf("busy, then cut at the deadline before sending: %v after %d attempts, want the busy answer", err, n)
	}
}

package amqpload

import "time"

// window calls a load's Mark at the start and at the end of its measured
// time, once each, the end only after the start. The load's goroutine
// owns it.
type window struct {
	mark         func()
	begun, ended bool
}

// begin marks the start of the measured time the first time it is called.
func (w *window) begin() {
	if !w.begun {
		w.begun = true
		if w.mark != nil {
			w.mark()
		}
	}
}

// end marks the end of the measured time, after its start (marked now if
// it was not), the first time it is called.
func (w *window) end() {
	w.begin()
	if !w.ended {
		w.ended = true
		if w.mark != nil {
			w.mark()
		}
	}
}

// at marks what the clock reading now says of the measured time [from,
// to); a zero to is an end the load marks itself.
func (w *window) at(now, from, to time.Time) {
	if !now.Before(from) {
		w.begin()
	}
	if !to.IsZero() && !now.Before(to) {
		w.end()
	}
}

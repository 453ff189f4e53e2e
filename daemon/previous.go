package daemon

import "github.com/rmqlb/rmqlb/control"

// previousProcess is the process this daemon took over from by an upgrade
// in place, as long as it runs: it finishes the sessions it held at the
// hand-over, which this process's listeners do not count, and `rmqlb
// status` says so.
type previousProcess struct {
	// shown is what status shows of it. Its SessionsLeft, set by
	// followPrevious at each report, points to a new int each time and
	// is never written through, so copies of shown may share it.
	shown control.PreviousProcess
	// gone reports whether the process has exited (processGone).
	gone func() bool
}

// previousLocked returns what status shows of the process this one took
// over from: nil once it has exited (it is then forgotten), or without a
// take-over. d.mu is held.
func (d *Daemon) previousLocked() *control.PreviousProcess {
	p := d.previous
	if p == nil {
		return nil
	}
	if p.gone() {
		d.previous = nil
		return nil
	}
	s := p.shown
	return &s
}

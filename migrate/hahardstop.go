package migrate

import (
	"strings"
)

// hardStop translates the global hard-stop-after, how long an old
// HAProxy process lets its sessions finish after a reload or a soft stop,
// into the graceful_timeout of each listener translated from the file: an
// upgrade of rmqlb lets the old process's sessions finish as long. The
// last line of the global sections counts, as in HAProxy; a file without
// listeners leaves it to sweep.
func (t *haT) hardStop() {
	lines := t.globalLines("hard-stop-after")
	if len(lines) == 0 || len(t.listeners) == 0 {
		return
	}
	last := lines[len(lines)-1]
	for _, l := range lines[:len(lines)-1] {
		t.skip(l, "overridden by line "+itoa(last.pos.Line))
	}
	if len(last.words) != 2 {
		t.skip(last, "takes one value, a time such as 30s")
		return
	}
	d, err := haTime(last.words[1])
	if err != nil {
		t.skip(last, err.Error())
		return
	}
	if d == 0 {
		t.skip(last, "must be above 0")
		return
	}
	names := make([]string, len(t.listeners))
	for i, l := range t.listeners {
		l.graceful = d
		names[i] = l.name
	}
	t.change(last, "becomes graceful_timeout: "+formatDuration(d)+" of each listener translated from this file ("+strings.Join(names, ", ")+
		"): an upgrade of rmqlb (rmqlb upgrade; the package runs one) lets the old process's sessions finish that long, as a reload of HAProxy does,"+
		" and closes those left over its last four fifths (close_spread) rather than at once; a stop waits as long, except on a listener bound to a VIP, which closes them as the VIP moves")
}

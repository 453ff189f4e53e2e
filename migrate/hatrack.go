package migrate

import (
	"fmt"
	"slices"
	"strings"
)

// haTrack is HAProxy's track of a server: the server takes the state of
// another server's check ([BACKEND/]SERVER, BACKEND being a backend or
// listen section, its own by default) and is not checked itself. rmqlb
// has no such link: the backend gets the tracked server's check, which it
// runs on its own, so that it is taken out when the broker the tracked
// check sees fails (a management listener's server that tracks the AMQP
// one gets the AMQP check).
type haTrack struct {
	opt serverOpt
	// back is the name of the section of the tracking server, where a
	// SERVER without BACKEND is.
	back string
	// how is the check the backend got as a server HAProxy does not
	// check, kept when the tracked server is not translated.
	how string
	// resolved is set once the track has been resolved and noted.
	resolved bool
}

// resolveTracks gives every backend that tracks a server the check that
// server was translated with, and notes it; a backend whose tracked
// server is not translated keeps the check it got as a server HAProxy
// does not check, with a note. Listeners translated from one section with
// several binds share their tracks: each backend is given its check, and
// the note made once.
func (t *haT) resolveTracks() {
	for _, l := range t.listeners {
		for _, b := range l.backends {
			tr := b.track
			if tr == nil {
				continue
			}
			section, server := tr.target()
			target := t.trackedBackend(section, server)
			if target == nil {
				if !tr.resolved {
					t.ns.change(tr.opt.pos, tr.opt.dir, fmt.Sprintf("the server it tracks, %s/%s, is not translated: rmqlb checks this one with %s", section, server, tr.how))
				}
				tr.resolved = true
				continue
			}
			b.check = target.check
			if !b.check.address.IsValid() && target.addr != b.addr {
				b.check.address = target.addr
			}
			if !tr.resolved {
				t.ns.change(tr.opt.pos, tr.opt.dir, fmt.Sprintf("rmqlb gives this backend the check of %s/%s (of %s), which it runs for this backend too: the two take the broker out alike, a check apart at most", section, server, checkAddr(target)))
			}
			tr.resolved = true
		}
	}
}

// trackedBackend returns the backend translated from server SERVER of
// the backend or listen section named section, following a server that
// tracks another in turn as HAProxy does (at most maxTrackChain steps: a
// loop, which HAProxy refuses, ends there); nil when there is none.
func (t *haT) trackedBackend(section, server string) *backend {
	for range maxTrackChain {
		l := t.bySection[section]
		if l == nil {
			return nil
		}
		i := slices.IndexFunc(l.backends, func(b *backend) bool { return b.name == server })
		if i < 0 {
			return nil
		}
		b := l.backends[i]
		if b.track == nil {
			return b
		}
		section, server = b.track.target()
	}
	return nil
}

// target returns the section and the name of the server tracked.
func (tr *haTrack) target() (section, server string) {
	section, server, ok := strings.Cut(tr.opt.v, "/")
	if !ok {
		return tr.back, tr.opt.v
	}
	return section, server
}

// maxTrackChain bounds the servers followed from a track to the one
// checked.
const maxTrackChain = 8

// checkAddr is where b's check connects.
func checkAddr(b *backend) string {
	if b.check.address.IsValid() {
		return b.check.address.String()
	}
	return b.addr.String()
}

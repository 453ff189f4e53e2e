package balancer

import (
	"errors"
	"math"
	"time"

	"go.uber.org/zap"
)

// A session has one deadline in its loop's timer heap: the connect timeout
// while it connects, afterwards the earliest of its session timeouts and
// of the time its server side gets TCP keepalive:
//
//   - handshake: the client has sent no byte HandshakeTimeout after the
//     backend connection was established (bytes that wait unread when it
//     falls due count as sent: see readFirstBytes);
//   - FIN: the session is ending (a side announced its FIN or failed)
//     and no byte has moved for FinTimeout since it began to end;
//   - idle: no byte has moved for IdleTimeout;
//   - keepalive: the session has been established for keepAliveDelay (at
//     most the keepalive time itself), and TCP keepalive is still to be set
//     on its server side. Setting it then, not at connect, spares the three
//     setsockopt calls to a session that ends before: it needs no
//     keepalive, whose first probe would come only after the keepalive
//     time. The first probe of a longer session comes at most
//     keepAliveDelay later than it would have.
//
// Traffic does not touch the heap: it only moves lastActive, and a deadline
// that fires early is moved to the new earliest one. The deadlines are on
// the loop's time (loop.now).

// timerFired handles the session's deadline.
func (s *session) timerFired() {
	switch s.state {
	case stateConnecting:
		s.attemptFailed(errors.New("connect timeout"))
	case stateEstablished:
		l, now := s.lp.l, s.lp.now
		d := s.deadlines()
		switch {
		case due(d.handshake, now) && s.readFirstBytes():
			// The handshake deadline no longer applies; one the bytes
			// leave due fires in this same run of the timers.
			if s.state == stateEstablished {
				s.schedule()
			}
		case due(d.handshake, now):
			l.handshakeTimeouts.Add(1)
			s.timedOut(EndHandshakeTimeout)
		case due(d.fin, now):
			l.finTimeouts.Add(1)
			s.timedOut(EndFinTimeout)
		case due(d.idle, now):
			l.idleTimeouts.Add(1)
			s.timedOut(EndIdleTimeout)
		case due(d.keepAlive, now):
			s.armKeepAlive()
			s.schedule()
		default:
			s.schedule()
		}
	}
}

// readFirstBytes is called when the session's handshake timeout falls
// due: bytes of the client may wait unread all the same, come after the
// loop's wait returned, or with an event further in the batch than this
// turn's dispatch got. Such a client was not silent: its bytes are read
// and passed on now, and it reports true, unless none could be read (the
// backend side failed: the session ends anyway). It costs an ioctl, only
// when a handshake timeout falls due.
func (s *session) readFirstBytes() bool {
	if s.cli.failed || !hasInput(s.cli.fd) {
		return false
	}
	s.cli.readable = true
	s.pump()
	return s.c2s.seen || s.state != stateEstablished
}

// timedOut closes the session after a session timeout.
func (s *session) timedOut(why EndReason) {
	s.lp.l.log.Debug("closing session: timeout", zap.Stringer("timeout", why),
		zap.Stringer("client", s.client))
	s.close(why)
}

// schedule sets the session's deadline to the earliest of its session
// timeouts, or unschedules it if none applies. It is called once the
// session is established and whenever a timeout may have started to apply
// (a direction ended, a side failed); timerFired calls it for deadlines
// that moved.
func (s *session) schedule() {
	if !s.endSeen && s.ending() {
		// The end is the session's last activity: its FIN timeout counts
		// from it, however long the session idled before.
		s.endSeen, s.lastActive = true, s.lp.now
	}
	if next := s.deadlines().earliest(); next == 0 {
		s.lp.timers.stop(s)
	} else {
		s.lp.timers.set(s, next)
	}
}

// sessionDeadlines are the times at which each session timeout would close
// a session; the zero time for a timeout that is off or does not apply.
type sessionDeadlines struct {
	handshake, fin, idle time.Duration // times of the loop (loop.now), 0: none
	keepAlive            time.Duration // not a timeout: see armKeepAlive
}

// deadlines returns the session's deadlines under the current settings.
func (s *session) deadlines() sessionDeadlines {
	p := s.lp.l.params.Load()
	var d sessionDeadlines
	if p.handshake > 0 && !s.c2s.seen {
		d.handshake = later(s.established, p.handshake)
	}
	if p.finTimeout > 0 && s.ending() {
		d.fin = later(s.lastActive, p.finTimeout)
	}
	if p.idleTimeout > 0 {
		d.idle = later(s.lastActive, p.idleTimeout)
	}
	if !s.srvKeepAlive && p.keepAlive > 0 {
		d.keepAlive = s.established + min(keepAliveDelay, p.keepAlive)
	}
	return d
}

// keepAliveDelay is how long after it is established a session gets TCP
// keepalive on its server side.
const keepAliveDelay = time.Second

// armKeepAlive sets TCP keepalive, as the listener's settings say now, on
// the session's server side; the client side inherited it from the
// listening socket. A failure is logged: the session goes on without.
func (s *session) armKeepAlive() {
	s.srvKeepAlive = true
	if err := setKeepAlive(s.srv.fd, s.lp.l.params.Load().keepAlive); err != nil {
		s.lp.l.log.Debug("setting keepalive on the server side", zap.Stringer("client", s.client), zap.Error(err))
	}
}

// earliest returns the earliest set deadline, 0 if none is.
func (d sessionDeadlines) earliest() time.Duration {
	var next time.Duration
	for _, t := range [...]time.Duration{d.handshake, d.fin, d.idle, d.keepAlive} {
		if t != 0 && (next == 0 || t < next) {
			next = t
		}
	}
	return next
}

// due reports whether deadline d is set and not after now.
// later is the loop time d after t, saturated at the largest time, so
// that a very long timeout is a deadline far away rather than one that
// wrapped into the past.
func later(t, d time.Duration) time.Duration {
	if d > math.MaxInt64-t {
		return math.MaxInt64
	}
	return t + d
}

func due(d, now time.Duration) bool { return d != 0 && now >= d }

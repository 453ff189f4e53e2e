package balancer

import (
	"errors"

	"go.uber.org/zap"
)

// timerFired handles the session's deadline: connect timeout or idle.
func (s *session) timerFired() {
	lp := s.lp
	switch s.state {
	case stateConnecting:
		s.attemptFailed(errors.New("connect timeout"))
	case stateEstablished:
		d := lp.l.params.Load().idleTimeout
		if d <= 0 {
			return
		}
		if next := s.lastActive.Add(d); lp.now.Before(next) {
			lp.timers.set(s, next)
			return
		}
		lp.l.log.Debug("closing idle session", zap.Stringer("client", s.client))
		s.close()
	}
}

package balancer

import (
	"net/netip"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// The per-session log (Config.LogSessions): one Info line when a session
// ends, or when a client is refused before it has a session. Nothing of
// it runs while the setting is off: the data path only keeps what every
// session keeps anyway (its byte counts, its accept time, how it began to
// end).

// sessionEnd is what the line of one ended session says.
type sessionEnd struct {
	client netip.AddrPort
	// backend and backendAddr are those of the session's backend; empty
	// when it had none.
	backend     string
	backendAddr netip.AddrPort
	duration    time.Duration
	// toBackend and toClient are the bytes written to each side.
	toBackend, toClient uint64
	why                 EndReason
}

// logSession writes the line of e.
func (l *Listener) logSession(e sessionEnd) {
	ce := l.log.Check(zap.InfoLevel, "session ended")
	if ce == nil {
		return
	}
	fields := make([]zap.Field, 0, 8)
	fields = append(fields, zap.Stringer("client", e.client))
	if e.backend != "" {
		fields = append(fields, zap.String("backend", e.backend), zap.Stringer("backend_addr", e.backendAddr))
	}
	fields = append(fields, zap.Duration("duration", e.duration),
		zap.Uint64("bytes_to_backend", e.toBackend), zap.Uint64("bytes_to_client", e.toClient),
		zap.Stringer("reason", e.why))
	ce.Write(fields...)
}

// logEnd logs the end of s for why. It runs before close releases
// anything.
func (s *session) logEnd(why EndReason) {
	lp := s.lp
	e := sessionEnd{
		client:    s.client,
		duration:  lp.now - s.accepted,
		toBackend: s.c2s.bytes,
		toClient:  s.s2c.bytes,
		why:       why,
	}
	if b := s.be; b != nil {
		e.backend, e.backendAddr = b.name, s.backendAddr()
	}
	lp.l.logSession(e)
}

// backendAddr returns the address of the session's backend: the peer of
// its connected socket, else (connecting, reset) the backend's configured
// address.
func (s *session) backendAddr() netip.AddrPort {
	if s.state == stateEstablished && s.srv.fd >= 0 {
		if sa, err := unix.Getpeername(s.srv.fd); err == nil {
			if a := fromSockaddr(sa); a.IsValid() {
				return a
			}
		}
	}
	l := s.lp.l
	l.mu.Lock()
	defer l.mu.Unlock()
	return s.be.addr
}

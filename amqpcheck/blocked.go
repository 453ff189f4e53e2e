package amqpcheck

import (
	"context"
	"net"
	"time"
)

// keptHeartbeat is the heartbeat interval a login check asks for in Connection.Tune-Ok. It
// matters only for the connection a check keeps on a blocked broker: RabbitMQ keeps sending
// heartbeats on a blocked connection (and stops expecting ours while it is blocked), so a kept
// connection silent for keptSilence belongs to a broker that froze, vanished or restarted.
const keptHeartbeat = 3 * time.Second

// keptSilence is how long a kept connection may stay silent before it is given up: the broker
// sends a heartbeat when it sent nothing for keptHeartbeat, so two heartbeats can be up to
// twice that apart.
const keptSilence = 3 * keptHeartbeat

// closeTimeout bounds the Connection.Close / Close-Ok of a kept connection once unblocked.
const closeTimeout = 5 * time.Second

// blockedConn is the one connection a login check keeps open on a broker that blocked it
// (Connection.Blocked: a memory or disk alarm). A blocked RabbitMQ connection reads nothing
// more, so closing its TCP connection goes unnoticed by the broker, which keeps the connection
// until the alarm clears; a check per interval would pile them up. Instead the Check keeps this
// one and reports the alarm from it, while later checks log in without publishing (a broker
// under an alarm reads a connection until its first publish, so they close cleanly); its
// watcher goroutine (the only reader of conn) waits for Connection.Unblocked to close it
// cleanly. The Check owns it: the
// watcher removes it from the Check when it ends, and Check.Close closes it.
type blockedConn struct {
	conn net.Conn
	rep  Report
	done chan struct{} // closed when the watcher has ended and conn is closed
}

// keep hands the blocked connection of session s, whose report is rep, to c; the caller no
// longer owns s.conn. When c is closed or already keeps a connection, conn is closed at once.
func (c *Check) keep(s *session, rep Report) {
	k := &blockedConn{conn: s.conn, rep: rep, done: make(chan struct{})}
	c.mu.Lock()
	if c.closed || c.kept != nil {
		c.mu.Unlock()
		s.conn.Close()
		return
	}
	c.kept = k
	c.mu.Unlock()
	s.conn.SetDeadline(time.Time{})
	ws := &session{conn: s.conn, r: s.r, cfg: s.cfg, ctx: context.Background(), t0: time.Now(), max: s.max, gotFrame: true}
	go c.watch(k, ws)
}

// blocked returns the report of the kept connection while it is alive and blocked.
func (c *Check) blocked() (Report, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.kept == nil {
		return Report{}, false
	}
	select {
	case <-c.kept.done:
		return Report{}, false
	default:
		return c.kept.rep, true
	}
}

// watch reads the kept connection until the broker unblocks it (then it closes it with
// Connection.Close / Close-Ok), closes it, goes silent for keptSilence (frozen, gone) or the
// Check is closed; then it forgets it. It runs on its own goroutine, the only one reading k.conn.
func (c *Check) watch(k *blockedConn, s *session) {
	defer func() {
		k.conn.Close()
		c.mu.Lock()
		if c.kept == k {
			c.kept = nil
		}
		c.mu.Unlock()
		close(k.done)
	}()
	r := s.r
	for {
		k.conn.SetReadDeadline(time.Now().Add(keptSilence))
		f, err := ReadFrame(r, s.max)
		if err != nil {
			return // closed by the broker or by Close, reset, or silent too long
		}
		if f.Type != FrameMethod || f.Channel != 0 {
			continue // heartbeats, and the answer to the probe's Basic.Qos once unblocked
		}
		id, _, err := ParseMethod(f.Payload)
		if err != nil {
			return
		}
		switch id {
		case ConnectionUnblocked:
			c.mu.Lock()
			if c.kept == k {
				c.kept = nil // later checks connect again while this one closes
			}
			c.mu.Unlock()
			k.conn.SetDeadline(time.Now().Add(closeTimeout))
			s.close()
			return
		case ConnectionClose:
			k.conn.Write(AppendMethod(nil, 0, ConnectionCloseOk, nil))
			return
		}
	}
}

// Close closes the connection the check keeps on a blocked broker, if any, and makes later
// checks keep none. A blocked broker does not notice the close until its alarm clears, which
// is the price of stopping or replacing the check during an alarm: at most one connection. It
// is safe to call at any time, also while a check runs, and more than once.
func (c *Check) Close() error {
	c.mu.Lock()
	c.closed = true
	k := c.kept
	c.kept = nil
	c.mu.Unlock()
	if k != nil {
		k.conn.Close()
		<-k.done
	}
	return nil
}

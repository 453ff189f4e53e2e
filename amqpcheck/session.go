package amqpcheck

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/rmqlb/rmqlb/checkconn"
	"github.com/rmqlb/rmqlb/proxyproto"
)

// version is announced in client properties.
const version = "rmqlb"

// session is one check's conversation with a broker: a fixed script, one goroutine.
type session struct {
	conn net.Conn
	r    *bufio.Reader
	cfg  *Config
	ctx  context.Context
	t0   time.Time // start of the check
	max  uint32    // frame size limit
	// proxyHeader: send the PROXY header before the protocol header (false over TLS, where
	// it went before the TLS handshake).
	proxyHeader bool
	// noProbe: log in and close without the alarm probe, while the Check keeps a connection
	// the broker blocked (a publish now would be blocked too).
	noProbe bool

	gotFrame bool // a well-formed frame arrived: later garbage is a broken AMQP server
}

func (s *session) run() (Report, error) {
	s.max = s.cfg.MaxFrameSize
	var out []byte
	if s.proxyHeader {
		out = proxyproto.AppendV2Local(out)
	}
	out = append(out, ProtocolHeader...)
	if err := s.write(out, "sending protocol header"); err != nil {
		return Report{}, err
	}
	start, err := s.readStart()
	if err != nil {
		return Report{}, err
	}
	rep := Report{Server: ServerInfoFrom(start)}
	if err := checkconn.CheckCluster(rep.Server.ClusterName, s.cfg.Cluster); err != nil {
		return Report{}, err
	}
	if s.cfg.Mode == ModeHandshake {
		// Nothing can end an AMQP connection cleanly before Connection.Open: closing the TCP
		// connection here costs the broker one info and one warning line (see doc.go).
		return rep, nil
	}
	if err := s.login(start); err != nil {
		return rep, err // Server, for a refused login (see Run)
	}
	if s.cfg.AlarmProbe == AlarmProbePublish && !s.noProbe {
		alarm, probeErr, err := s.probe()
		if err != nil {
			return Report{}, err
		}
		rep.Alarm, rep.ProbeError = alarm, probeErr
		if alarm != "" {
			// The broker stopped reading this connection after Connection.Blocked: it would
			// answer a Connection.Close, and notice a closed TCP connection, only once the
			// alarm clears. Run keeps the connection until then (see blockedConn).
			return rep, nil
		}
	}
	return rep, s.close()
}

func (s *session) write(b []byte, doing string) error {
	if _, err := s.conn.Write(b); err != nil {
		if tc, ok := s.conn.(*tls.Conn); ok {
			// Under TLS 1.3 a broker refuses the client's certificate after the client's
			// handshake ended: it sends its alert and closes, and a write can meet the
			// reset before a read meets the alert. The alert, read before the reset, is
			// the reason.
			var oe *net.OpError
			if _, rerr := tc.Read(make([]byte, 1)); errors.As(rerr, &oe) && oe.Op == "remote error" {
				err = rerr
			}
		}
		return fmt.Errorf("%s to %s: %w", doing, s.conn.RemoteAddr(), classify(s.ctx, s.t0, err))
	}
	return nil
}

// readStart reads Connection.Start, telling non-AMQP answers apart.
func (s *session) readStart() (Start, error) {
	const doing = "waiting for Connection.Start"
	peek, err := s.r.Peek(4)
	switch string(peek) {
	case "AMQP":
		hdr, _ := s.r.Peek(8)
		return Start{}, fmt.Errorf("%s from %s: %w: server answered with protocol header %q (it wants another protocol version)",
			doing, s.conn.RemoteAddr(), ErrNotAMQP, hdr)
	case "HTTP":
		more, _ := s.r.Peek(s.r.Buffered()) // what came with the first segment; do not wait for more
		line, _, _ := strings.Cut(string(more), "\r")
		return Start{}, fmt.Errorf("%s from %s: %w: got an HTTP response %q", doing, s.conn.RemoteAddr(), ErrNotAMQP, line)
	}
	if err != nil && len(peek) == 0 {
		return Start{}, fmt.Errorf("%s from %s: %w", doing, s.conn.RemoteAddr(), classify(s.ctx, s.t0, err))
	}
	id, args, err := s.readMethod(doing)
	if err != nil {
		return Start{}, err
	}
	if id != ConnectionStart {
		return Start{}, fmt.Errorf("%s from %s: %w: got %v", doing, s.conn.RemoteAddr(), ErrNotAMQP, id)
	}
	st, err := ParseStart(args)
	if err != nil {
		return Start{}, fmt.Errorf("%s from %s: %w: %w", doing, s.conn.RemoteAddr(), ErrNotAMQP, err)
	}
	if st.VersionMajor != 0 || st.VersionMinor != 9 {
		return Start{}, fmt.Errorf("%s from %s: %w: server speaks AMQP %d-%d", doing, s.conn.RemoteAddr(), ErrNotAMQP, st.VersionMajor, st.VersionMinor)
	}
	return st, nil
}

// readMethod reads the next method frame, skipping heartbeats. A Connection.Close from the
// server is answered with Close-Ok and returned as *ServerCloseError.
func (s *session) readMethod(doing string) (MethodID, []byte, error) {
	ch, id, args, err := s.readChannelMethod(doing)
	if err == nil && ch != 0 {
		return id, args, fmt.Errorf("%s from %s: %w: unexpected %v on channel %d", doing, s.conn.RemoteAddr(), ErrMalformed, id, ch)
	}
	return id, args, err
}

func (s *session) readChannelMethod(doing string) (uint16, MethodID, []byte, error) {
	for {
		f, err := ReadFrame(s.r, s.max)
		if err != nil {
			if errors.Is(err, ErrMalformed) && !s.gotFrame {
				return 0, MethodID{}, nil, fmt.Errorf("%s from %s: %w: %w", doing, s.conn.RemoteAddr(), ErrNotAMQP, err)
			}
			if errors.Is(err, ErrFrameTooLarge) || errors.Is(err, ErrMalformed) {
				return 0, MethodID{}, nil, fmt.Errorf("%s from %s: %w", doing, s.conn.RemoteAddr(), err)
			}
			return 0, MethodID{}, nil, fmt.Errorf("%s from %s: %w", doing, s.conn.RemoteAddr(), classify(s.ctx, s.t0, err))
		}
		s.gotFrame = true
		switch f.Type {
		case FrameHeartbeat:
			continue
		case FrameMethod:
		default:
			return 0, MethodID{}, nil, fmt.Errorf("%s from %s: %w: unexpected frame type %d", doing, s.conn.RemoteAddr(), ErrMalformed, f.Type)
		}
		id, args, err := ParseMethod(f.Payload)
		if err != nil {
			return 0, MethodID{}, nil, fmt.Errorf("%s from %s: %w: %w", doing, s.conn.RemoteAddr(), ErrMalformed, err)
		}
		if id == ConnectionClose && f.Channel == 0 {
			c, err := ParseClose(args)
			if err != nil {
				return 0, MethodID{}, nil, fmt.Errorf("%s from %s: %w: %w", doing, s.conn.RemoteAddr(), ErrMalformed, err)
			}
			// Be polite: acknowledge, so the broker logs a clean close. Errors do not matter.
			s.conn.Write(AppendMethod(nil, 0, ConnectionCloseOk, nil))
			return 0, id, args, fmt.Errorf("%s from %s: %w", doing, s.conn.RemoteAddr(), &ServerCloseError{Close: c})
		}
		return f.Channel, id, args, nil
	}
}

// login runs Start-Ok, Tune, Tune-Ok, Open and Open-Ok.
func (s *session) login(start Start) error {
	mech, resp := "PLAIN", "\x00"+s.cfg.User+"\x00"+s.cfg.Password
	if s.cfg.Mechanism == MechanismExternal {
		// The broker takes the user from the TLS session's client certificate; the
		// response (an authorisation identity) stays empty, as RabbitMQ's clients send it.
		mech, resp = "EXTERNAL", ""
	}
	if !containsWord(start.Mechanisms, mech) {
		return fmt.Errorf("logging in to %s: %w: server offers SASL mechanisms %q, not %s", s.conn.RemoteAddr(), ErrAuth, start.Mechanisms, mech)
	}
	props := Table{
		"product":         "rmqlb",
		"version":         version,
		"platform":        "Go",
		"connection_name": s.cfg.ConnectionName,
		"capabilities": Table{
			"authentication_failure_close": true,
			"connection.blocked":           true,
		},
	}
	args, err := StartOkArgs(props, mech, []byte(resp), "en_US")
	if err != nil {
		return fmt.Errorf("encoding Connection.Start-Ok: %w", err)
	}
	if err := s.write(AppendMethod(nil, 0, ConnectionStartOk, args), "sending Connection.Start-Ok"); err != nil {
		return err
	}
	id, args, err := s.readMethod("waiting for Connection.Tune")
	switch {
	case errors.Is(err, ErrClosed):
		// Brokers that do not honour authentication_failure_close just drop the connection.
		return fmt.Errorf("logging in to %s: %w: connection closed after Connection.Start-Ok (%v)", s.conn.RemoteAddr(), ErrAuth, err)
	case err != nil:
		return err
	case id == ConnectionSecure:
		return fmt.Errorf("logging in to %s: %w: server sent Connection.Secure for %s", s.conn.RemoteAddr(), ErrAuth, mech)
	case id != ConnectionTune:
		return fmt.Errorf("waiting for Connection.Tune from %s: %w: got %v", s.conn.RemoteAddr(), ErrMalformed, id)
	}
	tune, err := ParseTune(args)
	if err != nil {
		return err
	}
	// Heartbeats tell a connection kept on a blocked broker alive (see keptHeartbeat).
	ok := Tune{ChannelMax: tune.ChannelMax, FrameMax: tune.FrameMax, Heartbeat: uint16(keptHeartbeat / time.Second)}
	if ok.FrameMax == 0 || ok.FrameMax > s.max {
		ok.FrameMax = s.max
	}
	s.max = ok.FrameMax
	open, err := OpenArgs(s.cfg.VHost)
	if err != nil {
		return err
	}
	out := AppendMethod(nil, 0, ConnectionTuneOk, TuneOkArgs(ok))
	out = AppendMethod(out, 0, ConnectionOpen, open)
	if err := s.write(out, "sending Connection.Open"); err != nil {
		return err
	}
	id, _, err = s.readMethod("waiting for Connection.Open-Ok")
	if err != nil {
		return err
	}
	if id != ConnectionOpenOk {
		return fmt.Errorf("waiting for Connection.Open-Ok from %s: %w: got %v", s.conn.RemoteAddr(), ErrMalformed, id)
	}
	return nil
}

// probe opens channel 1, publishes an empty message to the default exchange with an
// unroutable routing key and then asks for Basic.Qos-Ok. Under a resource alarm RabbitMQ
// blocks the connection when it has read the publish: it sends Connection.Blocked (to clients
// that announced the capability) and reads nothing more, so Qos-Ok never comes. Without an
// alarm Qos-Ok comes at once. alarm is the Blocked reason; probeErr a channel-level refusal
// (e.g. 403: no write permission), which does not fail the check.
func (s *session) probe() (alarm, probeErr string, err error) {
	out := AppendMethod(nil, 1, ChannelOpen, ChannelOpenArgs())
	if err := s.write(out, "opening channel"); err != nil {
		return "", "", err
	}
	ch, id, _, err := s.readChannelMethod("waiting for Channel.Open-Ok")
	if err != nil {
		return "", "", err
	}
	if ch != 1 || id != ChannelOpenOk {
		return "", "", fmt.Errorf("waiting for Channel.Open-Ok from %s: %w: got %v on channel %d", s.conn.RemoteAddr(), ErrMalformed, id, ch)
	}
	pub, err := PublishArgs("", ProbeRoutingKey)
	if err != nil {
		return "", "", err
	}
	out = AppendMethod(nil, 1, BasicPublish, pub)
	out = AppendEmptyContentHeader(out, 1)
	out = AppendMethod(out, 1, BasicQos, QosArgs())
	if err := s.write(out, "publishing alarm probe"); err != nil {
		return "", "", err
	}
	for {
		ch, id, args, err := s.readChannelMethod("waiting for Basic.Qos-Ok after the alarm probe")
		if err != nil {
			return "", "", err
		}
		switch {
		case ch == 0 && id == ConnectionBlocked:
			reason, err := ParseBlocked(args)
			if err != nil {
				return "", "", err
			}
			if reason == "" {
				reason = "blocked"
			}
			return reason, "", nil
		case ch == 0 && id == ConnectionUnblocked:
			continue
		case ch == 1 && id == BasicQosOk:
			return "", "", nil
		case ch == 1 && id == ChannelClose:
			c, err := ParseClose(args)
			if err != nil {
				return "", "", err
			}
			s.conn.Write(AppendMethod(nil, 1, ChannelCloseOk, nil))
			return "", (&ServerCloseError{Channel: 1, Close: c}).Error(), nil
		default:
			return "", "", fmt.Errorf("waiting for Basic.Qos-Ok from %s: %w: got %v on channel %d", s.conn.RemoteAddr(), ErrMalformed, id, ch)
		}
	}
}

// close sends Connection.Close and waits for Close-Ok, so the broker logs a clean close.
func (s *session) close() error {
	args, _ := CloseArgs(Close{ReplyCode: ReplySuccess, ReplyText: "rmqlb health check done"})
	if err := s.write(AppendMethod(nil, 0, ConnectionClose, args), "sending Connection.Close"); err != nil {
		return err
	}
	for {
		ch, id, _, err := s.readChannelMethod("waiting for Connection.Close-Ok")
		if err != nil {
			var sc *ServerCloseError
			if errors.As(err, &sc) && sc.ReplyCode == ReplySuccess {
				return nil // both sides closed at once
			}
			return err
		}
		if ch == 0 && id == ConnectionCloseOk {
			return nil
		}
		// Anything else (a late Channel.Close-Ok, Blocked) is skipped.
	}
}

func containsWord(list, w string) bool {
	for _, f := range strings.Fields(list) {
		if f == w {
			return true
		}
	}
	return false
}

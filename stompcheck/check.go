package stompcheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"

	"github.com/rmqlb/rmqlb/checkconn"
	"github.com/rmqlb/rmqlb/checktls"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/internal/fielderr"
)

// MaxFrame is the most bytes of the server's answer the check reads: an
// answer that is no complete frame by then fails it at once, rather than
// filling memory until the timeout.
const MaxFrame = 16 << 10

// Config configures a Check. Only Addr is required.
type Config struct {
	// Addr is the STOMP listener.
	Addr netip.AddrPort
	// VHost is the CONNECT frame's host header, which RabbitMQ reads as
	// the virtual host. Zero: "/".
	VHost string
	// User and Password log in (the login and passcode headers). Zero:
	// no login, which RabbitMQ answers as its stomp.default_user says
	// (guest, which it refuses off loopback unless loopback_users lets
	// it in).
	User, Password string
	// RefusedFails makes an ERROR frame answered to a check with a
	// User (its login or vhost refused), and a TLS client certificate
	// the server refuses, fail the check. False: it passes with the
	// refusal as a warning (the backend is DEGRADED, still served):
	// RabbitMQ keeps its users and vhosts across the cluster, and every
	// node refuses alike.
	RefusedFails bool
	// ProxyProtocol sends a PROXY protocol v2 LOCAL header first, for
	// a listener that reads one (RabbitMQ's stomp.proxy_protocol).
	ProxyProtocol bool
	// TLS makes the check speak STOMP over TLS (61614). Nil: in clear.
	TLS *checktls.Config
}

// Validate reports every field of c that is wrong, each a
// *fielderr.Error named after the field's key in the configuration file,
// joined.
func (c Config) Validate() error {
	errs := checkconn.Validate(c.Addr, c.User, c.Password, c.TLS)
	for _, f := range []struct{ name, v string }{{"vhost", c.VHost}, {"user", c.User}, {"password", c.Password}} {
		if strings.ContainsAny(f.v, "\r\n\x00") {
			errs = append(errs, fielderr.New(f.name, "must not hold a line break or a NUL (a STOMP header cannot carry one)"))
		}
	}
	return errors.Join(errs...)
}

// Check is a STOMP check of one listener, made by New. Its Check may be
// called from several goroutines; each check uses a connection of its
// own and closes it before it returns.
type Check struct {
	cfg Config
	tls *checktls.Files // nil without Config.TLS
	// Dialer connects to the listener; the zero value is fine. Set
	// before first use.
	Dialer net.Dialer
}

// New returns a check for cfg. With cfg.TLS it reads the TLS files, and
// fails when one cannot be read or parsed.
func New(cfg Config) (*Check, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("configuring STOMP check: %w", err)
	}
	if cfg.VHost == "" {
		cfg.VHost = "/"
	}
	f, err := checkconn.TLSFiles(cfg.TLS, cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("configuring STOMP check: tls: %w", err)
	}
	return &Check{cfg: cfg, tls: f}, nil
}

// ErrTooLong: the server's answer is no complete frame within MaxFrame
// bytes.
var ErrTooLong = fmt.Errorf("answer longer than %d KiB", MaxFrame>>10)

// Check implements healthcheck.Checker. A CONNECTED frame passes it; an
// ERROR frame passes it with a warning when the check has a user
// (Config.RefusedFails), and clean without one (the listener answered);
// any other answer fails it. A connection this host cannot make for want
// of a file descriptor or socket memory makes it inconclusive
// (healthcheck.Failed).
func (c *Check) Check(ctx context.Context) healthcheck.Result {
	conn, r := checkconn.Begin(ctx, c.cfg.Addr, checkconn.Options{Dialer: &c.Dialer, ProxyHeader: c.cfg.ProxyProtocol, TLS: c.tls, RefusedFails: c.cfg.RefusedFails})
	if conn == nil {
		return r
	}
	defer conn.Close()
	f, err := c.connect(conn)
	if conn.CertificateRefused(err, &r) {
		return r
	}
	if err != nil {
		return healthcheck.Failed(fmt.Errorf("STOMP CONNECT: %w", conn.Classify(err)))
	}
	switch f.Command {
	case "CONNECTED":
		r.Info = "STOMP CONNECTED " + connected(f)
		conn.Write(Disconnect) // a clean end; the connection closes anyway
	case "ERROR":
		reason := errorReason(f)
		r.Info = "STOMP ERROR " + reason
		switch {
		case nodeFull(f):
			r.Full, r.Warning = true, healthcheck.FullWarning("STOMP ERROR "+reason)
		case versionMismatch(f):
			return healthcheck.Failed(fmt.Errorf("STOMP CONNECT: ERROR %s", reason))
		case c.cfg.User == "":
			r.Info += " (no user: the listener answers)"
		case !c.cfg.RefusedFails:
			checkconn.AddRefusal(&r, "login refused: STOMP ERROR "+reason)
		default:
			return healthcheck.Failed(fmt.Errorf("STOMP CONNECT: refused: ERROR %s", reason))
		}
	default:
		return healthcheck.Failed(fmt.Errorf("STOMP CONNECT: %w: it answered %s", ErrNotSTOMP, f.Command))
	}
	return r
}

// connect sends the CONNECT frame on conn and reads the frame that
// answers it.
func (c *Check) connect(conn net.Conn) (Frame, error) {
	frame, err := AppendConnect(nil, Connect{Host: c.cfg.VHost, Login: c.cfg.User, Passcode: c.cfg.Password})
	if err != nil {
		return Frame{}, err
	}
	if _, err := conn.Write(frame); err != nil {
		return Frame{}, fmt.Errorf("sending CONNECT: %w", err)
	}
	buf := make([]byte, 0, 512)
	for {
		f, _, err := ParseFrame(buf)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			return f, err
		}
		if len(buf) >= MaxFrame {
			return Frame{}, ErrTooLong
		}
		if len(buf) == cap(buf) {
			buf = append(make([]byte, 0, min(2*cap(buf), MaxFrame)), buf...)
		}
		n, err := conn.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil && n == 0 {
			return Frame{}, fmt.Errorf("reading the answer: %w", err)
		}
	}
}

// connected describes a CONNECTED frame: the version it speaks (1.0
// when it names none) and the server it names.
func connected(f Frame) string {
	v, ok := f.Get("version")
	if !ok {
		v = "1.0"
	}
	s := checkconn.Reason(v)
	if srv, ok := f.Get("server"); ok && srv != "" {
		s += " (" + checkconn.Reason(srv) + ")"
	}
	return s
}

// nodeFull reports whether the ERROR frame f is this node refusing every
// new client at its own connection limit, not the check's login or
// vhost: RabbitMQ's "Connection refused: node connection limit reached"
// (stomp.max_connections, a count of the node's own connections). STOMP
// has no codes; these are RabbitMQ's words.
func nodeFull(f Frame) bool { return strings.Contains(string(f.Body), "node connection limit") }

// versionMismatch reports whether the ERROR frame f is this node refusing
// every client for speaking none of the versions the CONNECT offers
// (RabbitMQ's "Version mismatch").
func versionMismatch(f Frame) bool {
	msg, _ := f.Get("message")
	return msg == "Version mismatch"
}

// errorReason returns what an ERROR frame says: its message header and
// its body's first line, each when it has one.
func errorReason(f Frame) string {
	msg, _ := f.Get("message")
	line, _, _ := strings.Cut(string(f.Body), "\n")
	msg, line = checkconn.Reason(msg), checkconn.Reason(line)
	switch {
	case msg == "" && line == "":
		return "(no message)"
	case msg == "":
		return line
	case line == "" || line == msg:
		return msg
	}
	return msg + ": " + line
}

package mqttcheck

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"

	"github.com/rmqlb/rmqlb/checkconn"
	"github.com/rmqlb/rmqlb/checktls"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/internal/fielderr"
)

// keepAlive is the keep alive interval the check asks for, in seconds: it
// disconnects long before.
const keepAlive = 10

// Config configures a Check. Only Addr is required.
type Config struct {
	// Addr is the MQTT listener.
	Addr netip.AddrPort
	// User and Password log in; RabbitMQ reads a vhost from the user
	// name ("VHOST:USER"). Zero: no user name, which RabbitMQ answers
	// as its mqtt.allow_anonymous and mqtt.default_user say.
	User, Password string
	// RefusedFails makes a login the server refuses (return code 4 or
	// 5 to a check with a User), and a TLS client certificate it
	// refuses, fail the check. False: it passes with the refusal as a
	// warning (the backend is DEGRADED, still served): RabbitMQ keeps
	// its users across the cluster, and every node refuses alike.
	RefusedFails bool
	// ProxyProtocol sends a PROXY protocol v2 LOCAL header first, for
	// a listener that reads one (RabbitMQ's mqtt.proxy_protocol).
	ProxyProtocol bool
	// TLS makes the check speak MQTT over TLS (8883). Nil: in clear.
	TLS *checktls.Config
}

// Validate reports every field of c that is wrong, each a
// *fielderr.Error named after the field's key in the configuration file,
// joined.
func (c Config) Validate() error {
	errs := checkconn.Validate(c.Addr, c.User, c.Password, c.TLS)
	for _, f := range []struct{ name, v string }{{"user", c.User}, {"password", c.Password}} {
		if len(f.v) > 0xFFFF {
			errs = append(errs, fielderr.New(f.name, "is %d bytes long, at most 65535", len(f.v)))
		}
	}
	return errors.Join(errs...)
}

// Check is an MQTT check of one listener, made by New. Its Check may be
// called from several goroutines; each check uses a connection of its
// own, with a client identifier of its own, and closes it before it
// returns.
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
		return nil, fmt.Errorf("configuring MQTT check: %w", err)
	}
	f, err := checkconn.TLSFiles(cfg.TLS, cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("configuring MQTT check: tls: %w", err)
	}
	return &Check{cfg: cfg, tls: f}, nil
}

// clientID returns a client identifier of 22 characters, the most every
// server takes (section 3.1.3.1), unique to one check: a server
// disconnects a client whose identifier connects again, so checks from
// several hosts must not share one.
func clientID() string {
	var b [8]byte
	rand.Read(b[:])
	return "rmqlb-" + hex.EncodeToString(b[:])
}

// Check implements healthcheck.Checker. A CONNACK accepting the
// connection passes it; one refusing the login passes it with a warning
// when the check has a user (Config.RefusedFails), and clean without one
// (the listener answered; RabbitMQ refuses an anonymous client unless
// mqtt.allow_anonymous lets it in); any other return code fails it. A
// connection this host cannot make for want of a file descriptor or
// socket memory makes it inconclusive (healthcheck.Failed).
func (c *Check) Check(ctx context.Context) healthcheck.Result {
	conn, r := checkconn.Begin(ctx, c.cfg.Addr, checkconn.Options{Dialer: &c.Dialer, ProxyHeader: c.cfg.ProxyProtocol, TLS: c.tls, RefusedFails: c.cfg.RefusedFails})
	if conn == nil {
		return r
	}
	defer conn.Close()
	ack, err := c.connect(conn)
	if conn.CertificateRefused(err, &r) {
		return r
	}
	if err != nil {
		return healthcheck.Failed(fmt.Errorf("MQTT CONNECT: %w", conn.Classify(err)))
	}
	r.Info = "MQTT CONNACK " + ack.Code.String()
	switch {
	case ack.Code == Accepted:
		conn.Write(Disconnect) // a clean end; the connection closes anyway
	case ack.Code.Refused() && c.cfg.User == "":
		r.Info += " (no user: the listener answers)"
	case ack.Code.Refused() && !c.cfg.RefusedFails:
		checkconn.AddRefusal(&r, "login refused: MQTT CONNACK "+ack.Code.String())
	default:
		return healthcheck.Failed(fmt.Errorf("MQTT CONNECT: refused: CONNACK %s", ack.Code))
	}
	return r
}

// connect sends the CONNECT packet on conn and reads the CONNACK.
func (c *Check) connect(conn net.Conn) (ConnAck, error) {
	pkt, err := AppendConnect(nil, Connect{ClientID: clientID(), User: c.cfg.User, Password: c.cfg.Password, KeepAlive: keepAlive})
	if err != nil {
		return ConnAck{}, err
	}
	if _, err := conn.Write(pkt); err != nil {
		return ConnAck{}, fmt.Errorf("sending CONNECT: %w", err)
	}
	var b [ConnAckLen]byte
	if n, err := io.ReadFull(conn, b[:]); err != nil {
		if n > 0 && b[0] != typeConnAck<<4 {
			// A server of another protocol that said a little and closed.
			return ConnAck{}, notConnAck(b[0])
		}
		return ConnAck{}, fmt.Errorf("reading CONNACK: %w", err)
	}
	return ParseConnAck(b[:])
}

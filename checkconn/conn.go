package checkconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/rmqlb/rmqlb/checktls"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/proxyproto"
)

// Options say how Open connects.
type Options struct {
	// Dialer connects; nil: a zero net.Dialer.
	Dialer *net.Dialer
	// ProxyHeader sends a PROXY protocol v2 LOCAL header first, in
	// clear, before the TLS handshake.
	ProxyHeader bool
	// TLS runs a TLS handshake with the configuration it gives. Nil:
	// the connection stays in clear.
	TLS *checktls.Files
	// RefusedFails makes a TLS client certificate the server refuses
	// fail the check (see Begin). False: the refusal is a warning.
	RefusedFails bool
}

// Conn is a check's connection, made by Open: I/O on it returns once the
// check's context is done. Its owner calls Close when the check ends.
type Conn struct {
	net.Conn
	// Certificates are the TLS certificates of the session
	// (checktls.Files.Certificates); nil in clear.
	Certificates []healthcheck.Certificate
	// TLSWarning says that the TLS files changed on disk and could not
	// be read again (checktls.Files.Get); "" when not.
	TLSWarning string

	ctx          context.Context
	t0           time.Time
	stop         func() bool
	refusedFails bool
}

// aLongTimeAgo is a deadline in the past that makes blocked I/O return at once.
var aLongTimeAgo = time.Unix(1, 0)

// Open connects to addr within ctx, whose deadline it sets on the
// connection (and whose end unblocks its I/O), as o says. Its errors say
// what failed ("connecting to ADDR: connection refused (...)", "... TLS
// handshake failed: ..."); one this host could not make for want of a
// file descriptor or socket memory keeps its errno for
// healthcheck.Failed, and one of a TLS alert keeps the alert's
// *net.OpError for checktls.CertificateRefused.
func Open(ctx context.Context, addr netip.AddrPort, o Options) (*Conn, error) {
	t0 := time.Now()
	d := o.Dialer
	if d == nil {
		d = &net.Dialer{}
	}
	raw, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		if !healthcheck.LocalShortage(err) {
			err = Classify(ctx, t0, err)
		}
		return nil, fmt.Errorf("connecting to %s: %w", addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		raw.SetDeadline(dl)
	}
	c := &Conn{Conn: raw, ctx: ctx, t0: t0, refusedFails: o.RefusedFails}
	c.stop = context.AfterFunc(ctx, func() { raw.SetDeadline(aLongTimeAgo) })
	if o.ProxyHeader {
		if _, err := raw.Write(proxyproto.AppendV2Local(nil)); err != nil {
			c.Close()
			return nil, fmt.Errorf("sending PROXY header to %s: %w", addr, Classify(ctx, t0, err))
		}
	}
	if o.TLS != nil {
		cfg, warning := o.TLS.Get()
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, fmt.Errorf("connecting to %s: TLS handshake failed: %w", addr, Classify(ctx, t0, err))
		}
		c.Conn, c.TLSWarning, c.Certificates = tc, warning, o.TLS.Certificates(tc.ConnectionState(), cfg)
	}
	return c, nil
}

// Begin opens the connection of a check as Open does, and returns it
// with the Result the check starts from: the TLS certificates of the
// session and the warning of TLS files that could not be read again.
// When it cannot connect it returns a nil Conn and the check's outcome: a
// failure (healthcheck.Failed), or, for a TLS client certificate the
// server refused (checktls.CertificateRefused) unless o.RefusedFails, a
// pass with the refusal as a warning: the check's own credential, which
// every node of a cluster refuses alike.
func Begin(ctx context.Context, addr netip.AddrPort, o Options) (*Conn, healthcheck.Result) {
	c, err := Open(ctx, addr, o)
	if err != nil {
		if !o.RefusedFails {
			if alert, ok := checktls.CertificateRefused(err); ok {
				return nil, healthcheck.Result{Warning: "client certificate refused: " + alert, Refused: true}
			}
		}
		return nil, healthcheck.Failed(err)
	}
	return c, healthcheck.Result{Warning: c.TLSWarning, Certificates: c.Certificates}
}

// CertificateRefused reports whether err, of the exchange on c, is the
// server refusing the check's TLS client certificate, as Begin does:
// under TLS 1.3 the server refuses it after the handshake, so its alert
// comes with the first answer. It adds the refusal to r's warning.
func (c *Conn) CertificateRefused(err error, r *healthcheck.Result) bool {
	if err == nil || c.refusedFails {
		return false
	}
	alert, ok := checktls.CertificateRefused(err)
	if ok {
		AddRefusal(r, "client certificate refused: "+alert)
	}
	return ok
}

// AddRefusal adds w, the server's refusal of the check's own login or
// client certificate, to r's warning, after a "; ", and marks r Refused.
func AddRefusal(r *healthcheck.Result, w string) {
	if r.Warning != "" {
		w = r.Warning + "; " + w
	}
	r.Warning, r.Refused = w, true
}

// Close closes the connection (its TCP socket, without a TLS
// close_notify) and releases its hook on the context.
func (c *Conn) Close() error {
	c.stop()
	if tc, ok := c.Conn.(*tls.Conn); ok {
		return tc.NetConn().Close()
	}
	return c.Conn.Close()
}

// Classify is the package's Classify of an I/O error on c.
func (c *Conn) Classify(err error) error { return Classify(c.ctx, c.t0, err) }

// Errors a check fails with, wrapped with what was happening.
var (
	// ErrRefused: the server's host refused the connection (nothing
	// listens there).
	ErrRefused = errors.New("connection refused")
	// ErrTimeout: no answer within the check's timeout (a frozen or
	// overloaded server, or a host cut off). It has a Timeout method
	// that returns true, as net's timeouts do.
	ErrTimeout error = timeoutError{}
	// ErrClosed: the server closed or reset the connection before it
	// answered.
	ErrClosed = errors.New("connection closed by server")
)

// timeoutError is ErrTimeout.
type timeoutError struct{}

func (timeoutError) Error() string { return "timeout" }

// Timeout reports that the error is a timeout.
func (timeoutError) Timeout() bool { return true }

// Classify maps an I/O error of a check onto the package's errors,
// keeping the original; a timeout says how long after t0 (the start of
// the check) it struck. Other errors (a TLS alert, a malformed answer)
// are returned as they are.
func Classify(ctx context.Context, t0 time.Time, err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w (%w)", ErrRefused, err)
	case ctx.Err() != nil, errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("%w after %v", ErrTimeout, time.Since(t0).Round(time.Millisecond))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return fmt.Errorf("%w (%w)", ErrClosed, err)
	}
	return err
}

package httpcheck

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/rmqlb/rmqlb/checkconn"
	"github.com/rmqlb/rmqlb/checktls"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/internal/fielderr"
)

// MaxPathLen bounds Config.Path.
const MaxPathLen = 1024

// userAgent names the check in the server's access log.
const userAgent = "rmqlb health check"

// maxReason is how much of a failing answer's body is read for its reason.
const maxReason = 4 << 10

// MaxHead bounds an answer's status line and headers: a server that sends
// more fails the check with ErrTooLong at once, rather than filling
// memory until the timeout.
const MaxHead = 64 << 10

// Config configures a Check. Only Addr is required.
type Config struct {
	// Addr is where the check connects.
	Addr netip.AddrPort
	// Method is the request's method: GET, HEAD or OPTIONS, none of
	// which has a body or changes anything on the server. Zero: GET.
	Method string
	// Path is the request's target: an absolute path, with a query if
	// need be, at most MaxPathLen bytes. Zero: "/".
	Path string
	// Expect is the set of status codes that pass. Zero: DefaultStatuses.
	Expect Statuses
	// User and Password are sent with HTTP basic authentication (RFC
	// 7617) when User is set, as RabbitMQ's management API asks of its
	// health checks. Zero: no Authorization header.
	User, Password string
	// RefusedFails makes a login the server refuses (401 Unauthorized or
	// 403 Forbidden, to a check with a User, where Expect does not hold
	// them), and a TLS client certificate it refuses, fail the check.
	// False: it passes with the refusal as a warning (the backend is DEGRADED, still served), since RabbitMQ
	// keeps its users and their tags across the cluster and every node
	// refuses alike: a changed password of the check's user would
	// otherwise take every backend out at once.
	RefusedFails bool
	// ProxyProtocol makes the check send a PROXY protocol v2 LOCAL
	// header first (before the TLS handshake), for a server that reads
	// one on every connection.
	ProxyProtocol bool
	// TLS makes the check speak HTTPS. Nil: HTTP in clear.
	TLS *checktls.Config
}

// WithDefaults returns c with zero fields replaced by their defaults.
func (c Config) WithDefaults() Config {
	if c.Method == "" {
		c.Method = http.MethodGet
	}
	if c.Path == "" {
		c.Path = "/"
	}
	if len(c.Expect) == 0 {
		c.Expect = DefaultStatuses
	}
	return c
}

// Validate reports every field of c that is wrong, each a
// *fielderr.Error named after the field's key in the configuration file
// ("addr", "path", "expect_status", "tls.verify", ...), joined.
func (c Config) Validate() error {
	errs := checkconn.Validate(c.Addr, c.User, c.Password, c.TLS)
	switch c.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		errs = append(errs, fielderr.New("method", "must be GET, HEAD or OPTIONS, not %q", c.Method))
	}
	if c.Path != "" {
		if err := CheckPath(c.Path); err != nil {
			errs = append(errs, fielderr.New("path", "%v", err))
		}
	}
	for _, r := range c.Expect {
		if r.From < 100 || r.To > 599 || r.To < r.From {
			errs = append(errs, fielderr.New("expect_status", "%d-%d is not a range of status codes (100..599)", r.From, r.To))
			break
		}
	}
	return errors.Join(errs...)
}

// CheckPath reports what is wrong with p as Config.Path, nil when
// nothing is.
func CheckPath(p string) error {
	switch {
	case len(p) > MaxPathLen:
		return fmt.Errorf("is %d bytes long, at most %d", len(p), MaxPathLen)
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("must start with /, not %q", p)
	case strings.ContainsFunc(p, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '#' || r >= utf8.RuneSelf }):
		return fmt.Errorf("%q holds a space, a control character, a fragment (#) or a character to percent-encode", p)
	}
	if _, err := url.ParseRequestURI(p); err != nil {
		return fmt.Errorf("%q is not a request target: %v", p, err)
	}
	return nil
}

// Check is an HTTP check of one server, made by New. A Check's methods
// may be called from several goroutines, but each check uses its own
// connection and closes it before it returns.
type Check struct {
	cfg    Config
	target *url.URL        // the request's target: Config.Path
	host   string          // the Host header
	tls    *checktls.Files // nil without Config.TLS
	// Dialer connects to the server; the zero value is fine. Set before
	// first use.
	Dialer net.Dialer
}

// New returns a check for cfg. With cfg.TLS it reads the TLS files, and
// fails when one cannot be read or parsed.
func New(cfg Config) (*Check, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("configuring HTTP check: %w", err)
	}
	cfg = cfg.WithDefaults()
	target, err := url.ParseRequestURI(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("configuring HTTP check: path: %w", err)
	}
	f, err := checkconn.TLSFiles(cfg.TLS, cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("configuring HTTP check: tls: %w", err)
	}
	c := &Check{cfg: cfg, target: target, host: cfg.Addr.String(), tls: f}
	if cfg.TLS != nil && cfg.TLS.ServerName != "" {
		c.host = net.JoinHostPort(cfg.TLS.ServerName, fmt.Sprint(cfg.Addr.Port()))
	}
	return c, nil
}

// Check implements healthcheck.Checker. It passes when the server answers
// with a status of Config.Expect; a login it refuses (Config.RefusedFails)
// and TLS files that changed on disk and could not be read again pass it
// with a warning (the backend is DEGRADED). A
// connection this host cannot make for want of a file descriptor or socket
// memory makes it inconclusive (healthcheck.Failed).
func (c *Check) Check(ctx context.Context) healthcheck.Result {
	conn, r := checkconn.Begin(ctx, c.cfg.Addr, checkconn.Options{Dialer: &c.Dialer, ProxyHeader: c.cfg.ProxyProtocol, TLS: c.tls, RefusedFails: c.cfg.RefusedFails})
	if conn == nil {
		return r
	}
	defer conn.Close()
	status, reason, err := c.ask(conn)
	if conn.CertificateRefused(err, &r) {
		return r
	}
	if err != nil {
		return healthcheck.Failed(fmt.Errorf("%s %s: %w", c.cfg.Method, c.cfg.Path, conn.Classify(err)))
	}
	r.Info = "HTTP " + status.String()
	if !c.cfg.Expect.Contains(status.code) {
		err := fmt.Errorf("%s %s: %s (want %s)", c.cfg.Method, c.cfg.Path, status, c.cfg.Expect)
		if reason != "" {
			err = fmt.Errorf("%w: %s", err, reason)
		}
		if !c.refused(status.code) {
			return healthcheck.Failed(err)
		}
		checkconn.AddRefusal(&r, "login refused: "+err.Error())
	}
	return r
}

// refused reports whether code is the server refusing the check's login,
// which passes the check with a warning (Config.RefusedFails).
func (c *Check) refused(code int) bool {
	return c.cfg.User != "" && !c.cfg.RefusedFails && (code == http.StatusUnauthorized || code == http.StatusForbidden)
}

// status is an answer's status line: its code and text.
type status struct {
	code int
	text string // "200 OK"
}

func (s status) String() string { return s.text }

// ask sends the request on conn and reads the answer's status, and the
// reason the server gave when the status fails the check.
func (c *Check) ask(conn net.Conn) (status, string, error) {
	req := &http.Request{
		Method:     c.cfg.Method,
		URL:        c.target,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     http.Header{"User-Agent": {userAgent}, "Accept": {"*/*"}},
		Host:       c.host,
		Close:      true,
	}
	if c.cfg.User != "" {
		req.SetBasicAuth(c.cfg.User, c.cfg.Password)
	}
	if err := req.Write(conn); err != nil {
		return status{}, "", fmt.Errorf("sending request: %w", err)
	}
	head := &capped{r: conn, left: MaxHead}
	resp, err := http.ReadResponse(bufio.NewReader(head), req)
	if err != nil {
		if head.left <= 0 {
			err = ErrTooLong
		}
		return status{}, "", fmt.Errorf("reading answer: %w", err)
	}
	head.left += maxReason // the body's reason, read past the head
	defer resp.Body.Close()
	st := status{code: resp.StatusCode, text: resp.Status}
	if c.cfg.Expect.Contains(st.code) {
		return st, "", nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxReason))
	return st, reasonOf(body), nil
}

// reasonOf returns the reason a failing answer's body gives: the "reason"
// of a JSON object (RabbitMQ's health checks answer {"status":"failed",
// "reason":"..."}), else its first line; at most 200 bytes, "" when none.
func reasonOf(body []byte) string {
	var j struct {
		Reason string `json:"reason"`
	}
	s := ""
	if json.Unmarshal(body, &j) == nil && j.Reason != "" {
		s = j.Reason
	} else if !bytes.HasPrefix(bytes.TrimSpace(body), []byte("<")) {
		// Not an HTML page, whose first line says nothing.
		s, _, _ = strings.Cut(string(body), "\n")
	}
	return checkconn.Reason(s)
}

// Errors a check fails with, wrapped with what was happening.
var (
	// ErrRefused: the server's host refused the connection (nothing
	// listens there).
	ErrRefused = checkconn.ErrRefused
	// ErrTimeout: no answer within the check's timeout (a frozen or
	// overloaded server, or a host cut off). It has a Timeout method
	// that returns true, as net's timeouts do.
	ErrTimeout = checkconn.ErrTimeout
	// ErrClosed: the server closed or reset the connection before it
	// answered.
	ErrClosed = checkconn.ErrClosed
	// ErrTooLong: the answer's status line and headers are longer than
	// MaxHead.
	ErrTooLong = fmt.Errorf("answer's head longer than %d KiB", MaxHead>>10)
)

// capped reads from r until left bytes are read, then returns io.EOF.
type capped struct {
	r    io.Reader
	left int
}

func (c *capped) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, io.EOF
	}
	if len(p) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= n
	return n, err
}

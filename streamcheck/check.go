package streamcheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"

	"github.com/rmqlb/rmqlb/checkconn"
	"github.com/rmqlb/rmqlb/checktls"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/internal/fielderr"
)

// MaxFrame is the largest frame the check reads: larger ones, or the
// first bytes of a server of another protocol read as a size, fail it at
// once.
const MaxFrame = 1 << 20

// Config configures a Check. Only Addr is required.
type Config struct {
	// Addr is the stream listener.
	Addr netip.AddrPort
	// User and Password log in with SASL PLAIN, and VHost is then
	// opened. Zero User: the check only exchanges peer properties,
	// which needs no credentials.
	User, Password string
	// VHost is the virtual host a check with a User opens. Zero: "/".
	VHost string
	// Cluster is the RabbitMQ cluster the broker must be in, the
	// cluster_name of its peer properties: a broker that names another
	// fails the check with checkconn.ErrWrongCluster. At most
	// checkconn.MaxClusterLen bytes. Zero: any cluster.
	Cluster string
	// RefusedFails makes a login the broker refuses (authentication
	// failure, guest off loopback, the vhost refused) and a TLS client
	// certificate it refuses fail the check. False: it passes with the
	// refusal as a warning (the backend is DEGRADED, still served):
	// RabbitMQ keeps its users and vhosts across the cluster, and every
	// node refuses alike.
	RefusedFails bool
	// ProxyProtocol sends a PROXY protocol v2 LOCAL header first, for
	// a listener that reads one (RabbitMQ's stream.proxy_protocol).
	ProxyProtocol bool
	// TLS makes the check speak TLS (5551). Nil: in clear.
	TLS *checktls.Config
}

// Validate reports every field of c that is wrong, each a
// *fielderr.Error named after the field's key in the configuration file,
// joined.
func (c Config) Validate() error {
	errs := checkconn.Validate(c.Addr, c.User, c.Password, c.TLS)
	for _, f := range []struct{ name, v string }{{"user", c.User}, {"vhost", c.VHost}} {
		if len(f.v) > maxString {
			errs = append(errs, fielderr.New(f.name, "is %d bytes long, at most %d", len(f.v), maxString))
		}
	}
	if len(c.Cluster) > checkconn.MaxClusterLen {
		errs = append(errs, fielderr.New("cluster", "must be at most %d bytes, not %d", checkconn.MaxClusterLen, len(c.Cluster)))
	}
	return errors.Join(errs...)
}

// Check is a stream check of one listener, made by New. Its Check may be
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
		return nil, fmt.Errorf("configuring stream check: %w", err)
	}
	if cfg.VHost == "" {
		cfg.VHost = "/"
	}
	f, err := checkconn.TLSFiles(cfg.TLS, cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("configuring stream check: tls: %w", err)
	}
	return &Check{cfg: cfg, tls: f}, nil
}

// peerProperties are the check's own, which the broker shows as the
// connection's client properties.
var peerProperties = []Property{{"product", "rmqlb"}, {"connection_name", "rmqlb health check"}}

// Check implements healthcheck.Checker. The broker's peer properties pass
// it, with its product, version and cluster name; with a User it logs in
// and opens the vhost, and a refusal passes it with a warning
// (Config.RefusedFails). Any other answer fails it. A connection this
// host cannot make for want of a file descriptor or socket memory makes
// it inconclusive (healthcheck.Failed).
func (c *Check) Check(ctx context.Context) healthcheck.Result {
	conn, r := checkconn.Begin(ctx, c.cfg.Addr, checkconn.Options{Dialer: &c.Dialer, ProxyHeader: c.cfg.ProxyProtocol, TLS: c.tls, RefusedFails: c.cfg.RefusedFails})
	if conn == nil {
		return r
	}
	defer conn.Close()
	s := &session{conn: conn}
	refused, err := s.run(c.cfg, &r)
	if conn.CertificateRefused(err, &r) {
		return r
	}
	if err != nil {
		return healthcheck.Failed(fmt.Errorf("stream %s: %w", s.step, conn.Classify(err)))
	}
	if refused != "" {
		if c.cfg.RefusedFails {
			return healthcheck.Failed(fmt.Errorf("stream %s: refused: %s", s.step, refused))
		}
		checkconn.AddRefusal(&r, "login refused: stream "+s.step+": "+refused)
	}
	return r
}

// session is the exchange of one check on its connection.
type session struct {
	conn net.Conn
	corr uint32
	step string // the request being answered, for errors
	buf  []byte // read, not yet parsed
}

// run runs the exchange of cfg, filling r's Info and Cluster, and returns
// the broker's refusal of the check's login ("" when none).
func (s *session) run(cfg Config, r *healthcheck.Result) (refused string, err error) {
	s.step = "PeerProperties"
	req, err := AppendPeerProperties(nil, s.next(), peerProperties)
	if err != nil {
		return "", err
	}
	resp, err := s.ask(req, KeyPeerProperties)
	if err != nil {
		return "", err
	}
	if resp.Code != OK {
		return "", fmt.Errorf("answered %s", resp.Code)
	}
	props, err := ParseProperties(resp.Rest)
	if err != nil {
		return "", fmt.Errorf("reading peer properties: %w", err)
	}
	r.Info, r.Cluster = describe(props)
	if err := checkconn.CheckCluster(r.Cluster, cfg.Cluster); err != nil {
		return "", err
	}
	if cfg.User == "" {
		// RabbitMQ expects a Close only on an open connection (one
		// before the login it was seen to log as an unknown command,
		// with two warnings); a connection closed here it lets go
		// without a line.
		return "", nil
	}

	s.step = "SaslHandshake"
	if resp, err = s.ask(AppendSaslHandshake(nil, s.next()), KeySaslHandshake); err != nil {
		return "", err
	}
	mechs, err := ParseMechanisms(resp.Rest)
	if err != nil || resp.Code != OK {
		return "", fmt.Errorf("answered %s, mechanisms %q (%v)", resp.Code, mechs, err)
	}
	if !slices.Contains(mechs, "PLAIN") {
		return "", fmt.Errorf("the broker offers %q, not PLAIN", mechs)
	}
	s.step = "SaslAuthenticate"
	if req, err = AppendSaslPlain(nil, s.next(), cfg.User, cfg.Password); err != nil {
		return "", err
	}
	if resp, err = s.ask(req, KeySaslAuthenticate); err != nil || resp.Code != OK {
		return s.refusal(resp, err)
	}
	// The broker tunes the connection; the check agrees to its frame
	// size and wants no heartbeats.
	s.step = "Tune"
	f, err := s.await(func(f Frame) bool { return f.Key == KeyTune })
	if err != nil {
		return "", err
	}
	frameMax, _, err := ParseTune(f)
	if err != nil {
		return "", err
	}
	if _, err := s.conn.Write(AppendTune(nil, frameMax, 0)); err != nil {
		return "", fmt.Errorf("sending Tune: %w", err)
	}
	s.step = "Open " + cfg.VHost
	if req, err = AppendOpen(nil, s.next(), cfg.VHost); err != nil {
		return "", err
	}
	if resp, err = s.ask(req, KeyOpen); err != nil || resp.Code != OK {
		return s.refusal(resp, err)
	}
	s.close()
	return "", nil
}

// refusal returns what a response that is not OK, or err, makes of the
// check: a refused login, or an error.
func (s *session) refusal(resp Response, err error) (string, error) {
	switch {
	case err != nil:
		return "", err
	case resp.Code.Refused():
		return "answered " + resp.Code.String(), nil
	}
	return "", fmt.Errorf("answered %s", resp.Code)
}

// next returns the next correlation id.
func (s *session) next() uint32 {
	s.corr++
	return s.corr
}

// ask sends req, a request of key, and returns its response.
func (s *session) ask(req []byte, key uint16) (Response, error) {
	if _, err := s.conn.Write(req); err != nil {
		return Response{}, fmt.Errorf("sending the request: %w", err)
	}
	var (
		resp Response
		bad  error
	)
	_, err := s.await(func(f Frame) bool {
		if f.Key != key|ResponseBit {
			return false
		}
		resp, bad = ParseResponse(f)
		return bad != nil || resp.Corr == s.corr
	})
	if err == nil && bad != nil {
		err = fmt.Errorf("reading the response: %w", bad)
	}
	return resp, err
}

// await reads frames until want takes one, and returns it. Heartbeats
// and frames want does not take are skipped; a Close of the broker ends
// the check with its reason.
func (s *session) await(want func(Frame) bool) (Frame, error) {
	for {
		f, err := s.read()
		if err != nil {
			return Frame{}, err
		}
		if f.Key == KeyClose {
			_, code, reason, _ := ParseClose(f)
			return Frame{}, fmt.Errorf("the broker closed the connection: %s %s", code, checkconn.Reason(reason))
		}
		if want(f) {
			return f, nil
		}
	}
}

// read reads the next frame.
func (s *session) read() (Frame, error) {
	for {
		f, n, err := ParseFrame(s.buf, MaxFrame)
		if err == nil {
			f.Body = append([]byte(nil), f.Body...)
			s.buf = s.buf[n:]
			return f, nil
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			return Frame{}, err
		}
		need := 4 // more than s.buf holds: the frame's size, or the frame
		if size, err := FrameSize(s.buf, MaxFrame); err == nil {
			need = 4 + size
		}
		if cap(s.buf) < need {
			s.buf = append(make([]byte, 0, max(need, 512)), s.buf...)
		}
		n, err = s.conn.Read(s.buf[len(s.buf):cap(s.buf)])
		s.buf = s.buf[:len(s.buf)+n]
		if err != nil && n == 0 {
			return Frame{}, fmt.Errorf("reading the answer: %w", err)
		}
	}
}

// close ends the session with a Close request, as a client does, and
// reads its response; the check's outcome does not depend on it.
func (s *session) close() {
	req, err := AppendClose(nil, s.next(), OK, "rmqlb health check done")
	if err != nil {
		return
	}
	s.step = "Close"
	s.ask(req, KeyClose)
}

// describe returns the Info of the broker's peer properties ("RabbitMQ
// 3.10.8 stream") and its cluster name.
func describe(props []Property) (info, cluster string) {
	get := func(k string) string {
		for _, p := range props {
			if p.Key == k {
				return checkconn.Reason(p.Value)
			}
		}
		return ""
	}
	info = "stream peer properties"
	if p := get("product"); p != "" {
		info = p
		if v := get("version"); v != "" {
			info += " " + v
		}
		info += " stream"
	}
	if cluster = get("cluster_name"); cluster != "" {
		info += " (cluster " + cluster + ")"
	}
	return info, cluster
}

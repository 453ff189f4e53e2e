package amqpcheck

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/rmqlb/rmqlb/checkconn"
	"github.com/rmqlb/rmqlb/checktls"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/internal/fielderr"
	"github.com/rmqlb/rmqlb/proxyproto"
)

// Mode selects how far a check goes.
type Mode string

// Modes.
const (
	// ModeHandshake sends the protocol header, reads Connection.Start and closes the TCP
	// connection.
	ModeHandshake Mode = "handshake"
	// ModeLogin logs in to a vhost (Connection.Open-Ok), probes for resource alarms and closes
	// with Connection.Close / Close-Ok.
	ModeLogin Mode = "login"
)

// Mechanism is the SASL mechanism a login check authenticates with.
type Mechanism string

// Mechanisms.
const (
	// MechanismPlain sends User and Password (RabbitMQ's default).
	MechanismPlain Mechanism = "plain"
	// MechanismExternal lets the broker take the user from the client certificate of the TLS
	// session (RabbitMQ's rabbitmq_auth_mechanism_ssl plugin): it needs TLS with a certificate.
	MechanismExternal Mechanism = "external"
)

// ParseMechanism parses "plain" or "external".
func ParseMechanism(s string) (Mechanism, error) {
	switch m := Mechanism(s); m {
	case MechanismPlain, MechanismExternal:
		return m, nil
	}
	return "", fmt.Errorf("must be plain or external, not %q", s)
}

// ParseMode parses "handshake" or "login".
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeHandshake, ModeLogin:
		return m, nil
	}
	return "", fmt.Errorf("must be handshake or login, not %q", s)
}

// AlarmProbe selects how a login check looks for resource alarms.
type AlarmProbe string

// Alarm probes.
const (
	// AlarmProbePublish publishes one empty, unroutable message and reads whether the broker
	// answers with Connection.Blocked (see doc.go). It needs write permission on the default
	// exchange of the vhost.
	AlarmProbePublish AlarmProbe = "publish"
	// AlarmProbeManagement asks the management plugin's /api/health/checks/alarms at
	// ManagementURL with User and Password (any mode, also handshake).
	AlarmProbeManagement AlarmProbe = "management"
	// AlarmProbeOff does not look for alarms.
	AlarmProbeOff AlarmProbe = "off"
)

// DefaultMaxFrameSize bounds frames read before and after tuning (RabbitMQ's default
// frame_max is 131072).
const DefaultMaxFrameSize = 131072

// DefaultVHost is the vhost a login check opens when Config.VHost is empty: RabbitMQ's
// default vhost.
const DefaultVHost = "/"

// MaxVHostLen is the longest vhost name: Connection.Open carries it as a short string.
const MaxVHostLen = 255

// MaxClusterLen is the longest Config.Cluster: longer than any cluster name an operator
// would set, short enough for a line of status.
const MaxClusterLen = checkconn.MaxClusterLen

// ProbeRoutingKey is the routing key of the alarm probe message. Queue names starting with
// "amq." are reserved, so no queue can be bound to it through the default exchange: the
// message is dropped at once.
const ProbeRoutingKey = "amq.rmqlb.alarm-probe"

// Config configures a Check. Only Addr is required.
type Config struct {
	// Addr is the broker's AMQP listener.
	Addr netip.AddrPort
	// Mode is ModeHandshake or ModeLogin. Zero: ModeHandshake.
	Mode Mode
	// VHost is the vhost a login check opens, at most MaxVHostLen bytes. Zero:
	// DefaultVHost.
	VHost string
	// User and Password authenticate a login check with MechanismPlain. Zero: guest / guest.
	User, Password string
	// Cluster is the RabbitMQ cluster the broker must be in: the cluster_name of its
	// Connection.Start, which rabbitmqctl set_cluster_name sets for the whole cluster. A broker
	// that names another fails the check with ErrWrongCluster: one that was reset, or never
	// joined, passes a handshake as a cluster of its own, where clients would find none of the
	// cluster's queues. At most MaxClusterLen bytes. Zero: any cluster.
	Cluster string
	// Mechanism is the SASL mechanism of a login check. Zero: MechanismPlain.
	Mechanism Mechanism
	// ProxyProtocol makes the check send a PROXY protocol v2 LOCAL header first, for brokers
	// configured with proxy_protocol = true.
	ProxyProtocol bool
	// AlarmProbe selects the alarm detection. Zero: AlarmProbePublish in login mode (handshake
	// mode alone cannot see alarms), AlarmProbeManagement when ManagementURL is set.
	AlarmProbe AlarmProbe
	// ManagementURL is the broker's management API, e.g. "http://10.77.0.1:15672", for
	// AlarmProbeManagement, without credentials (User and Password are sent). Zero: none.
	ManagementURL string
	// MaxFrameSize bounds frames read. Zero: DefaultMaxFrameSize.
	MaxFrameSize uint32
	// ConnectionName is shown by the broker (management UI, logs). Zero: "rmqlb health check".
	ConnectionName string
	// TLS makes the check speak TLS to the broker (after the PROXY header, when there is
	// one). Nil: plain TCP.
	TLS *checktls.Config
	// OnLoginRefused is what Check does when the broker refuses the check's own credentials (see
	// refusal): RefusedDegraded and RefusedDownIfAlone pass it with a warning (the scheduler
	// compares the backends of the latter), RefusedDown fails it. Zero: RefusedDegraded.
	OnLoginRefused OnRefused
}

// WithDefaults returns c with zero fields replaced by their defaults.
func (c Config) WithDefaults() Config {
	if c.Mode == "" {
		c.Mode = ModeHandshake
	}
	if c.Mechanism == "" {
		c.Mechanism = MechanismPlain
	}
	if c.VHost == "" {
		c.VHost = DefaultVHost
	}
	if c.User == "" && c.Password == "" {
		c.User, c.Password = "guest", "guest"
	}
	if c.AlarmProbe == "" {
		c.AlarmProbe = AlarmProbePublish
		if c.ManagementURL != "" {
			c.AlarmProbe = AlarmProbeManagement
		}
	}
	if c.MaxFrameSize == 0 {
		c.MaxFrameSize = DefaultMaxFrameSize
	}
	if c.ConnectionName == "" {
		c.ConnectionName = "rmqlb health check"
	}
	if c.OnLoginRefused == "" {
		c.OnLoginRefused = RefusedDegraded
	}
	return c
}

// Validate reports every invalid field, each a *fielderr.Error naming the
// field and saying what is wrong with its value, joined with errors.Join.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fielderr.New(field, format, args...))
	}
	switch {
	case !c.Addr.IsValid():
		bad("addr", "must be an IP:port")
	case c.Addr.Port() == 0:
		bad("addr", "must have a port other than 0, not %s", c.Addr)
	}
	switch c.Mode {
	case "", ModeHandshake, ModeLogin:
	default:
		bad("mode", "must be handshake or login, not %q", c.Mode)
	}
	switch c.AlarmProbe {
	case "", AlarmProbePublish, AlarmProbeOff:
	case AlarmProbeManagement:
		if c.ManagementURL == "" {
			bad("management_url", "is required with alarm_probe management")
		}
	default:
		bad("alarm_probe", "must be publish, management or off, not %q", c.AlarmProbe)
	}
	if c.ManagementURL != "" {
		// Never repeat a password the URL may hold: errors end up in logs and status.
		switch u, err := url.Parse(c.ManagementURL); {
		case err != nil:
			bad("management_url", "must be http(s)://host:port, not an unparsable URL")
		case u.User != nil:
			bad("management_url", "must not hold credentials (user and password are their own settings), not %q", u.Redacted())
		case (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			bad("management_url", "must be http(s)://host:port, not %q", u.Redacted())
		}
	}
	if len(c.VHost) > MaxVHostLen {
		bad("vhost", "must be at most %d bytes, not %d", MaxVHostLen, len(c.VHost))
	}
	if len(c.Cluster) > MaxClusterLen {
		bad("cluster", "must be at most %d bytes, not %d", MaxClusterLen, len(c.Cluster))
	}
	if c.MaxFrameSize != 0 && c.MaxFrameSize < 4096 {
		bad("max_frame_size", "must be at least 4096, not %d", c.MaxFrameSize)
	}
	switch c.Mechanism {
	case "", MechanismPlain:
	case MechanismExternal:
		if c.TLS == nil || c.TLS.CertFile == "" {
			bad("mechanism", "external needs tls with a cert_file (the broker takes the user from it)")
		}
	default:
		bad("mechanism", "must be plain or external, not %q", c.Mechanism)
	}
	if c.TLS != nil {
		errs = append(errs, c.TLS.Validate()...)
	}
	if c.OnLoginRefused != "" {
		if _, err := ParseOnRefused(string(c.OnLoginRefused)); err != nil {
			bad("on_login_refused", "%v", err)
		}
	}
	return errors.Join(errs...)
}

// ServerInfo is what a broker tells about itself in Connection.Start.
type ServerInfo struct {
	VersionMajor uint8           `json:"version_major"`
	VersionMinor uint8           `json:"version_minor"`
	Product      string          `json:"product,omitempty"`
	Version      string          `json:"version,omitempty"`
	Platform     string          `json:"platform,omitempty"`
	ClusterName  string          `json:"cluster_name,omitempty"`
	Capabilities map[string]bool `json:"capabilities,omitempty"`
	Mechanisms   []string        `json:"mechanisms,omitempty"`
}

// String returns e.g. "RabbitMQ 3.10.8 (cluster rabbit@rmq1, Erlang/OTP 25.2.3)".
func (s ServerInfo) String() string {
	var b strings.Builder
	b.WriteString(s.Product)
	if s.Version != "" {
		b.WriteString(" " + s.Version)
	}
	var extra []string
	if s.ClusterName != "" {
		extra = append(extra, "cluster "+s.ClusterName)
	}
	if s.Platform != "" {
		extra = append(extra, s.Platform)
	}
	if len(extra) > 0 {
		b.WriteString(" (" + strings.Join(extra, ", ") + ")")
	}
	return strings.TrimSpace(b.String())
}

// ServerInfoFrom extracts ServerInfo from Connection.Start.
func ServerInfoFrom(s Start) ServerInfo {
	str := func(k string) string {
		switch v := s.ServerProperties[k].(type) {
		case string:
			return v
		case []byte:
			return string(v)
		}
		return ""
	}
	info := ServerInfo{VersionMajor: s.VersionMajor, VersionMinor: s.VersionMinor,
		Product: str("product"), Version: str("version"), Platform: str("platform"),
		ClusterName: str("cluster_name"), Mechanisms: strings.Fields(s.Mechanisms)}
	if caps, ok := s.ServerProperties["capabilities"].(Table); ok {
		info.Capabilities = map[string]bool{}
		for k, v := range caps {
			if b, ok := v.(bool); ok {
				info.Capabilities[k] = b
			}
		}
	}
	return info
}

// Report is the outcome of a passing check. Run fills in Server and TLSWarning for a login the
// broker refused as well.
type Report struct {
	Server ServerInfo `json:"server"`
	// Alarm is the reason of the Connection.Blocked the broker sent (e.g. "low on memory"),
	// empty when no alarm is in effect or the probe is off.
	Alarm string `json:"alarm,omitempty"`
	// ProbeError tells why the alarm probe could not run (e.g. no write permission on the
	// default exchange), empty when it ran.
	ProbeError string `json:"probe_error,omitempty"`
	// TLSWarning tells that the TLS files changed on disk but could not be read again, so
	// the check used those it read before; empty otherwise.
	TLSWarning string `json:"tls_warning,omitempty"`
	// Certificates are the certificates of a check over TLS: the first to expire of the
	// broker's, and the check's own client certificate (see healthcheck.Certificate).
	Certificates []healthcheck.Certificate `json:"certificates,omitempty"`
}

// Check is an AMQP 0-9-1 health check of one broker. It is safe for concurrent use. Each call
// uses its own connection and closes it before it returns, except the one connection of a
// login check that the broker blocked (a resource alarm), which the Check keeps and reports
// from until the broker unblocks it (see blockedConn); whoever made the Check calls Close when
// done with it, which closes that connection.
type Check struct {
	cfg  Config
	http *http.Client    // for AlarmProbeManagement; no keep-alive, so nothing outlives a check
	tls  *checktls.Files // nil without Config.TLS

	mu     sync.Mutex   // guards kept and closed
	kept   *blockedConn // the connection kept on a blocked broker, nil when none
	closed bool         // Close was called: keep nothing more
	// Dialer connects to the broker; the zero value is fine. Set before first use.
	Dialer net.Dialer
}

// New returns a check for cfg. With cfg.TLS it reads the TLS files, and fails when one
// cannot be read or parsed.
func New(cfg Config) (*Check, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("configuring AMQP check: %w", err)
	}
	c := &Check{cfg: cfg.WithDefaults(), http: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}}
	if cfg.TLS != nil {
		f, err := checktls.NewFiles(*cfg.TLS, cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("configuring AMQP check: tls: %w", err)
		}
		c.tls = f
	}
	return c, nil
}

// Check implements healthcheck.Checker: an error fails the check, except a connection this host
// cannot make for want of a file descriptor or socket memory, which makes it inconclusive
// (healthcheck.Failed). EADDRNOTAVAIL fails it: it also means that this host has no usable
// source address for the broker (see healthcheck.LocalShortage); a resource alarm passes it
// with Result.Alarm set (the backend's on_alarm decides: DEGRADED or DOWN); a probe that could
// not run, and a login or TLS client certificate the broker refused, the check's own credentials
// (see loginRefused and checktls.CertificateRefused), pass it with a warning, which makes the backend
// DEGRADED (still served); such a refusal fails it instead with Config.OnLoginRefused RefusedDown.
// A node at its own connection limit (ServerCloseError.NodeFull) passes it with Result.Full: the
// backend is DEGRADED, keeps its sessions and gets new clients only when no other backend can.
func (c *Check) Check(ctx context.Context) healthcheck.Result {
	rep, err := c.Run(ctx)
	var full, refused string
	if sc, ok := errors.AsType[*ServerCloseError](err); ok && sc.NodeFull() {
		full, err = healthcheck.FullWarning(fmt.Sprintf("%d %s", sc.ReplyCode, sc.ReplyText)), nil
	} else if warning, ok := refusal(err); ok && c.cfg.OnLoginRefused != RefusedDown {
		refused, err = warning, nil
		if kept, ok := c.blocked(); ok {
			// The alarm that the kept connection still reports is in effect.
			rep.Alarm, rep.ProbeError = kept.Alarm, kept.ProbeError
		}
	}
	if err != nil {
		return healthcheck.Failed(err)
	}
	r := healthcheck.Result{Info: rep.Server.String(), Cluster: rep.Server.ClusterName, Certificates: rep.Certificates,
		Refused: refused != "", Full: full != ""}
	switch {
	case rep.Alarm != "":
		r.Alarm = "publishers blocked: " + rep.Alarm
	case rep.ProbeError != "":
		r.Warning = "alarm probe failed: " + rep.ProbeError
	}
	for _, w := range []string{full, refused, rep.TLSWarning} {
		if w != "" {
			r.Warning = strings.TrimPrefix(r.Warning+"; "+w, "; ")
		}
	}
	return r
}

// aLongTimeAgo is a deadline in the past that makes blocked I/O return at once.
var aLongTimeAgo = time.Unix(1, 0)

// Run runs the check once; ctx (its deadline) bounds the whole of it. A connection this host
// cannot make (healthcheck.LocalShortage), to the broker or to its management API, is an error
// that wraps the shortage's errno. A login the broker refused is a *ServerCloseError, returned
// with the Report's Server (and TLSWarning) filled in.
//
// While the Check keeps a connection the broker blocked, Run still connects and logs in, so
// that what the alarm would otherwise hide (a changed password, a revoked permission, a
// broker that froze) is seen; it does not publish the alarm probe, which the broker
// would block, and closes its connection, which the broker reads until a publish. When the
// login passes, it reports the kept connection's alarm while that connection stays blocked.
func (c *Check) Run(ctx context.Context) (Report, error) {
	_, keeping := c.blocked()
	addr := c.cfg.Addr.String()
	t0 := time.Now()
	conn, err := c.Dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		if !healthcheck.LocalShortage(err) { // kept as it is, even when the deadline passed too
			err = classify(ctx, t0, err)
		}
		return Report{}, fmt.Errorf("connecting to %s: %w", addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	raw := conn
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(aLongTimeAgo) })
	proxyHeader := c.cfg.ProxyProtocol
	var tlsWarning string
	var certs []healthcheck.Certificate
	if c.tls != nil {
		conn, certs, tlsWarning, err = c.startTLS(ctx, raw, t0)
		proxyHeader = false // sent before the TLS handshake
		if err != nil {
			stop()
			raw.Close()
			return Report{}, fmt.Errorf("connecting to %s: %w", addr, err)
		}
	}
	s := &session{conn: conn, r: bufio.NewReader(conn), cfg: &c.cfg, ctx: ctx, t0: t0, proxyHeader: proxyHeader, noProbe: keeping}
	rep, err := s.run()
	rep.TLSWarning, rep.Certificates = tlsWarning, certs
	if !stop() {
		// The deadline struck as the session ended: the connection may be unusable.
		conn.Close()
	} else if err == nil && rep.Alarm != "" && c.cfg.AlarmProbe == AlarmProbePublish && !keeping {
		c.keep(s, rep)
	} else {
		conn.Close()
	}
	if kept, ok := c.blocked(); ok && keeping && err == nil {
		// The kept connection is still blocked as the login ends: the alarm is in effect.
		rep.Alarm, rep.ProbeError = kept.Alarm, kept.ProbeError
	}
	if err == nil && c.cfg.AlarmProbe == AlarmProbeManagement {
		rep.Alarm, rep.ProbeError, err = c.managementAlarms(ctx)
	}
	return rep, err
}

// startTLS sends the PROXY header the broker expects (in clear, before TLS) and runs the TLS
// handshake on raw, within the check's deadline. It returns the TLS connection, the
// certificates of the session (checktls.Files.Certificates), and the warning of TLS files that could not
// be read again (see checktls.Config).
func (c *Check) startTLS(ctx context.Context, raw net.Conn, t0 time.Time) (net.Conn, []healthcheck.Certificate, string, error) {
	cfg, warning := c.tls.Get()
	if c.cfg.ProxyProtocol {
		if _, err := raw.Write(proxyproto.AppendV2Local(nil)); err != nil {
			return nil, nil, warning, fmt.Errorf("sending PROXY header: %w", classify(ctx, t0, err))
		}
	}
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		// I/O errors as classify has them; a certificate refused by either side, no common
		// version, as they are; all of them ErrTLS (classify makes an alert one).
		if err = classify(ctx, t0, err); !errors.Is(err, ErrTLS) {
			err = fmt.Errorf("%w: %w", ErrTLS, err)
		}
		return nil, nil, warning, err
	}
	return tc, c.tls.Certificates(tc.ConnectionState(), cfg), warning, nil
}

// classify maps an I/O error onto the package's sentinel errors, keeping the original, as
// checkconn.Classify does (a timeout says how long after t0, the start of the check, it
// struck).
//
// A TLS alert (net.OpError "remote error" or "local error", which only crypto/tls makes) is
// ErrTLS: under TLS 1.3 a broker refuses the client's certificate after the client finished its
// handshake, so the alert comes with the first read.
func classify(ctx context.Context, t0 time.Time, err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && (oe.Op == "remote error" || oe.Op == "local error") {
		return fmt.Errorf("%w: %w", ErrTLS, err)
	}
	return checkconn.Classify(ctx, t0, err)
}

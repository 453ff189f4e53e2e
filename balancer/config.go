package balancer

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"

	rbackend "github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/internal/fielderr"
	"github.com/rmqlb/rmqlb/proxyproto"
)

// Policy names the rule that chooses a backend for a new connection when no
// persistence entry applies.
type Policy string

// Policies. The zero Policy ("") is treated as PolicyRoundRobin.
const (
	// PolicyRoundRobin hands new connections to the usable backends in
	// turn, ignoring their weights (apart from weight 0, which excludes a
	// backend). While a usable backend is in slow start (its share of
	// weight below 100 %), the backends are picked in proportion to their
	// shares instead (smooth weighted round robin over the shares), so
	// that a broker coming back is not given its full turn at once.
	PolicyRoundRobin Policy = "roundrobin"
	// PolicyWRR is smooth weighted round robin as nginx does it: over any
	// window of sum(weights) picks each backend is chosen weight times,
	// and the picks of a heavy backend are spread out (weights 5,1,1 give
	// a a b a c a a). A backend's weight counts scaled by its slow-start
	// share.
	PolicyWRR Policy = "wrr"
	// PolicyLeastConn picks the backend with the fewest active connections
	// relative to its weight (active/weight, lowest wins; the weight
	// scaled by its slow-start share); ties are broken in round robin
	// order.
	PolicyLeastConn Policy = "leastconn"
)

// Valid reports whether p names a known policy (the zero value counts as
// round robin).
func (p Policy) Valid() bool {
	switch p {
	case "", PolicyRoundRobin, PolicyWRR, PolicyLeastConn:
		return true
	}
	return false
}

// ParsePolicy parses "roundrobin", "wrr" or "leastconn".
func ParsePolicy(s string) (Policy, error) {
	if p := Policy(s); s != "" && p.Valid() {
		return p, nil
	}
	return "", errPolicy(s)
}

// errPolicy says that s names no policy.
func errPolicy[S ~string](s S) error {
	return fmt.Errorf("must be roundrobin, wrr or leastconn, not %q", string(s))
}

// Defaults applied by NewListener to zero-valued fields.
const (
	// DefaultConnectTimeout is used when Config.ConnectTimeout is 0.
	DefaultConnectTimeout = 5 * time.Second
	// DefaultKeepAlive is used when Config.KeepAlive is 0.
	DefaultKeepAlive = 30 * time.Second
	// DefaultGracefulTimeout is used when Config.GracefulTimeout is 0.
	DefaultGracefulTimeout = 10 * time.Second
	// DefaultHandshakeTimeout is used when Config.HandshakeTimeout is 0;
	// it equals RabbitMQ's own handshake_timeout.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultFinTimeout is used when Config.FinTimeout is 0.
	DefaultFinTimeout = 30 * time.Second
	// DefaultPersistenceNetmask is used when Config.PersistenceNetmask
	// is 0: each client address sticks on its own.
	DefaultPersistenceNetmask = 32
	// DefaultPersistenceNetmask6 is used when Config.PersistenceNetmask6
	// is 0: each IPv6 client address sticks on its own.
	DefaultPersistenceNetmask6 = 128
	// DefaultPersistenceMaxClients is used when
	// Config.PersistenceMaxClients is 0: about 18 MB of entries.
	DefaultPersistenceMaxClients = 100_000
	// MaxWeight is the largest backend weight accepted (LVS's range;
	// HAProxy's 0..256 fits in it).
	MaxWeight = 65535
	// MaxKeepAlive is the longest TCP keepalive time the kernel takes
	// (TCP_KEEPIDLE and TCP_KEEPINTVL are at most 32767 seconds).
	MaxKeepAlive = 32767 * time.Second
	// MaxTCPUserTimeout is the longest TCP user timeout the kernel takes
	// (TCP_USER_TIMEOUT is a non-negative int of milliseconds).
	MaxTCPUserTimeout = math.MaxInt32 * time.Millisecond
	// MaxRetries is the largest Config.Retries accepted: each retry is
	// one more connect a client waits for.
	MaxRetries = 100
)

// BackendConfig describes one server connections are spread over.
type BackendConfig struct {
	// Name identifies the backend in the API, logs and metrics. Required,
	// unique within a listener, and a valid name (backend.CheckName): the
	// backend's ID is "listener/name".
	Name string
	// Address is the server's IP and TCP port. Required, port not 0.
	Address netip.AddrPort
	// Weight is the backend's share of new connections for wrr and
	// leastconn (0..MaxWeight). 0 means no new connections (drain, LVS
	// inhibit_on_failure); existing sessions are kept. The zero value is
	// therefore "drained": the config layer sets the default of 1.
	Weight int
	// MaxConn caps the backend's concurrent connections; a backend at its
	// cap is skipped, and if every backend is, the client is refused.
	// 0 means unlimited.
	MaxConn int
	// ProxyProtocol is the PROXY protocol header sent to this backend
	// before any client byte. The zero value proxyproto.None sends none.
	ProxyProtocol proxyproto.Version
	// Backup marks a standby server (HAProxy's backup): it takes new
	// connections only while none of the listener's other backends can
	// (each is down, drained, in maintenance, at its maxconn or looping
	// back), and then as Config.AllBackups says. A client pinned to it by
	// persistence picks again once another backend can take it. Its
	// sessions stay where they are when the others come back. The zero
	// value false is an active backend.
	Backup bool
	// Checked marks a backend whose state a health checker sets: it
	// starts Down ("not checked yet") until the checker says otherwise.
	// The zero value false starts it Up: the balancer serves what it is
	// given.
	Checked bool
}

// Config describes one listener (a VIP:port) and its backends. The zero
// value is not usable: Name, Bind and Backends are required.
type Config struct {
	// Name identifies the listener in logs, metrics and Snapshot.
	// Required, and a valid name (backend.CheckName).
	Name string
	// Loops is the number of event loops Run starts. 0 means GOMAXPROCS,
	// one per processor of the Go runtime; the daemon sets one fewer than
	// its processors, so that one is free beside the loops (a busy loop
	// keeps its own while it waits: see wait.go). Read by Run only:
	// Apply does not change it.
	Loops int
	// Holds bounds how many event loops may keep their processor of the Go
	// runtime through a wait at once (see wait.go); the daemon shares one
	// among all its listeners, with one slot fewer than the runtime has
	// processors, so that one stays free for its other goroutines however
	// many listeners and loops there are. nil means a Holds of the
	// listener's own with GOMAXPROCS-1 slots, made by Run. Read by Run only.
	Holds *Holds
	// Bind is the address to listen on. It need not be local yet: the
	// socket is bound with IP_FREEBIND so a VIP can be added later. Port 0
	// lets the kernel choose (tests); see Listener.Addr.
	Bind netip.AddrPort
	// Policy chooses backends; "" means roundrobin.
	Policy Policy
	// ShutdownBackupsOnUp closes the sessions of the Backup backends when
	// an active backend starts to serve again at a weight above 0 (its
	// state set from DOWN, MAINT or DRAIN to UP or DEGRADED: HAProxy's
	// on-marked-up shutdown-backup-sessions), so that their clients
	// reconnect to it; those still connecting to a backup are sent to it.
	// The zero value false leaves them until they end.
	ShutdownBackupsOnUp bool
	// AllBackups spreads new connections over every usable backup server
	// by Policy while no active backend can take one (HAProxy's option
	// allbackups). The zero value false gives them all to the first
	// usable backup in order, as HAProxy does: the clients of an
	// active/standby cluster then meet on one broker.
	AllBackups bool
	// PersistenceTimeout turns on source persistence when > 0 (LVS
	// persistence_timeout): a client address (masked by
	// PersistenceNetmask or PersistenceNetmask6) sticks to its backend while it has connections
	// and for PersistenceTimeout after the last one closes. 0 = off. A
	// reload (Listener.Apply) that lowers it also shortens the wait of the
	// entries already without sessions to at most the new timeout; one
	// that changes either netmask or turns persistence off drops the
	// entries.
	PersistenceTimeout time.Duration
	// PersistenceNetmask is the IPv4 prefix length applied to client
	// addresses for persistence (1..32), IPv4-mapped IPv6 ones included.
	// 0 means DefaultPersistenceNetmask.
	PersistenceNetmask int
	// PersistenceNetmask6 is the prefix length applied to IPv6 client
	// addresses for persistence (1..128): 64 keeps a client whose
	// temporary addresses (RFC 8981) change within its /64 on one
	// backend. 0 means DefaultPersistenceNetmask6, the whole address.
	PersistenceNetmask6 int
	// PersistenceMaxClients bounds the persistence table (HAProxy's
	// stick-table size): at most this many client keys are pinned at
	// once. A new client key beyond it is balanced without being pinned,
	// counted (Snapshot.StickyFull) and logged at most every 10 s; an
	// entry of the table is never evicted for it, it leaves when it
	// expires. A reload that lowers it keeps the entries above it until
	// they expire. 0 means DefaultPersistenceMaxClients; it must not be
	// negative.
	PersistenceMaxClients int
	// MaxConn caps the listener's concurrent client connections; past it
	// new connections are closed at once and counted as refused. 0 means
	// unlimited.
	MaxConn int
	// MaxConnPerClient caps the concurrent connections of one client
	// address (an IPv4-mapped IPv6 address counts as its IPv4 one): past
	// it the address's new connections are closed at once and counted
	// (Snapshot.RefusedPerClient), while other clients are served, so that
	// one application that leaks connections cannot take the listener's
	// MaxConn, the brokers' file descriptors and their memory from the
	// rest. Clients behind one NAT address count as one. A change by
	// Apply applies to new connections: sessions above a lowered limit
	// are kept. 0 means unlimited.
	MaxConnPerClient int
	// AllowedClients, when not empty, are the only client addresses the
	// listener serves (HAProxy's `tcp-request connection reject unless`
	// a src ACL): a client whose address (an IPv4-mapped IPv6 address
	// taken as its IPv4 one) is in none of the prefixes is closed as soon
	// as it is accepted, before it takes a place under MaxConn or a
	// backend connection, and counted (Snapshot.RefusedNotAllowed). A
	// change by Apply applies to new connections: the sessions of clients
	// a narrower list leaves out are kept. Each prefix must be valid,
	// without bits past its length, and not an IPv4-mapped IPv6 one
	// (write the IPv4 prefix); a list must hold a prefix of the family
	// Bind takes clients of (both for ::). The zero value nil (or an empty list)
	// serves every client. The listener keeps its own copy.
	AllowedClients []netip.Prefix
	// DeniedClients are client addresses the listener refuses, the same
	// way and as early as those AllowedClients leaves out (HAProxy's
	// `tcp-request connection reject if` a src ACL), counted apart
	// (Snapshot.RefusedDenied). It wins over AllowedClients: an address
	// in both is refused. A change by Apply applies to new connections:
	// the sessions of clients a longer list holds are kept. Each prefix
	// must be valid as for AllowedClients. The zero value nil (or an
	// empty list) refuses no client. The listener keeps its own copy.
	DeniedClients []netip.Prefix
	// ConnectTimeout bounds each connection attempt to a backend. 0 means
	// DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// Retries is how many further backends are tried after a failed
	// connect (HAProxy retries with redispatch: each retry goes to a
	// backend not tried yet for this client connection). 0 = no retry;
	// at most MaxRetries.
	Retries int
	// ShutdownSessionsOnDown closes a backend's sessions when it is set
	// Down or Maint (HAProxy on-marked-down shutdown-sessions), so clients
	// reconnect at once; a session still connecting to it is redispatched
	// to another backend, without using up a retry. The zero value (false) keeps them; the config
	// layer defaults it to true.
	ShutdownSessionsOnDown bool
	// IdleTimeout closes a session with no traffic in either direction for
	// that long (HAProxy's timeout tunnel). 0 = never: AMQP heartbeats keep
	// a healthy idle connection alive, and a dead peer is found by TCP
	// keepalive.
	IdleTimeout time.Duration
	// HandshakeTimeout closes a session whose client has sent no byte
	// within this time after the backend connection was established. AMQP
	// clients speak first (the protocol header), so such a client is
	// broken or hostile; without this bound it would hold a session, its
	// two file descriptors and a listener maxconn slot for ever, since
	// RabbitMQ's own handshake_timeout closes only the broker side. 0 means
	// DefaultHandshakeTimeout; negative turns it off (for protocols whose
	// server speaks first).
	HandshakeTimeout time.Duration
	// FinTimeout bounds a session that is ending (HAProxy's timeout
	// client-fin and server-fin): once one side has sent its FIN (passed
	// on with shutdown(SHUT_WR) after its bytes) or was reset, the session
	// is closed when no byte has moved for FinTimeout since then (the
	// end starts the timeout afresh, however long the session idled
	// before). It also bounds how long the bytes of a reset or closed
	// side wait for a peer that does not take them.
	// 0 means DefaultFinTimeout; negative turns it off (a half-closed
	// session then lasts until the other direction ends too).
	FinTimeout time.Duration
	// KeepAlive is the TCP keepalive idle time and probe interval set on
	// both sockets of a session, at most MaxKeepAlive (whole seconds,
	// rounded up). 0 means DefaultKeepAlive; negative turns TCP keepalive
	// off.
	KeepAlive time.Duration
	// TCPUserTimeout is the TCP user timeout (TCP_USER_TIMEOUT, RFC 5482)
	// set on both sockets of a session, at most MaxTCPUserTimeout (whole
	// milliseconds, rounded up): a side whose peer leaves bytes sent to it
	// unacknowledged, or keeps a zero window while bytes wait for it, for
	// that long is ended by the kernel (ETIMEDOUT), and so is the session.
	// With keepalive on, it takes the place of keepalive's probe count: a
	// peer whose probes go unanswered is given up on once that long has
	// passed since it was last heard from, and not sooner, so a value
	// above the keepalive time times ten also puts off keepalive's
	// verdict on a dead idle peer. A change applies to the sessions accepted
	// after it. 0 (the default) leaves the kernel's behaviour:
	// retransmissions give up after tcp_retries2 (about 15 minutes), and
	// zero-window probes answered by the peer go on for ever. It must not
	// be negative.
	TCPUserTimeout time.Duration
	// GracefulTimeout is how long Run lets sessions finish after its
	// context is cancelled before closing them. 0 means
	// DefaultGracefulTimeout; negative closes them at once.
	GracefulTimeout time.Duration
	// CloseSpread is the last part of GracefulTimeout over which a stop
	// closes the sessions still open, a few at a time and evenly, rather
	// than all of them when GracefulTimeout ends: their clients (AMQP
	// connections last for days, and seldom end by themselves within a
	// grace period) reconnect in a stream that the brokers and the
	// listener that takes them (the new process after an upgrade in
	// place, another host's after a stop) absorb, rather than in one
	// burst. Each ends in order (EndStop, EndUpgrade after HandOver). A
	// session that ends by itself meanwhile counts towards the pace. 0 (the default) closes them all
	// at once when GracefulTimeout ends; a value above GracefulTimeout
	// spreads them over the whole of it. Nothing is spread while
	// GracefulTimeout is negative (closed at once). It must not be
	// negative. Apply changes it for the next stop.
	CloseSpread time.Duration
	// LogSessions logs one line (Info) at the end of every session, and
	// for every client refused before it had one (HAProxy's tcplog):
	// client, backend, duration, bytes each way and why it ended (an
	// EndReason). The zero value false logs none and costs nothing.
	LogSessions bool
	// Backends lists the servers. At least one is required.
	Backends []BackendConfig
}

// Validate checks every field and returns every problem, each a
// *fielderr.Error naming the field by its configuration-file key
// ("backends[1].weight") and saying what is wrong with its value, wrapped
// with the listener's name, joined with errors.Join. It does not apply
// defaults: a zero field that has one is valid. These are the listener's
// rules; the configuration file's reader relies on them instead of
// restating them.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("listener %q: %w", c.Name, fielderr.New(field, format, args...)))
	}
	if err := rbackend.CheckName(c.Name); err != nil {
		bad("name", "%v", err)
	}
	if !c.Bind.IsValid() {
		bad("bind", "must be an IP:port")
	} else if c.Bind.Addr().Zone() != "" {
		bad("bind", "%s: zoned addresses are not supported", c.Bind)
	}
	if !c.Policy.Valid() {
		errs = append(errs, fmt.Errorf("listener %q: %w", c.Name, &fielderr.Error{Field: "policy", Err: errPolicy(c.Policy)}))
	}
	if c.PersistenceTimeout < 0 {
		bad("persistence_timeout", "must not be negative (0: off), not %v", c.PersistenceTimeout)
	}
	if c.PersistenceNetmask < 0 || c.PersistenceNetmask > 32 {
		bad("persistence_netmask", "must be 1..32, not %d", c.PersistenceNetmask)
	}
	if c.PersistenceNetmask6 < 0 || c.PersistenceNetmask6 > 128 {
		bad("persistence_netmask6", "must be 1..128, not %d", c.PersistenceNetmask6)
	}
	if c.PersistenceMaxClients < 0 {
		bad("persistence_max_clients", "must not be negative (0: %d), not %d", DefaultPersistenceMaxClients, c.PersistenceMaxClients)
	}
	if c.MaxConn < 0 {
		bad("maxconn", "must not be negative (0: no limit), not %d", c.MaxConn)
	}
	if c.MaxConnPerClient < 0 {
		bad("maxconn_per_client", "must not be negative (0: no limit), not %d", c.MaxConnPerClient)
	}
	for i, p := range c.AllowedClients {
		if err := CheckClientPrefix(p); err != nil {
			bad(fmt.Sprintf("allowed_clients[%d]", i), "%v", err)
		}
	}
	for i, p := range c.DeniedClients {
		if err := CheckClientPrefix(p); err != nil {
			bad(fmt.Sprintf("denied_clients[%d]", i), "%v", err)
		}
	}
	if err := CheckAllowedFamily(c.Bind, c.AllowedClients); err != nil {
		bad("allowed_clients", "%v", err)
	}
	if c.Loops < 0 {
		bad("loops", "must not be negative, not %d", c.Loops)
	}
	if c.ConnectTimeout < 0 {
		bad("connect_timeout", "must be positive, not %v", c.ConnectTimeout)
	}
	if c.Retries < 0 || c.Retries > MaxRetries {
		bad("retries", "must be 0..%d, not %d", MaxRetries, c.Retries)
	}
	if c.IdleTimeout < 0 {
		bad("idle_timeout", "must not be negative (0: never), not %v", c.IdleTimeout)
	}
	if c.KeepAlive > MaxKeepAlive {
		bad("keepalive", "must be at most %v (the kernel's limit), not %v", MaxKeepAlive, c.KeepAlive)
	}
	if c.CloseSpread < 0 {
		bad("close_spread", "must not be negative (0: close the sessions left at once when graceful_timeout ends), not %v", c.CloseSpread)
	}
	if c.TCPUserTimeout < 0 {
		bad("tcp_user_timeout", "must not be negative (0: the kernel's default), not %v", c.TCPUserTimeout)
	} else if c.TCPUserTimeout > MaxTCPUserTimeout {
		bad("tcp_user_timeout", "must be at most %v (the kernel's limit), not %v", MaxTCPUserTimeout, c.TCPUserTimeout)
	}
	if len(c.Backends) == 0 {
		bad("backends", "needs at least one backend")
	}
	seen := make(map[string]int, len(c.Backends))
	for i, b := range c.Backends {
		field := fmt.Sprintf("backends[%d]", i)
		if err := rbackend.CheckName(b.Name); err != nil {
			bad(field+".name", "%v", err)
		} else if j, dup := seen[b.Name]; dup {
			bad(field+".name", "%q is also the name of backends[%d]", b.Name, j)
		} else {
			seen[b.Name] = i
		}
		switch a := b.Address; {
		case !a.IsValid():
			bad(field+".address", "must be an IP:port")
		case a.Port() == 0:
			bad(field+".address", "must have a port other than 0, not %s", a)
		case a.Addr().IsUnspecified():
			bad(field+".address", "must not be the unspecified address %s", a.Addr())
		case a.Addr().Zone() != "":
			bad(field+".address", "%s: zoned addresses are not supported", a)
		}
		if b.Weight < 0 || b.Weight > MaxWeight {
			bad(field+".weight", "must be 0..%d, not %d", MaxWeight, b.Weight)
		}
		if b.MaxConn < 0 {
			bad(field+".maxconn", "must not be negative (0: no limit), not %d", b.MaxConn)
		}
		if !b.ProxyProtocol.Valid() {
			bad(field+".proxy_protocol", "must be v1, v2 or none, not %v", b.ProxyProtocol)
		}
	}
	return errors.Join(errs...)
}

// withDefaults returns c with the documented defaults applied.
func (c Config) withDefaults() Config {
	if c.Policy == "" {
		c.Policy = PolicyRoundRobin
	}
	if c.PersistenceNetmask == 0 {
		c.PersistenceNetmask = DefaultPersistenceNetmask
	}
	if c.PersistenceNetmask6 == 0 {
		c.PersistenceNetmask6 = DefaultPersistenceNetmask6
	}
	if c.PersistenceMaxClients == 0 {
		c.PersistenceMaxClients = DefaultPersistenceMaxClients
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	if c.GracefulTimeout == 0 {
		c.GracefulTimeout = DefaultGracefulTimeout
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.FinTimeout == 0 {
		c.FinTimeout = DefaultFinTimeout
	}
	return c
}

package config

import (
	"net/netip"
	"time"
)

// DefaultControlSocket is where the daemon listens for `rmqlb status` when
// the file names no control_socket.
const DefaultControlSocket = "/run/rmqlb/rmqlb.sock"

// Config is the whole file. The zero value is not valid; Load returns a
// Config with defaults applied and validated. A Config is a plain value: it
// is never changed after Load returns and may be shared between goroutines.
type Config struct {
	// ControlSocket is the unix socket of `rmqlb status` (mode 0600).
	// Default: DefaultControlSocket.
	ControlSocket string `yaml:"control_socket" json:"control_socket"`
	// LogLevel is one of debug, info, warn, error. Default: info.
	LogLevel string `yaml:"log_level" json:"log_level"`
	// MetricsListen is host:port of the Prometheus /metrics endpoint.
	// Empty (the default) serves no metrics over HTTP.
	MetricsListen string `yaml:"metrics_listen" json:"metrics_listen"`
	// VRRPInstances are the virtual routers this host takes part in; each
	// owns its VIPs while MASTER. Empty: no VRRP (a proxy-only host).
	VRRPInstances []VRRPInstance `yaml:"vrrp_instances" json:"vrrp_instances"`
	// Listeners are the TCP proxies. Empty: no proxy (a VRRP-only host).
	Listeners []Listener `yaml:"listeners" json:"listeners"`
}

// VRRPInstance is one virtual router, keepalived's vrrp_instance.
type VRRPInstance struct {
	// Name identifies the instance in logs, status and metrics. Required,
	// unique.
	Name string `yaml:"name" json:"name"`
	// Interface is the network interface that sends and receives adverts
	// and carries the VIPs. Required.
	Interface string `yaml:"interface" json:"interface"`
	// VirtualRouterID is the VRID, 1..255, the same on every peer.
	// Required.
	VirtualRouterID int `yaml:"virtual_router_id" json:"virtual_router_id"`
	// Priority is 1..255; 255 means this host owns the addresses (it
	// becomes MASTER at once). Default: 100 (keepalived's default).
	Priority int `yaml:"priority" json:"priority"`
	// Version is the VRRP version, 2 (RFC 3768) or 3 (RFC 5798). Default:
	// 2, as keepalived, so that a mixed cluster works out of the box;
	// version 3 allows sub-second advert intervals.
	Version int `yaml:"version" json:"version"`
	// AdvertInterval is the interval between adverts. Version 2 takes
	// whole seconds (1s..255s); version 3 takes centiseconds (10ms..40.95s).
	// Default: 1s.
	AdvertInterval time.Duration `yaml:"advert_interval" json:"advert_interval"`
	// Preempt lets a higher priority backup take over from a lower
	// priority master. Default: true. false is keepalived's nopreempt.
	Preempt *bool `yaml:"preempt" json:"preempt"`
	// PreemptDelay delays preemption after start-up, keepalived's
	// preempt_delay. Default: 0.
	PreemptDelay time.Duration `yaml:"preempt_delay" json:"preempt_delay"`
	// AuthPass is the version 2 simple password (auth type 1), at most 8
	// bytes, keepalived's `authentication { auth_type PASS }`. Empty: no
	// authentication (type 0). Not allowed with version 3 (RFC 5798 has
	// no authentication).
	AuthPass string `yaml:"auth_pass" json:"-"`
	// V3Checksum selects the checksum that version 3 adverts over IPv4 are
	// sent with: "pseudo-header" (keepalived's default, RFC 5798) or
	// "rfc9568" (no pseudo-header). Both are accepted on receive. Default:
	// pseudo-header.
	V3Checksum string `yaml:"v3_checksum" json:"v3_checksum"`
	// UnicastSrc is the source address of adverts. Default: the primary
	// IPv4 address of Interface.
	UnicastSrc string `yaml:"unicast_src" json:"unicast_src"`
	// UnicastPeers, when set, sends adverts to each peer instead of the
	// multicast group 224.0.0.18 and accepts adverts only from them.
	UnicastPeers []string `yaml:"unicast_peers" json:"unicast_peers"`
	// VirtualIPAddress lists the VIPs, as "10.0.0.100" (meaning /32) or
	// with a prefix length "10.0.0.100/24". At least one.
	VirtualIPAddress []string `yaml:"virtual_ipaddress" json:"virtual_ipaddress"`
	// GARP tunes the gratuitous ARP announcements of a new master.
	GARP GARP `yaml:"garp" json:"garp"`
	// Track lowers (or raises) the priority while a check fails (or
	// passes), keepalived's track_script with weight, without forking.
	Track []Track `yaml:"track" json:"track"`

	// Parsed values, filled by validation.
	VIPs     []netip.Prefix `yaml:"-" json:"-"`
	Src      netip.Addr     `yaml:"-" json:"-"`
	Peers    []netip.Addr   `yaml:"-" json:"-"`
	PreemptV bool           `yaml:"-" json:"-"`
}

// GARP configures gratuitous ARP announcements.
type GARP struct {
	// Count is the number of announcements sent on becoming MASTER.
	// Default: 5.
	Count int `yaml:"count" json:"count"`
	// Interval is the spacing of those announcements. Default: 1.1s
	// (MetalLB's lesson: some switches drop announcements sent too close).
	Interval time.Duration `yaml:"interval" json:"interval"`
	// Refresh re-announces the VIPs this often while MASTER, so that
	// switches with long ARP caches and the loser of a healed split brain
	// re-learn them. Default: 60s; a negative value turns it off.
	Refresh time.Duration `yaml:"refresh" json:"refresh"`
}

// Track is one tracked condition of a VRRP instance. Exactly one of Check
// and Listener is set.
type Track struct {
	// Check names a backend whose health check is tracked: "backend" when
	// the name is unique across listeners, else "listener/backend".
	Check string `yaml:"check" json:"check,omitempty"`
	// Listener names a listener; the condition fails while none of its
	// backends is up.
	Listener string `yaml:"listener" json:"listener,omitempty"`
	// Weight is added to the priority: a negative weight while the
	// condition fails, a positive one while it holds (keepalived's rule).
	// Must not be 0; |Weight| <= 254.
	Weight int `yaml:"weight" json:"weight"`
}

// Listener is one TCP proxy: HAProxy's listen section, LVS's
// virtual_server.
type Listener struct {
	// Name identifies the listener. Required, unique.
	Name string `yaml:"name" json:"name"`
	// Bind is VIP:port. It is bound before the VIP is local (IP_FREEBIND).
	// Required.
	Bind string `yaml:"bind" json:"bind"`
	// Policy is roundrobin, wrr (smooth weighted round-robin) or
	// leastconn. Default: roundrobin.
	Policy string `yaml:"policy" json:"policy"`
	// PersistenceTimeout turns on source-IP persistence (LVS
	// persistence_timeout): a client stays on its backend while it has
	// connections and for this long after its last one. Default: 0 (off).
	PersistenceTimeout time.Duration `yaml:"persistence_timeout" json:"persistence_timeout"`
	// PersistenceNetmask groups client addresses by this many leading
	// bits (IPv4, 1..32) for persistence. Default: 32.
	PersistenceNetmask int `yaml:"persistence_netmask" json:"persistence_netmask"`
	// MaxConn caps concurrent client connections; past it new ones are
	// refused at once. Default: 0 (no cap but the open-files limit).
	MaxConn int `yaml:"maxconn" json:"maxconn"`
	// ConnectTimeout bounds a connect to a backend. Default: 5s.
	ConnectTimeout time.Duration `yaml:"connect_timeout" json:"connect_timeout"`
	// Retries is how many other backends are tried after a failed connect
	// (HAProxy retries + redispatch). Default: 3.
	Retries *int `yaml:"retries" json:"retries"`
	// OnMarkedDown is shutdown-sessions (default: a backend marked down
	// has its sessions closed so clients reconnect at once) or
	// keep-sessions.
	OnMarkedDown string `yaml:"on_marked_down" json:"on_marked_down"`
	// ProxyProtocol sends a PROXY protocol header ("v1" or "v2") to every
	// backend before the client's bytes. Default: "" (none).
	ProxyProtocol string `yaml:"proxy_protocol" json:"proxy_protocol"`
	// IdleTimeout closes a session idle this long. Default: 0 (never:
	// AMQP heartbeats keep idle connections honest).
	IdleTimeout time.Duration `yaml:"idle_timeout" json:"idle_timeout"`
	// KeepAlive is the TCP keepalive idle time on both sides. Default: 30s;
	// negative turns keepalive off.
	KeepAlive time.Duration `yaml:"keepalive" json:"keepalive"`
	// GracefulTimeout is how long a stopping daemon lets sessions finish.
	// Default: 10s.
	GracefulTimeout time.Duration `yaml:"graceful_timeout" json:"graceful_timeout"`
	// Check is the default health check of every backend of this
	// listener; a backend's own check replaces it. Default: an AMQP
	// handshake check every 2s, rise 2, fall 3.
	Check *Check `yaml:"check" json:"check"`
	// Backends are the brokers. At least one.
	Backends []Backend `yaml:"backends" json:"backends"`

	// BindAddr is Bind parsed, filled by validation.
	BindAddr netip.AddrPort `yaml:"-" json:"-"`
	// RetriesV is Retries with its default, filled by validation.
	RetriesV int `yaml:"-" json:"-"`
}

// Backend is one broker behind a listener.
type Backend struct {
	// Name identifies the backend. Required, unique within the listener.
	Name string `yaml:"name" json:"name"`
	// Address is host:port of the broker. Required.
	Address string `yaml:"address" json:"address"`
	// Weight is the share of new connections under wrr; 0 takes no new
	// connections (drain, LVS inhibit_on_failure). Default: 1. Max 256.
	Weight *int `yaml:"weight" json:"weight"`
	// MaxConn caps this backend's concurrent sessions. Default: 0 (none).
	MaxConn int `yaml:"maxconn" json:"maxconn"`
	// ProxyProtocol overrides the listener's proxy_protocol for this
	// backend ("v1", "v2", "none"). Default: the listener's.
	ProxyProtocol string `yaml:"proxy_protocol" json:"proxy_protocol"`
	// Check replaces the listener's check for this backend.
	Check *Check `yaml:"check" json:"check"`

	// Parsed values, filled by validation.
	Addr    netip.AddrPort `yaml:"-" json:"-"`
	WeightV int            `yaml:"-" json:"-"`
	CheckV  Check          `yaml:"-" json:"-"`
}

// Check is a backend health check.
type Check struct {
	// Type is amqp (default), tcp, or none (the backend is always up).
	Type string `yaml:"type" json:"type"`
	// Mode of an amqp check: handshake (default: protocol header and
	// Connection.Start, no login) or login (full handshake to
	// Connection.Open-Ok with User/Password on VHost).
	Mode string `yaml:"mode" json:"mode"`
	// Address overrides where the check connects. Default: the
	// backend's address.
	Address string `yaml:"address" json:"address"`
	// Interval between checks while the state is steady. Default: 2s.
	Interval time.Duration `yaml:"interval" json:"interval"`
	// FastInterval between checks while the state is changing (between
	// the first result against the state and rise/fall). Default: Interval.
	FastInterval time.Duration `yaml:"fastinterval" json:"fastinterval"`
	// DownInterval between checks while DOWN. Default: Interval.
	DownInterval time.Duration `yaml:"downinterval" json:"downinterval"`
	// Timeout of one check. Default: 1s; at most the interval.
	Timeout time.Duration `yaml:"timeout" json:"timeout"`
	// Rise is the number of consecutive passes that make a DOWN backend
	// UP. Default: 2.
	Rise int `yaml:"rise" json:"rise"`
	// Fall is the number of consecutive failures that make an UP backend
	// DOWN. Default: 3.
	Fall int `yaml:"fall" json:"fall"`
	// SlowStart ramps a recovered backend's weight from 0 to full over
	// this time. Default: 0 (full weight at once).
	SlowStart time.Duration `yaml:"slowstart" json:"slowstart"`
	// User, Password and VHost are the login mode's credentials.
	// VHost defaults to "/".
	User     string `yaml:"user" json:"user"`
	Password string `yaml:"password" json:"-"`
	VHost    string `yaml:"vhost" json:"vhost"`
	// OnAlarm is what a memory or disk alarm seen by a login check does:
	// degraded (default: reported, the backend keeps serving, since
	// taking it out only causes a reconnect storm) or down.
	OnAlarm string `yaml:"on_alarm" json:"on_alarm"`

	// AddrV is the address checked, filled by validation.
	AddrV netip.AddrPort `yaml:"-" json:"-"`
}

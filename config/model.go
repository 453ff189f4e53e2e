package config

import (
	"crypto/sha256"
	"net/netip"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/rmqlb/rmqlb/amqpcheck"
	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/checktls"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/httpcheck"
	"github.com/rmqlb/rmqlb/netsetup"
	"github.com/rmqlb/rmqlb/notify"
	"github.com/rmqlb/rmqlb/proxyproto"
	"github.com/rmqlb/rmqlb/vrrp"
)

// DefaultControlSocket is where the daemon listens for `rmqlb status` when
// the file names no control_socket.
const DefaultControlSocket = "/run/rmqlb/rmqlb.sock"

// Config is a configuration file resolved into typed values: every default
// applied, every address parsed, every rule checked, every reference
// between its parts (tracks to backends and listeners) resolved. Load and
// Parse return one; the zero value is not valid.
//
// A Config is a plain value: nothing changes it after Parse returns, and it
// may be shared between goroutines. Its parts carry the path of their
// section in the file (Field), and Line maps a path to its line, so that a
// reload can say which line of the file needs a restart.
type Config struct {
	// ControlSocket is the unix socket of `rmqlb status` and the other
	// commands. File key control_socket; default DefaultControlSocket.
	ControlSocket string
	// ControlGroup names a group whose members may use the control
	// socket besides root and the daemon's user. File key control_group;
	// empty (the default): none.
	ControlGroup string
	// StateFile is where the daemon keeps the operator's changes to the
	// backends (drain, maint, an operator's weight) and its releases of
	// VRRP instances (rmqlb vrrp release) across a restart:
	// written after each change, read at start. File key state_file, an
	// absolute path; empty (the default): they last until the daemon
	// stops. A reload applies a change at once: the states are written to
	// the new file.
	StateFile string
	// LogLevel is the least level logged. File key log_level (debug,
	// info, warn, error); default info.
	LogLevel zapcore.Level
	// MetricsListen is the address of the Prometheus /metrics endpoint.
	// File key metrics_listen; the zero AddrPort (the default) serves no
	// metrics.
	MetricsListen netip.AddrPort
	// VRRP are the virtual routers this host takes part in, in file order.
	// Empty: a proxy-only host.
	VRRP []VRRPInstance
	// Listeners are the TCP proxies, in file order. Empty: a VRRP-only
	// host.
	Listeners []Listener
	// Inert is true when the file says, with inert: true, that it holds
	// no VRRP instance and no listener on purpose: the daemon then runs
	// its control socket (and metrics) only, holds no address, sends no
	// VRRP or ARP and proxies nothing (the configuration file a package
	// installs). File key inert; false (the default): a file needs at
	// least one VRRP instance or listener, and inert: true with either is
	// refused.
	Inert bool
	// VRRPRealTimePriority, when 1..99, runs the event loop of every VRRP
	// instance on a thread of its own in the SCHED_FIFO scheduling class
	// at that priority (vrrp.Options.RealTimePriority), so that adverts
	// go out and are heard on time however busy the host is; it needs
	// CAP_SYS_NICE or an RLIMIT_RTPRIO that allows the priority (the
	// systemd unit sets LimitRTPRIO=99 and grants no CAP_SYS_NICE). File key
	// vrrp_rt_priority, as keepalived's; 0 (the default): off, the
	// loops run at normal priority. A reload applies a change by
	// restarting the VRRP instances in place, their states carried on.
	VRRPRealTimePriority int
	// VRRPSender says who sends the periodic adverts of a VRRP master:
	// SenderProcess, a small process of the daemon's own (package
	// vrrp/sendproc, at vrrp_rt_priority too), which the daemon's stalls
	// (a busy proxy, garbage collection) do not delay; or SenderInline,
	// the instance's event loop in the daemon. File key vrrp_sender,
	// "process" or "inline"; absent: DefaultVRRPSender. The zero value is
	// SenderInline. A reload applies a change by restarting the VRRP
	// instances and the sender process in place, their states carried on.
	VRRPSender VRRPSender
	// Source is the bytes the configuration was parsed from, as a
	// FileRead: their digest and number, and the path and no Field when
	// Load read them from a file (Parse knows no path). The daemon
	// compares it with its file on disk to tell an edit that was not
	// reloaded.
	Source FileRead
	// Files are the other files the configuration names that Load read
	// (the listeners' files of client addresses), each with the digest
	// of the bytes read, so that an edit of one not yet reloaded can be
	// told too. Empty without such files, and from Parse.
	Files []FileRead
	// Warnings are problems that do not stop the daemon but that its
	// operator should hear of (a file holding passwords that others may
	// read); check-config prints them and run logs them.
	Warnings []string
	// Lacks is what this host lacked when Load read the file (the
	// interfaces of VRRP instances, the addresses listeners bind), of
	// which Warnings warn: a daemon tells by it when the host has them
	// since. Zero from Parse.
	Lacks HostLacks

	lines lineIndex
}

// VRRPInstance is one virtual router, keepalived's vrrp_instance.
type VRRPInstance struct {
	// Field is the instance's path in the file, "vrrp_instances[N]".
	Field string
	// Name identifies the instance in logs, status and metrics; unique.
	Name string
	// Interface carries the adverts and the VIPs.
	Interface string
	// VRID is the virtual router id, the same on every peer.
	VRID uint8
	// Priority is 1..255 (255: the address owner); default 100.
	Priority uint8
	// Version is 2 (RFC 3768, the default) or 3 (RFC 5798).
	Version int
	// AdvertInterval passes vrrp.CheckAdvertInterval; default 1s.
	AdvertInterval time.Duration
	// Preempt lets a higher priority backup take over; default true.
	Preempt bool
	// PreemptDelay delays a preemption; default 0.
	PreemptDelay time.Duration
	// AuthPass is the version 2 simple password; empty: none.
	AuthPass string
	// Checksum is the version 3 checksum sent over IPv4; default
	// vrrp.ChecksumPseudoHeader.
	Checksum vrrp.ChecksumMode
	// UnicastSrc is the source of adverts; invalid (the default): the
	// interface's primary IPv4 address.
	UnicastSrc netip.Addr
	// UnicastPeers, when set, replace multicast; empty by default.
	UnicastPeers []netip.Addr
	// AllowedPeers are the only sources whose adverts are heard, also in
	// multicast mode; empty (the default): the unicast peers, or anyone
	// in multicast mode. In unicast mode it holds every unicast peer.
	AllowedPeers []netip.Addr
	// MaxAdoptedInterval bounds the advert interval a version 3 backup
	// adopts from its master; 0 (the default) is
	// vrrp.DefaultMaxAdoptedFactor times AdvertInterval.
	MaxAdoptedInterval time.Duration
	// LateAdvertsTolerated makes a backup wait that many advert
	// intervals longer than the RFC's three before it takes over from a
	// silent master (vrrp.Config.LateAdvertsTolerated): a deviation from
	// the RFC, for very short intervals on busy hosts. File key
	// late_adverts_tolerated; 0 (the default): the RFC's three intervals.
	// A reload applies it.
	LateAdvertsTolerated int
	// VIPs are the virtual addresses, at least one.
	VIPs []netip.Prefix
	// GARP tunes the gratuitous ARPs of a new master, defaults applied.
	GARP netsetup.GARPConfig
	// Track adjusts the priority by the state of backends and listeners.
	Track []Track
	// Notify are the programs run on the instance's state changes (file
	// key notify: master, backup, fault and stop, each an argument
	// vector, and timeout); the zero value (the default) runs none. Its
	// Timeout is resolved: notify.DefaultTimeout unless the file sets
	// one.
	Notify notify.Config
}

// Track is one tracked condition of a VRRP instance: exactly one of
// Backend and Listener is set.
type Track struct {
	// Backend is the tracked backend (file key check, "BACKEND" or
	// "LISTENER/BACKEND"); the rule fails while its health is DOWN. The
	// zero ID for a listener rule.
	Backend backend.ID
	// Listener is the tracked listener; the rule fails while none of its
	// checked backends serves. Empty for a backend rule.
	Listener string
	// Weight passes healthcheck.CheckTrackWeight: added to the priority
	// while the rule fails (negative) or holds (positive).
	Weight int
}

// FileRead is a file a configuration names, or the configuration's own
// (Config.Source), as Load read it.
type FileRead struct {
	// Path is the file's path; Field the key that names it
	// ("listeners[0].allowed_clients_file"), empty for the configuration's
	// own.
	Path, Field string
	// Digest is the SHA-256 of the bytes read; Size their number.
	Digest [sha256.Size]byte
	Size   int64
}

// Listener is one TCP proxy: HAProxy's listen section, LVS's
// virtual_server.
type Listener struct {
	// Field is the listener's path in the file, "listeners[N]".
	Field string
	// Name identifies the listener; unique, backend.CheckName rules.
	Name string
	// Bind is VIP:port.
	Bind netip.AddrPort
	// Policy chooses backends; default balancer.PolicyRoundRobin.
	Policy balancer.Policy
	// AllBackups spreads the clients over every usable backup server
	// while no active backend can take them (balancer.Config.AllBackups);
	// default false: the first usable backup takes them all.
	AllBackups bool
	// PersistenceTimeout turns on source persistence; 0 (default): off.
	PersistenceTimeout time.Duration
	// PersistenceNetmask groups client addresses (an IPv4 prefix length,
	// 1..32); default balancer.DefaultPersistenceNetmask.
	PersistenceNetmask int
	// PersistenceNetmask6 groups IPv6 client addresses (a prefix length,
	// 1..128); default balancer.DefaultPersistenceNetmask6.
	PersistenceNetmask6 int
	// PersistenceMaxClients bounds the persistence table: a new client
	// beyond it is balanced without being pinned; default
	// balancer.DefaultPersistenceMaxClients.
	PersistenceMaxClients int
	// MaxConn caps concurrent clients; 0 (default): no cap.
	MaxConn int
	// MaxConnPerClient caps the concurrent connections of one client
	// address; 0 (default): no cap.
	MaxConnPerClient int
	// AllowedClients are the only client addresses the listener serves
	// (balancer.Config.AllowedClients), each written as a prefix or an
	// address (a prefix of its full length): those of allowed_clients,
	// then those of AllowedClientsFile; nil (default): every client.
	AllowedClients []netip.Prefix
	// DeniedClients are client addresses the listener refuses
	// (balancer.Config.DeniedClients), written as AllowedClients: those of
	// denied_clients, then those of DeniedClientsFile; they win over
	// AllowedClients. nil (default, or an empty list): none.
	DeniedClients []netip.Prefix
	// AllowedClientsFile and DeniedClientsFile are the absolute paths of
	// files of client addresses (an address or a prefix a line, # starts
	// a comment), read by Load, so again at each reload; "" (default):
	// none.
	AllowedClientsFile, DeniedClientsFile string
	// AllowedFromFile and DeniedFromFile are how many of AllowedClients
	// and DeniedClients, the last ones, AllowedClientsFile and
	// DeniedClientsFile gave; 0 without a file.
	AllowedFromFile, DeniedFromFile int
	// ConnectTimeout bounds a connect; default balancer.DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// Retries is how many further backends are tried; default 3.
	Retries int
	// OnMarkedDown is what happens to the sessions of a backend that goes
	// DOWN, MAINT or is removed; default ShutdownSessions.
	OnMarkedDown OnMarkedDown
	// OnMarkedUp is what happens to the sessions of the backup backends
	// when an active backend starts to serve again; default
	// KeepBackupSessions.
	OnMarkedUp OnMarkedUp
	// IdleTimeout closes idle sessions; 0 (default): never.
	IdleTimeout time.Duration
	// HandshakeTimeout closes a session whose client sent nothing this
	// long after its backend connection was made; default
	// balancer.DefaultHandshakeTimeout, negative: off.
	HandshakeTimeout time.Duration
	// FinTimeout closes a half-closed (or reset) session after this long
	// without traffic since it began to end; default
	// balancer.DefaultFinTimeout, negative: off.
	FinTimeout time.Duration
	// KeepAlive is the TCP keepalive time; default
	// balancer.DefaultKeepAlive, negative: off.
	KeepAlive time.Duration
	// TCPUserTimeout is the TCP user timeout (TCP_USER_TIMEOUT) of both
	// sides of a session; 0 (default): the kernel's.
	TCPUserTimeout time.Duration
	// GracefulTimeout bounds a stop's wait for sessions; default
	// balancer.DefaultGracefulTimeout.
	GracefulTimeout time.Duration
	// CloseSpread is the last part of GracefulTimeout over which a stop
	// or an upgrade closes the sessions left evenly
	// (balancer.Config.CloseSpread); default four fifths of
	// GracefulTimeout (DefaultCloseSpread), 0: all at once when
	// GracefulTimeout ends. At most GracefulTimeout.
	CloseSpread time.Duration
	// LogSessions logs a line per session when it ends (client, backend,
	// duration, bytes, why); default false: none.
	LogSessions bool
	// Backends are the brokers, at least one, in file order.
	Backends []Backend
}

// Backend is one broker behind a listener.
type Backend struct {
	// Field is the backend's path in the file,
	// "listeners[N].backends[M]".
	Field string
	// ID is the listener's and the backend's names.
	ID backend.ID
	// Address is the broker's ip:port.
	Address netip.AddrPort
	// Weight is 0..balancer.MaxWeight; default 1; 0 drains.
	Weight int
	// MaxConn caps the backend's sessions; 0 (default): no cap.
	MaxConn int
	// Backup makes it a standby server (balancer.BackendConfig.Backup);
	// default false: an active backend.
	Backup bool
	// ProxyProtocol is the header sent to this backend: its own setting,
	// else the listener's; default proxyproto.None.
	ProxyProtocol proxyproto.Version
	// Check is the backend's health check (its own, else the
	// listener's).
	Check Check
}

// Check is a backend's health check, resolved.
type Check struct {
	// Field is the path of the check section this check comes from: the
	// backend's own or the listener's ("" when neither has one).
	Field string
	// Type is CheckAMQP (the default), CheckHTTP, CheckMQTT, CheckSTOMP,
	// CheckStream, CheckTCP or CheckNone.
	Type CheckType
	// Mode of an AMQP check; default amqpcheck.ModeHandshake.
	Mode amqpcheck.Mode
	// Address is where the check connects; default the backend's.
	Address netip.AddrPort
	// Schedule holds the intervals, timeout, rise, fall, slow start and
	// on_alarm, defaults applied (healthcheck.CheckConfig.WithDefaults).
	Schedule healthcheck.CheckConfig
	// User, Password and VHost are a login check's credentials; VHost
	// defaults to amqpcheck.DefaultVHost.
	User, Password, VHost string
	// Cluster is the RabbitMQ cluster an AMQP check wants the broker to
	// be in (its cluster_name); a broker that names another fails the
	// check. Default "": any.
	Cluster string
	// Mechanism is a login check's SASL mechanism; default
	// amqpcheck.MechanismPlain.
	Mechanism amqpcheck.Mechanism
	// ProxyProtocol makes the check send a PROXY protocol v2 LOCAL
	// header first: set when the backend is sent PROXY headers, so that
	// the check and the data path agree.
	ProxyProtocol bool
	// TLS makes an AMQP, MQTT, STOMP or stream check speak TLS, and an HTTP check HTTPS
	// (the check section's tls); nil: plain TCP. Its files are read by Load, not by Parse.
	TLS *checktls.Config
	// OnLoginRefused is what an AMQP check does when the broker refuses
	// its own login or client certificate, an HTTP check when the server
	// answers its user 401 or 403, an MQTT check when the server
	// refuses its user (CONNACK 4 or 5), a STOMP check when the server
	// answers its user with an ERROR frame, and a stream check when the
	// broker refuses its login or vhost; default
	// amqpcheck.RefusedDegraded (a pass with a warning). With
	// amqpcheck.RefusedDownIfAlone, Schedule.RefusedAloneFails is set, and
	// Schedule.Login is Login whatever the setting.
	OnLoginRefused amqpcheck.OnRefused
	// Method is an HTTP check's request method; default GET.
	Method string
	// Path is an HTTP check's request path; default "/".
	Path string
	// Expect is the set of status codes that pass an HTTP check; default
	// httpcheck.DefaultStatuses (200-399).
	Expect httpcheck.Statuses
}

// Listener returns the listener named name.
func (c *Config) Listener(name string) (*Listener, bool) {
	for i := range c.Listeners {
		if c.Listeners[i].Name == name {
			return &c.Listeners[i], true
		}
	}
	return nil, false
}

// Backend returns the backend id.
func (c *Config) Backend(id backend.ID) (*Backend, bool) {
	l, ok := c.Listener(id.Listener)
	if !ok {
		return nil, false
	}
	for i := range l.Backends {
		if l.Backends[i].ID == id {
			return &l.Backends[i], true
		}
	}
	return nil, false
}

// VRRPInstance returns the instance named name.
func (c *Config) VRRPInstance(name string) (*VRRPInstance, bool) {
	for i := range c.VRRP {
		if c.VRRP[i].Name == name {
			return &c.VRRP[i], true
		}
	}
	return nil, false
}

// Line returns the line of field (a path such as
// "listeners[0].backends[1].weight") in the file the Config was parsed
// from: the line of the deepest part of the path present in the file, 0
// when unknown.
func (c *Config) Line(field string) int { return c.lines.line(parsePath(field)) }

// VIPOwned reports whether a is a VIP of one of the VRRP instances.
func (c *Config) VIPOwned(a netip.Addr) bool {
	for _, in := range c.VRRP {
		for _, p := range in.VIPs {
			if p.Addr() == a {
				return true
			}
		}
	}
	return false
}

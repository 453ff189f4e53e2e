package migrate

import (
	"net/netip"
	"time"

	rbackend "github.com/rmqlb/rmqlb/backend"
)

// The draft is the rmqlb file being written, in typed values, with where
// each part came from. The translators fill it, merge.go reconciles what
// the inputs say about the same service, and emit.go writes it as YAML.
// A zero field is not written: the file then takes rmqlb's default (the
// README's configuration tables), which is the rule for every directive
// the source does not write.

// source is the input format a part came from.
type source uint8

const (
	fromKeepalived source = iota
	fromHAProxy
	fromIPVSAdm
)

// instance is one vrrp_instances entry.
type instance struct {
	pos  Pos
	what string // "vrrp_instance NAME", for comments and notes

	name string
	// kaName is the vrrp_instance's name in keepalived.conf, which name
	// may differ from (instanceName).
	kaName       string
	iface        string
	vrid         int
	priority     int           // 0: not written
	version      int           // 0: not written
	advert       time.Duration // 0: not written
	preempt      *bool
	preemptDelay time.Duration
	// lateAdverts is late_adverts_tolerated, from keepalived's
	// down_timer_adverts (0: not written).
	lateAdverts int
	authPass    string
	unicastSrc  netip.Addr
	peers       []netip.Addr
	vips        []netip.Prefix
	garp        garp
	track       []track
	// notify are the hooks by state (master, backup, fault, stop): the
	// program and its arguments.
	notify map[string][]string

	// scripts are the vrrp_scripts and vrrp_track_processes it tracks,
	// resolved into track rules once the listeners are known.
	scripts []scriptRef
	// advertPos is the line of advert_int, for a note when it cannot be
	// kept.
	advertPos Pos
}

// garp is an instance's garp section; zero fields are not written.
type garp struct {
	count    int
	interval time.Duration
	refresh  time.Duration
}

// track is one track rule: exactly one of backend (written
// "LISTENER/BACKEND") and listener is set.
type track struct {
	backend  rbackend.ID
	listener string
	weight   int
}

// scriptRef is a track_script entry: a vrrp_script by name, with the
// weight the entry gives it (nil: the script's own).
type scriptRef struct {
	pos       Pos
	name      string
	process   bool // a track_process entry: name is a vrrp_track_process
	weight    *int
	reverse   bool // "reverse": the weight applies the other way round
	noreverse bool // "noreverse": not, whatever the vrrp_script says
}

// listener is one listeners entry.
type listener struct {
	pos  Pos
	src  source
	what string // "listen NAME", "virtual_server 10.0.0.1 5672", ...
	name string
	bind netip.AddrPort
	// origBind is the address HAProxy bound (bind may become a VIP),
	// to tell what a check script that connects to it checks.
	origBind netip.AddrPort
	fwmark   int // an LVS fwmark service: bind unknown until merge
	// http says that HAProxy proxied HTTP here (mode http): the servers
	// speak HTTP, where an AMQP handshake fails (httpServerCheck).
	http bool
	// later are notes that hold only if the listener is kept.
	later []Note

	policy       string
	allBackups   bool // HAProxy's option allbackups
	persistence  time.Duration
	netmask      int
	netmask6     int // persistence_netmask6, of an IPv6 service
	maxClients   int // persistence_max_clients; 0: rmqlb's default
	maxconn      int
	maxPerClient int            // maxconn_per_client
	allowed      []netip.Prefix // allowed_clients; nil: every client
	denied       []netip.Prefix // denied_clients; nil: none
	// allowedFile and deniedFile, when set, name the list file rmqlb
	// reads for allowed and denied (allowed_clients_file,
	// denied_clients_file), which then hold all the addresses.
	allowedFile, deniedFile clientFile
	logSessions             bool // log_sessions, from HAProxy's option tcplog
	connectTimeout          time.Duration
	retries                 *int
	onMarkedDown            string
	onMarkedUp              string // on_marked_up, from HAProxy's on-marked-up
	idleTimeout             time.Duration
	finTimeout              time.Duration
	// graceful is graceful_timeout, from HAProxy's hard-stop-after.
	graceful time.Duration
	// userTimeout is tcp_user_timeout, from HAProxy's tcp-ut.
	userTimeout time.Duration
	// serverUTs are the tcp-ut of each server (0: none), read with the
	// servers, for userTimeout.
	serverUTs []utSource
	backends  []*backend
}

// skipLater records a note that a directive of l is not translated, to be
// made if l is kept.
func (l *listener) skipLater(p Pos, dir, why string) {
	l.later = append(l.later, Note{Pos: p, Directive: dir, Kind: NotTranslated, Why: why})
}

// backend is one backends entry of a listener.
type backend struct {
	pos     Pos
	name    string // "" until named (merge.go names LVS real servers)
	addr    netip.AddrPort
	weight  *int
	maxconn int
	proxy   string // proxy_protocol: "", "v1", "v2"
	check   check
	// inhibit is LVS's inhibit_on_failure: the listener keeps the
	// sessions of a backend that goes down (merge.go).
	inhibit bool
	// backup is HAProxy's backup: a standby server.
	backup bool
	// track is HAProxy's track of another server's check, resolved once
	// every proxy is translated (haT.resolveTracks); nil when none.
	track *haTrack
}

// check is a backend's check section.
type check struct {
	typ       string         // "": rmqlb's default, an AMQP handshake
	address   netip.AddrPort // zero: the backend's
	interval  time.Duration
	fast      time.Duration
	down      time.Duration
	timeout   time.Duration
	slowstart time.Duration
	rise      int
	fall      int
	// tls, unless zero, makes the AMQP check speak TLS (the http check
	// HTTPS).
	tls checkTLS
	// method, path and expect are an http check's ("": rmqlb's
	// defaults, GET, / and 200-399); user and password its basic
	// authentication (and an AMQP login check's credentials).
	method, path, expect string
	user, password       string
}

// checkTLS is a check section's tls. Its verify is set whenever the check
// speaks TLS: the zero value is no TLS.
type checkTLS struct {
	verify     string // "full", "chain" or "none"
	serverName string
	caFile     string
	certFile   string
	keyFile    string
}

// isZero reports whether c writes nothing.
func (c check) isZero() bool { return c == check{} }

// draft is the whole file.
type draft struct {
	instances []*instance
	listeners []*listener
	// rtPriority is the daemon's vrrp_rt_priority (0: not written).
	rtPriority int
	// stateFile is the daemon's state_file ("": not written).
	stateFile string
}

// intp returns a pointer to v.
func intp(v int) *int { return &v }

// boolp returns a pointer to v.
func boolp(v bool) *bool { return &v }

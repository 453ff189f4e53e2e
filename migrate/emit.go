package migrate

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"

	rbackend "github.com/rmqlb/rmqlb/backend"
)

// The types of this file are the part of rmqlb's configuration schema
// (config/file.go) that import writes, field for field; the YAML keys are
// the schema's. Empty fields are left out, so that the file takes
// rmqlb's defaults there. Import's tests parse every file it writes with
// config.Parse, which refuses unknown keys.

type yFile struct {
	StateFile      string       `yaml:"state_file,omitempty"`
	VRRPRTPriority int          `yaml:"vrrp_rt_priority,omitempty"`
	VRRPInstances  []*yInstance `yaml:"vrrp_instances,omitempty"`
	Listeners      []*yListener `yaml:"listeners,omitempty"`
}

type yInstance struct {
	Name             string   `yaml:"name"`
	Interface        string   `yaml:"interface"`
	VirtualRouterID  int      `yaml:"virtual_router_id"`
	Priority         int      `yaml:"priority,omitempty"`
	Version          int      `yaml:"version,omitempty"`
	AdvertInterval   string   `yaml:"advert_interval,omitempty"`
	Preempt          *bool    `yaml:"preempt,omitempty"`
	PreemptDelay     string   `yaml:"preempt_delay,omitempty"`
	LateAdverts      int      `yaml:"late_adverts_tolerated,omitempty"`
	AuthPass         string   `yaml:"auth_pass,omitempty"`
	UnicastSrc       string   `yaml:"unicast_src,omitempty"`
	UnicastPeers     []string `yaml:"unicast_peers,omitempty,flow"`
	VirtualIPAddress []string `yaml:"virtual_ipaddress"`
	GARP             *yGARP   `yaml:"garp,omitempty,flow"`
	Track            []yTrack `yaml:"track,omitempty"`
	Notify           *yNotify `yaml:"notify,omitempty"`
}

type yNotify struct {
	Master []string `yaml:"master,omitempty,flow"`
	Backup []string `yaml:"backup,omitempty,flow"`
	Fault  []string `yaml:"fault,omitempty,flow"`
	Stop   []string `yaml:"stop,omitempty,flow"`
}

type yGARP struct {
	Count    int    `yaml:"count,omitempty"`
	Interval string `yaml:"interval,omitempty"`
	Refresh  string `yaml:"refresh,omitempty"`
}

type yTrack struct {
	Check    string `yaml:"check,omitempty"`
	Listener string `yaml:"listener,omitempty"`
	Weight   int    `yaml:"weight"`
}

type yListener struct {
	Name                  string      `yaml:"name"`
	Bind                  string      `yaml:"bind"`
	Policy                string      `yaml:"policy,omitempty"`
	AllBackups            bool        `yaml:"all_backups,omitempty"`
	PersistenceTimeout    string      `yaml:"persistence_timeout,omitempty"`
	PersistenceNetmask    int         `yaml:"persistence_netmask,omitempty"`
	PersistenceNetmask6   int         `yaml:"persistence_netmask6,omitempty"`
	PersistenceMaxClients int         `yaml:"persistence_max_clients,omitempty"`
	MaxConn               int         `yaml:"maxconn,omitempty"`
	MaxConnPerClient      int         `yaml:"maxconn_per_client,omitempty"`
	AllowedClients        []string    `yaml:"allowed_clients,omitempty,flow"`
	AllowedClientsFile    string      `yaml:"allowed_clients_file,omitempty"`
	DeniedClients         []string    `yaml:"denied_clients,omitempty,flow"`
	DeniedClientsFile     string      `yaml:"denied_clients_file,omitempty"`
	ConnectTimeout        string      `yaml:"connect_timeout,omitempty"`
	Retries               *int        `yaml:"retries,omitempty"`
	OnMarkedDown          string      `yaml:"on_marked_down,omitempty"`
	OnMarkedUp            string      `yaml:"on_marked_up,omitempty"`
	ProxyProtocol         string      `yaml:"proxy_protocol,omitempty"`
	IdleTimeout           string      `yaml:"idle_timeout,omitempty"`
	FinTimeout            string      `yaml:"fin_timeout,omitempty"`
	TCPUserTimeout        string      `yaml:"tcp_user_timeout,omitempty"`
	GracefulTimeout       string      `yaml:"graceful_timeout,omitempty"`
	LogSessions           bool        `yaml:"log_sessions,omitempty"`
	Check                 *yCheck     `yaml:"check,omitempty,flow"`
	Backends              []*yBackend `yaml:"backends"`
}

type yBackend struct {
	Name          string  `yaml:"name"`
	Address       string  `yaml:"address"`
	Weight        *int    `yaml:"weight,omitempty"`
	MaxConn       int     `yaml:"maxconn,omitempty"`
	ProxyProtocol string  `yaml:"proxy_protocol,omitempty"`
	Backup        bool    `yaml:"backup,omitempty"`
	Check         *yCheck `yaml:"check,omitempty,flow"`
}

type yCheck struct {
	Type         string `yaml:"type,omitempty"`
	Address      string `yaml:"address,omitempty"`
	Interval     string `yaml:"interval,omitempty"`
	FastInterval string `yaml:"fastinterval,omitempty"`
	DownInterval string `yaml:"downinterval,omitempty"`
	Timeout      string `yaml:"timeout,omitempty"`
	Rise         int    `yaml:"rise,omitempty"`
	Fall         int    `yaml:"fall,omitempty"`
	SlowStart    string `yaml:"slowstart,omitempty"`
	Method       string `yaml:"method,omitempty"`
	Path         string `yaml:"path,omitempty"`
	ExpectStatus string `yaml:"expect_status,omitempty"`
	User         string `yaml:"user,omitempty"`
	Password     string `yaml:"password,omitempty"`
	TLS          *yTLS  `yaml:"tls,omitempty,flow"`
}

type yTLS struct {
	ServerName string `yaml:"server_name,omitempty"`
	CAFile     string `yaml:"ca_file,omitempty"`
	CertFile   string `yaml:"cert_file,omitempty"`
	KeyFile    string `yaml:"key_file,omitempty"`
	Verify     string `yaml:"verify,omitempty"`
}

// dur formats a duration for the file, "" for zero (left out).
func dur(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return formatDuration(d)
}

// emit writes the draft as an rmqlb configuration file. sources are the
// input files, named in its header.
func emit(d *draft, sources []string) ([]byte, error) {
	f := yFile{StateFile: d.stateFile, VRRPRTPriority: d.rtPriority}
	var secrets []string // the keys that hold one
	for _, in := range d.instances {
		f.VRRPInstances = append(f.VRRPInstances, yamlInstance(in))
		if in.authPass != "" && !slices.Contains(secrets, "auth_pass") {
			secrets = append(secrets, "auth_pass")
		}
	}
	for _, l := range d.listeners {
		f.Listeners = append(f.Listeners, yamlListener(l))
		for _, b := range l.backends {
			if b.check.password != "" && !slices.Contains(secrets, "a check's password") {
				secrets = append(secrets, "a check's password")
			}
		}
	}
	var root yaml.Node
	if err := root.Encode(&f); err != nil {
		return nil, fmt.Errorf("encoding the configuration: %w", err)
	}
	comment := func(key string, what func(i int) string) {
		for i := 0; i+1 < len(root.Content); i += 2 {
			if root.Content[i].Value == key {
				for j, item := range root.Content[i+1].Content {
					item.HeadComment = what(j)
				}
			}
		}
	}
	comment("vrrp_instances", func(i int) string {
		in := d.instances[i]
		return printable(fmt.Sprintf("%s (%s)", in.what, in.pos))
	})
	comment("listeners", func(i int) string {
		l := d.listeners[i]
		return printable(fmt.Sprintf("%s (%s)", l.what, l.pos))
	})
	flowBackends(&root)
	var head strings.Builder
	head.WriteString("Written by `rmqlb import` from\n")
	for _, s := range sources {
		head.WriteString("  " + printable(s) + "\n")
	}
	head.WriteString("What it did not translate as written is listed on its standard error,\n" +
		"each with its file and line. Keys left out take rmqlb's defaults\n" +
		"(README, Configuration). Check the file with `rmqlb check-config`.")
	if len(secrets) > 0 {
		head.WriteString("\nThis file holds " + strings.Join(secrets, " and ") + ": make it readable by root and the daemon's group only,\n" +
			"chown root:rmqlb FILE && chmod 640 FILE (chmod 600 if the daemon runs as root).")
	}
	root.HeadComment = head.String()
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&root); err != nil {
		return nil, fmt.Errorf("encoding the configuration: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encoding the configuration: %w", err)
	}
	return b.Bytes(), nil
}

// flowBackends writes each backend and track rule on one line, as the
// README's examples do.
func flowBackends(root *yaml.Node) {
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if k := n.Content[i].Value; (k == "backends" || k == "track") && n.Content[i+1].Kind == yaml.SequenceNode {
					for _, item := range n.Content[i+1].Content {
						item.Style = yaml.FlowStyle
					}
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(root)
}

func yamlInstance(in *instance) *yInstance {
	y := &yInstance{
		Name:            in.name,
		Interface:       in.iface,
		VirtualRouterID: in.vrid,
		Priority:        in.priority,
		Version:         in.version,
		AdvertInterval:  dur(in.advert),
		Preempt:         in.preempt,
		PreemptDelay:    dur(in.preemptDelay),
		LateAdverts:     in.lateAdverts,
		AuthPass:        in.authPass,
	}
	if in.unicastSrc.IsValid() {
		y.UnicastSrc = in.unicastSrc.String()
	}
	for _, p := range in.peers {
		y.UnicastPeers = append(y.UnicastPeers, p.String())
	}
	for _, p := range in.vips {
		s := p.String()
		if p.IsSingleIP() {
			s = p.Addr().String()
		}
		y.VirtualIPAddress = append(y.VirtualIPAddress, s)
	}
	if len(in.notify) > 0 {
		y.Notify = &yNotify{Master: in.notify["master"], Backup: in.notify["backup"], Fault: in.notify["fault"], Stop: in.notify["stop"]}
	}
	if g := in.garp; g != (garp{}) {
		y.GARP = &yGARP{Count: g.count, Interval: dur(g.interval), Refresh: dur(g.refresh)}
	}
	for _, t := range in.track {
		yt := yTrack{Listener: t.listener, Weight: t.weight}
		if t.backend != (rbackend.ID{}) {
			yt.Check = t.backend.String()
		}
		y.Track = append(y.Track, yt)
	}
	return y
}

func yamlListener(l *listener) *yListener {
	y := &yListener{
		Name:                  l.name,
		Bind:                  l.bind.String(),
		Policy:                l.policy,
		AllBackups:            l.allBackups,
		PersistenceTimeout:    dur(l.persistence),
		PersistenceNetmask:    l.netmask,
		PersistenceNetmask6:   l.netmask6,
		PersistenceMaxClients: l.maxClients,
		MaxConn:               l.maxconn,
		MaxConnPerClient:      l.maxPerClient,
		AllowedClients:        prefixStrings(l.allowedFile.or(l.allowed)),
		AllowedClientsFile:    l.allowedFile.path,
		DeniedClients:         prefixStrings(l.deniedFile.or(l.denied)),
		DeniedClientsFile:     l.deniedFile.path,
		ConnectTimeout:        dur(l.connectTimeout),
		Retries:               l.retries,
		OnMarkedDown:          l.onMarkedDown,
		OnMarkedUp:            l.onMarkedUp,
		IdleTimeout:           dur(l.idleTimeout),
		FinTimeout:            dur(l.finTimeout),
		TCPUserTimeout:        dur(l.userTimeout),
		GracefulTimeout:       dur(l.graceful),
		LogSessions:           l.logSessions,
	}
	// A check or PROXY protocol version that every backend shares is
	// written once, as the listener's.
	sameCheck, sameProxy := true, true
	for _, b := range l.backends[1:] {
		sameCheck = sameCheck && b.check == l.backends[0].check
		sameProxy = sameProxy && b.proxy == l.backends[0].proxy
	}
	if sameCheck && !l.backends[0].check.isZero() {
		y.Check = yamlCheck(l.backends[0].check)
	}
	if sameProxy {
		y.ProxyProtocol = l.backends[0].proxy
	}
	for _, b := range l.backends {
		yb := &yBackend{Name: b.name, Address: b.addr.String(), Weight: b.weight, MaxConn: b.maxconn, Backup: b.backup}
		if !sameProxy {
			yb.ProxyProtocol = b.proxy
			if yb.ProxyProtocol == "" {
				yb.ProxyProtocol = "none"
			}
		}
		if !sameCheck && !b.check.isZero() {
			yb.Check = yamlCheck(b.check)
		}
		y.Backends = append(y.Backends, yb)
	}
	return y
}

func yamlCheck(c check) *yCheck {
	y := &yCheck{
		Type:         c.typ,
		Interval:     dur(c.interval),
		FastInterval: dur(c.fast),
		DownInterval: dur(c.down),
		Timeout:      dur(c.timeout),
		Rise:         c.rise,
		Fall:         c.fall,
		SlowStart:    dur(c.slowstart),
		Method:       c.method,
		Path:         c.path,
		ExpectStatus: c.expect,
		User:         c.user,
		Password:     c.password,
	}
	if c.address != (netip.AddrPort{}) {
		y.Address = c.address.String()
	}
	if t := c.tls; t != (checkTLS{}) {
		y.TLS = &yTLS{ServerName: t.serverName, CAFile: t.caFile, CertFile: t.certFile, KeyFile: t.keyFile, Verify: t.verify}
	}
	return y
}

// prefixStrings writes prefixes as the file has them; nil for none.
func prefixStrings(ps []netip.Prefix) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

package config

import "time"

// The types of this file are the YAML schema of the configuration file: what
// a user writes, field for field, before any default or rule is applied.
// resolve turns a file into a Config. Pointers mark the fields whose zero
// value is a setting of its own (weight 0 drains, retries 0 retries none,
// preempt false is nopreempt), so that "absent" can take the default.

type file struct {
	ControlSocket string         `yaml:"control_socket"`
	ControlGroup  string         `yaml:"control_group"`
	StateFile     string         `yaml:"state_file"`
	LogLevel      string         `yaml:"log_level"`
	MetricsListen string         `yaml:"metrics_listen"`
	Inert         bool           `yaml:"inert"`
	VRRPRTPrio    int            `yaml:"vrrp_rt_priority"`
	VRRPSender    string         `yaml:"vrrp_sender"`
	VRRPInstances []fileInstance `yaml:"vrrp_instances"`
	Listeners     []fileListener `yaml:"listeners"`
}

type fileInstance struct {
	Name             string        `yaml:"name"`
	Interface        string        `yaml:"interface"`
	VirtualRouterID  int           `yaml:"virtual_router_id"`
	Priority         *int          `yaml:"priority"`
	Version          int           `yaml:"version"`
	AdvertInterval   time.Duration `yaml:"advert_interval"`
	Preempt          *bool         `yaml:"preempt"`
	PreemptDelay     time.Duration `yaml:"preempt_delay"`
	AuthPass         string        `yaml:"auth_pass"`
	V3Checksum       string        `yaml:"v3_checksum"`
	UnicastSrc       string        `yaml:"unicast_src"`
	UnicastPeers     []string      `yaml:"unicast_peers"`
	AllowedPeers     []string      `yaml:"allowed_peers"`
	MaxAdopted       time.Duration `yaml:"max_adopted_advert_interval"`
	LateAdverts      int           `yaml:"late_adverts_tolerated"`
	VirtualIPAddress []string      `yaml:"virtual_ipaddress"`
	GARP             fileGARP      `yaml:"garp"`
	Track            []fileTrack   `yaml:"track"`
	Notify           *fileNotify   `yaml:"notify"`
}

type fileGARP struct {
	Count    int           `yaml:"count"`
	Interval time.Duration `yaml:"interval"`
	Refresh  time.Duration `yaml:"refresh"`
	Probe    *bool         `yaml:"probe"`
}

// fileNotify is an instance's notify hooks: each an argument vector.
type fileNotify struct {
	Master  []string      `yaml:"master"`
	Backup  []string      `yaml:"backup"`
	Fault   []string      `yaml:"fault"`
	Stop    []string      `yaml:"stop"`
	Timeout time.Duration `yaml:"timeout"`
}

type fileTrack struct {
	Check    string `yaml:"check"`
	Listener string `yaml:"listener"`
	Weight   int    `yaml:"weight"`
}

type fileListener struct {
	Name                  string         `yaml:"name"`
	Bind                  string         `yaml:"bind"`
	Policy                string         `yaml:"policy"`
	AllBackups            bool           `yaml:"all_backups"`
	PersistenceTimeout    time.Duration  `yaml:"persistence_timeout"`
	PersistenceNetmask    int            `yaml:"persistence_netmask"`
	PersistenceNetmask6   int            `yaml:"persistence_netmask6"`
	PersistenceMaxClients int            `yaml:"persistence_max_clients"`
	MaxConn               int            `yaml:"maxconn"`
	MaxConnPerClient      int            `yaml:"maxconn_per_client"`
	AllowedClients        []string       `yaml:"allowed_clients"`
	DeniedClients         []string       `yaml:"denied_clients"`
	AllowedClientsFile    string         `yaml:"allowed_clients_file"`
	DeniedClientsFile     string         `yaml:"denied_clients_file"`
	ConnectTimeout        time.Duration  `yaml:"connect_timeout"`
	Retries               *int           `yaml:"retries"`
	OnMarkedDown          string         `yaml:"on_marked_down"`
	OnMarkedUp            string         `yaml:"on_marked_up"`
	ProxyProtocol         string         `yaml:"proxy_protocol"`
	IdleTimeout           time.Duration  `yaml:"idle_timeout"`
	HandshakeTimeout      time.Duration  `yaml:"handshake_timeout"`
	FinTimeout            time.Duration  `yaml:"fin_timeout"`
	KeepAlive             time.Duration  `yaml:"keepalive"`
	TCPUserTimeout        time.Duration  `yaml:"tcp_user_timeout"`
	GracefulTimeout       time.Duration  `yaml:"graceful_timeout"`
	CloseSpread           *time.Duration `yaml:"close_spread"`
	LogSessions           bool           `yaml:"log_sessions"`
	Check                 *fileCheck     `yaml:"check"`
	Backends              []fileBackend  `yaml:"backends"`
}

type fileBackend struct {
	Name          string     `yaml:"name"`
	Address       string     `yaml:"address"`
	Weight        *int       `yaml:"weight"`
	MaxConn       int        `yaml:"maxconn"`
	ProxyProtocol string     `yaml:"proxy_protocol"`
	Backup        bool       `yaml:"backup"`
	Check         *fileCheck `yaml:"check"`
}

type fileCheck struct {
	Type         string        `yaml:"type"`
	Mode         string        `yaml:"mode"`
	Address      string        `yaml:"address"`
	Interval     time.Duration `yaml:"interval"`
	FastInterval time.Duration `yaml:"fastinterval"`
	DownInterval time.Duration `yaml:"downinterval"`
	Timeout      time.Duration `yaml:"timeout"`
	Rise         int           `yaml:"rise"`
	Fall         int           `yaml:"fall"`
	SlowStart    time.Duration `yaml:"slowstart"`
	BusyGrace    time.Duration `yaml:"busy_grace"`
	User         string        `yaml:"user"`
	Password     string        `yaml:"password"`
	VHost        string        `yaml:"vhost"`
	Cluster      string        `yaml:"cluster"`
	Mechanism    string        `yaml:"mechanism"`
	OnAlarm      string        `yaml:"on_alarm"`
	// OnLoginRefused is on_login_refused: degraded (default), down or down-if-alone.
	OnLoginRefused string   `yaml:"on_login_refused"`
	TLS            *fileTLS `yaml:"tls"`
	// Method, Path and ExpectStatus are an http check's request method
	// and path and the status codes that pass it.
	Method       string `yaml:"method"`
	Path         string `yaml:"path"`
	ExpectStatus string `yaml:"expect_status"`
}

type fileTLS struct {
	ServerName string `yaml:"server_name"`
	CAFile     string `yaml:"ca_file"`
	CertFile   string `yaml:"cert_file"`
	KeyFile    string `yaml:"key_file"`
	Verify     string `yaml:"verify"`
}

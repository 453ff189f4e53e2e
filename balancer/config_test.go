package balancer

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	rbackend "github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/internal/fielderr"
)

func validConfig() Config {
	return Config{
		Name: "amqp", Bind: netip.MustParseAddrPort("10.77.0.100:5672"), Policy: PolicyWRR,
		Backends: []BackendConfig{
			{Name: "rmq1", Address: netip.MustParseAddrPort("10.77.0.1:5672"), Weight: 10},
			{Name: "rmq2", Address: netip.MustParseAddrPort("10.77.0.2:5672"), Weight: 1},
		},
	}
}

func TestValidate(t *testing.T) {
	if err := validConfig().Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"no name", func(c *Config) { c.Name = "" }, "name"},
		{"no bind", func(c *Config) { c.Bind = netip.AddrPort{} }, "bind"},
		{"policy", func(c *Config) { c.Policy = "random" }, "policy"},
		{"netmask", func(c *Config) { c.PersistenceNetmask = 33 }, "persistence_netmask"},
		{"persistence", func(c *Config) { c.PersistenceTimeout = -time.Second }, "persistence_timeout"},
		{"persistence clients", func(c *Config) { c.PersistenceMaxClients = -1 }, "persistence_max_clients"},
		{"maxconn", func(c *Config) { c.MaxConn = -1 }, "maxconn"},
		{"retries", func(c *Config) { c.Retries = -1 }, "retries"},
		{"keepalive", func(c *Config) { c.KeepAlive = MaxKeepAlive + time.Second }, "keepalive"},
		{"idle", func(c *Config) { c.IdleTimeout = -1 }, "idle_timeout"},
		{"user timeout negative", func(c *Config) { c.TCPUserTimeout = -time.Millisecond }, "tcp_user_timeout"},
		{"user timeout too long", func(c *Config) { c.TCPUserTimeout = MaxTCPUserTimeout + time.Millisecond }, "tcp_user_timeout"},
		{"no backends", func(c *Config) { c.Backends = nil }, "backends"},
		{"dup backend", func(c *Config) { c.Backends[1].Name = "rmq1" }, "backends[1].name"},
		{"backend port", func(c *Config) { c.Backends[0].Address = netip.MustParseAddrPort("10.0.0.1:0") }, "backends[0].address"},
		{"backend weight", func(c *Config) { c.Backends[1].Weight = -1 }, "backends[1].weight"},
		{"backend maxconn", func(c *Config) { c.Backends[1].MaxConn = -1 }, "backends[1].maxconn"},
		{"backend proxy", func(c *Config) { c.Backends[0].ProxyProtocol = 3 }, "backends[0].proxy_protocol"},
		{"slash in name", func(c *Config) { c.Name = "a/b" }, "name"},
		{"slash in backend", func(c *Config) { c.Backends[0].Name = "a/b" }, "backends[0].name"},
		{"too many retries", func(c *Config) { c.Retries = MaxRetries + 1 }, "retries"},
		{"zoned bind", func(c *Config) { c.Bind = netip.MustParseAddrPort("[fe80::1%eth0]:5672") }, "bind"},
		{"unspecified backend", func(c *Config) { c.Backends[0].Address = netip.MustParseAddrPort("0.0.0.0:5672") }, "backends[0].address"},
	}
	for _, tt := range tests {
		c := validConfig()
		c.Backends = append([]BackendConfig(nil), c.Backends...)
		tt.mutate(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one naming %q", tt.name, err, tt.want)
			continue
		}
		// The field is named as a value too, for the configuration
		// file's reader to point at its key.
		fields, others := fielderr.Split(err)
		if len(fields) != 1 || fields[0].Field != tt.want || len(others) != 0 {
			t.Errorf("%s: fields %v, others %v, want one field %q", tt.name, fields, others, tt.want)
		}
	}
	if err := (Config{Name: "l", Bind: netip.MustParseAddrPort("10.0.0.1:1"), Retries: MaxRetries, Backends: validConfig().Backends}).Validate(); err != nil {
		t.Errorf("retries %d: %v", MaxRetries, err)
	}
	// The TCP user timeout's bounds are valid: 0 (the kernel's default),
	// the shortest the kernel takes and the longest.
	for _, ut := range []time.Duration{0, time.Nanosecond, time.Millisecond, MaxTCPUserTimeout} {
		c := validConfig()
		c.TCPUserTimeout = ut
		if err := c.Validate(); err != nil {
			t.Errorf("tcp_user_timeout %v: %v", ut, err)
		}
	}
}

func TestSnapshotJSON(t *testing.T) {
	l, err := NewListener(validConfig(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetBackendState("rmq2", rbackend.Drain, "operator"); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(l.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"name":"amqp"`, `"bind":"10.77.0.100:5672"`, `"policy":"wrr"`,
		`"state":"DRAIN"`, `"last_change_reason":"operator"`, `"address":"10.77.0.1:5672"`, `"weight":10`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("snapshot JSON lacks %s: %s", want, b)
		}
	}
	if err := l.SetBackendState("nope", rbackend.Down, ""); err == nil {
		t.Error("setting state of an unknown backend succeeded")
	}
	if err := l.SetBackendWeight("rmq1", -1); err == nil {
		t.Error("negative weight accepted")
	}
}

package stompcheck

import (
	"net/netip"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/internal/freeport"
	"github.com/rmqlb/rmqlb/internal/rabbittest"
	"github.com/rmqlb/rmqlb/internal/testserver"
)

// TestRabbitMQ: against a real RabbitMQ node's STOMP plugin the check
// passes with the default user and with one of its own, passes with a
// warning when the node refuses its password or its vhost, and fails by
// timeout while the node is frozen.
func TestRabbitMQ(t *testing.T) {
	addr := netip.MustParseAddrPort(freeport.Addr(t, "127.0.0.1"))
	n := rabbittest.StartT(t, rabbittest.Options{Name: "stompcheck",
		Plugins: []string{"rabbitmq_stomp"},
		Config:  []string{"stomp.listeners.tcp.1 = " + addr.String()}})
	n.MustCtl(t, "add_user", "monitor", "s3cret")
	n.MustCtl(t, "set_permissions", "-p", "/", "monitor", "^$", "^$", "^$")
	check := func(cfg Config) testserver.Check {
		cfg.Addr = addr
		return func(timeout time.Duration) healthcheck.Result { return run(t, cfg, timeout) }
	}
	testserver.WaitPass(t, "STOMP listener", check(Config{}))
	// A passing check costs the broker no warning.
	testserver.NoBrokerWarnings(t, n, func() {
		testserver.WantPass(t, check(Config{})(5*time.Second), "STOMP CONNECTED", "")
		testserver.WantPass(t, check(Config{User: "monitor", Password: "s3cret"})(5*time.Second), "STOMP CONNECTED", "")
	})
	for _, tc := range []struct {
		name          string
		cfg           Config
		info, warning string
	}{
		// From loopback, RabbitMQ logs a client without a login in as guest.
		{"default user", Config{}, "STOMP CONNECTED 1.2 (RabbitMQ/", ""},
		{"a user", Config{User: "monitor", Password: "s3cret"}, "STOMP CONNECTED 1.2 (RabbitMQ/", ""},
		{"wrong password", Config{User: "monitor", Password: "wrong"}, "STOMP ERROR Bad CONNECT: Access refused for user 'monitor'", "login refused: STOMP ERROR Bad CONNECT: Access refused for user 'monitor'"},
		{"a vhost without permissions", Config{VHost: "nowhere", User: "monitor", Password: "s3cret"}, "STOMP ERROR ", "login refused: STOMP ERROR "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := check(tc.cfg)(5 * time.Second)
			t.Logf("%+v", r)
			testserver.WantPass(t, r, tc.info, tc.warning)
		})
	}

	testserver.Frozen(t, n, addr, check(Config{}))
}

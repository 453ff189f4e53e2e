package mqttcheck

import (
	"net/netip"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/internal/freeport"
	"github.com/rmqlb/rmqlb/internal/rabbittest"
	"github.com/rmqlb/rmqlb/internal/testserver"
)

// TestRabbitMQ: against a real RabbitMQ node's MQTT plugin the check
// passes anonymously and with a user, passes with a warning when the
// node refuses its password, and fails by timeout while the node is
// frozen.
func TestRabbitMQ(t *testing.T) {
	addr := netip.MustParseAddrPort(freeport.Addr(t, "127.0.0.1"))
	n := rabbittest.StartT(t, rabbittest.Options{Name: "mqttcheck",
		Plugins: []string{"rabbitmq_mqtt"},
		Config:  []string{"mqtt.listeners.tcp.default = " + addr.String()}})
	n.MustCtl(t, "add_user", "monitor", "s3cret")
	n.MustCtl(t, "set_permissions", "-p", "/", "monitor", ".*", ".*", ".*")
	check := func(cfg Config) testserver.Check {
		cfg.Addr = addr
		return func(timeout time.Duration) healthcheck.Result { return run(t, cfg, timeout) }
	}
	testserver.WaitPass(t, "MQTT listener", check(Config{}))
	// A passing check costs the broker no warning.
	testserver.NoBrokerWarnings(t, n, func() {
		testserver.WantPass(t, check(Config{})(5*time.Second), "MQTT CONNACK 0", "")
		testserver.WantPass(t, check(Config{User: "monitor", Password: "s3cret"})(5*time.Second), "MQTT CONNACK 0", "")
	})
	for _, tc := range []struct {
		name          string
		cfg           Config
		info, warning string
	}{
		// From loopback, RabbitMQ logs an anonymous client in as guest.
		{"anonymous", Config{}, "MQTT CONNACK 0 connection accepted", ""},
		{"a user", Config{User: "monitor", Password: "s3cret"}, "MQTT CONNACK 0 connection accepted", ""},
		{"a user of a vhost", Config{User: "/:monitor", Password: "s3cret"}, "MQTT CONNACK 0 connection accepted", ""},
		{"wrong password", Config{User: "monitor", Password: "wrong"}, "MQTT CONNACK ", "login refused: MQTT CONNACK "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := check(tc.cfg)(5 * time.Second)
			t.Logf("%+v", r)
			testserver.WantPass(t, r, tc.info, tc.warning)
		})
	}

	testserver.Frozen(t, n, addr, check(Config{}))
}

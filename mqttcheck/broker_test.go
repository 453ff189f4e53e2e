package mqttcheck

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/checkconn"
	"github.com/rmqlb/rmqlb/internal/freeport"
	"github.com/rmqlb/rmqlb/internal/rabbittest"
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
	// The plugin listens a moment after the node booted.
	deadline := time.Now().Add(30 * time.Second)
	for r := check(t, Config{Addr: addr}, time.Second); !r.Passed(); r = check(t, Config{Addr: addr}, time.Second) {
		if time.Now().After(deadline) {
			t.Fatalf("MQTT listener never answered: %v", r.Err)
		}
		time.Sleep(200 * time.Millisecond)
	}
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
			cfg := tc.cfg
			cfg.Addr = addr
			r := check(t, cfg, 5*time.Second)
			t.Logf("%+v", r)
			if !r.Passed() || !strings.HasPrefix(r.Info, tc.info) || !strings.HasPrefix(r.Warning, tc.warning) || (tc.warning == "") != (r.Warning == "") {
				t.Fatalf("result %+v, want a pass with info %q..., warning %q...", r, tc.info, tc.warning)
			}
		})
	}

	if err := n.Freeze(); err != nil {
		t.Fatal(err)
	}
	thawed := false
	defer func() {
		if !thawed {
			n.Thaw()
		}
	}()
	r := check(t, Config{Addr: addr}, time.Second)
	if r.Passed() || !errors.Is(r.Err, checkconn.ErrTimeout) {
		t.Fatalf("frozen node: %+v, want a timeout", r)
	}
	t.Logf("frozen node: %v", r.Err)
	thawed = true
	if err := n.Thaw(); err != nil {
		t.Fatal(err)
	}
	if r := check(t, Config{Addr: addr}, 10*time.Second); !r.Passed() {
		t.Fatalf("thawed node: %v", r.Err)
	}
}

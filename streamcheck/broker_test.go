package streamcheck

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/checkconn"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/internal/freeport"
	"github.com/rmqlb/rmqlb/internal/rabbittest"
	"github.com/rmqlb/rmqlb/internal/testserver"
)

// TestRabbitMQ: against a real RabbitMQ node's stream plugin the check
// passes without a user and with one, passes with a warning when the
// node refuses its password or its vhost, fails when the node is in
// another cluster than it wants, and fails by timeout while the node is
// frozen.
func TestRabbitMQ(t *testing.T) {
	addr := netip.MustParseAddrPort(freeport.Addr(t, "127.0.0.1"))
	n := rabbittest.StartT(t, rabbittest.Options{Name: "streamcheck",
		Plugins: []string{"rabbitmq_stream"},
		Config:  []string{"stream.listeners.tcp.1 = " + addr.String()}})
	n.MustCtl(t, "add_user", "monitor", "s3cret")
	n.MustCtl(t, "set_permissions", "-p", "/", "monitor", "^$", "^$", "^$")
	n.MustCtl(t, "add_vhost", "other")
	check := func(cfg Config) testserver.Check {
		cfg.Addr = addr
		return func(timeout time.Duration) healthcheck.Result { return run(t, cfg, timeout) }
	}
	testserver.WaitPass(t, "stream listener", check(Config{}))
	// A passing check costs the broker no warning.
	testserver.NoBrokerWarnings(t, n, func() {
		testserver.WantPass(t, check(Config{})(5*time.Second), "RabbitMQ 3.", "")
		testserver.WantPass(t, check(Config{User: "monitor", Password: "s3cret"})(5*time.Second), "RabbitMQ 3.", "")
	})
	for _, tc := range []struct {
		name          string
		cfg           Config
		info, warning string
	}{
		{"no user", Config{}, "RabbitMQ 3.", ""},
		{"a user", Config{User: "monitor", Password: "s3cret"}, "RabbitMQ 3.", ""},
		{"wrong password", Config{User: "monitor", Password: "wrong"}, "RabbitMQ 3.", "login refused: stream SaslAuthenticate: answered 0x08 authentication failure"},
		{"a vhost without permissions", Config{User: "monitor", Password: "s3cret", VHost: "other"}, "RabbitMQ 3.", "login refused: stream Open other: answered 0x0c virtual host access failure"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := check(tc.cfg)(5 * time.Second)
			t.Logf("%+v", r)
			testserver.WantPass(t, r, tc.info, tc.warning)
			if r.Cluster == "" {
				t.Fatalf("result %+v names no cluster", r)
			}
		})
	}
	if r := check(Config{Cluster: "another"})(5 * time.Second); r.Passed() || !errors.Is(r.Err, checkconn.ErrWrongCluster) {
		t.Fatalf("a check that wants another cluster: %+v, want ErrWrongCluster", r)
	}
	testserver.Frozen(t, n, addr, check(Config{}))
}

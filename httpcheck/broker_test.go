package httpcheck

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/internal/freeport"
	"github.com/rmqlb/rmqlb/internal/rabbittest"
	"github.com/rmqlb/rmqlb/internal/testserver"
)

// TestRabbitMQManagement: against a real RabbitMQ node's management
// plugin, the check passes on its UI and on its health checks with a
// monitoring user, fails with the node's own reason where a health check
// fails or the credentials are refused, and fails by timeout while the
// node is frozen, where a TCP connect to the same port still passes. An
// OPTIONS request (HAProxy's httpchk default) passes without credentials.
func TestRabbitMQManagement(t *testing.T) {
	mgmt := netip.MustParseAddrPort(freeport.Addr(t, "127.0.0.1"))
	n := rabbittest.StartT(t, rabbittest.Options{Name: "httpcheck",
		Plugins: []string{"rabbitmq_management"},
		Config:  []string{"management.tcp.ip = 127.0.0.1", fmt.Sprintf("management.tcp.port = %d", mgmt.Port())}})
	n.MustCtl(t, "add_user", "monitor", "s3cret")
	n.MustCtl(t, "set_user_tags", "monitor", "monitoring")
	n.MustCtl(t, "add_user", "plain", "s3cret") // no tag: not a management user
	check := func(cfg Config, timeout time.Duration) healthcheck.Result {
		t.Helper()
		cfg.Addr = mgmt
		return runCheck(t, cfg, timeout)
	}
	testserver.WaitPass(t, "management UI", func(timeout time.Duration) healthcheck.Result { return check(Config{}, timeout) })
	amqpPort := fmt.Sprint(n.Addr.Port())
	tests := []struct {
		name string
		cfg  Config
		want string // "" for a pass, "warning: W" for a pass with warning W
	}{
		{"UI", Config{Path: "/"}, ""},
		{"alarms", Config{Path: "/api/health/checks/alarms", User: "monitor", Password: "s3cret"}, ""},
		{"AMQP listener", Config{Path: "/api/health/checks/port-listener/" + amqpPort, User: "monitor", Password: "s3cret"}, ""},
		{"AMQP protocol", Config{Path: "/api/health/checks/protocol-listener/amqp", User: "monitor", Password: "s3cret"}, ""},
		{"no MQTT listener", Config{Path: "/api/health/checks/port-listener/1883", User: "monitor", Password: "s3cret"},
			"GET /api/health/checks/port-listener/1883: 503 Service Unavailable (want 200-399): No active listener"},
		{"no credentials", Config{Path: "/api/health/checks/alarms"}, "GET /api/health/checks/alarms: 401 Unauthorized (want 200-399)"},
		// A refused login fails the check where it should (RefusedFails)...
		{"wrong password", Config{Path: "/api/health/checks/alarms", User: "monitor", Password: "wrong", RefusedFails: true}, "401 Unauthorized (want 200-399): Login failed"},
		{"not a management user", Config{Path: "/api/health/checks/alarms", User: "plain", Password: "s3cret", RefusedFails: true}, "401 Unauthorized (want 200-399): Not management user"},
		// ... and by default passes it with the refusal as a warning.
		{"wrong password, a warning", Config{Path: "/api/health/checks/alarms", User: "monitor", Password: "wrong"}, "warning: login refused: GET /api/health/checks/alarms: 401 Unauthorized (want 200-399): Login failed"},
		// HAProxy's default method: the API answers it without
		// credentials, and without running the health check.
		{"OPTIONS without credentials", Config{Method: "OPTIONS", Path: "/api/health/checks/alarms"}, ""},
		{"HEAD without credentials", Config{Method: "HEAD", Path: "/api/health/checks/alarms"}, "HEAD /api/health/checks/alarms: 401 Unauthorized (want 200-399)"},
		{"HEAD of the UI", Config{Method: "HEAD", Path: "/"}, ""},
		{"401 expected", Config{Path: "/api/overview", Expect: Statuses{{200, 200}, {401, 401}}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := check(tc.cfg, 5*time.Second)
			t.Logf("%+v", r)
			if warn, ok := strings.CutPrefix(tc.want, "warning: "); ok {
				if !r.Passed() || r.Warning != warn {
					t.Fatalf("result %+v, want a pass with the warning %q", r, warn)
				}
				return
			}
			if tc.want == "" {
				if !r.Passed() || !strings.HasPrefix(r.Info, "HTTP ") {
					t.Fatalf("result %+v, want a pass", r)
				}
				return
			}
			if r.Passed() || r.Inconclusive || !strings.Contains(r.Err.Error(), tc.want) {
				t.Fatalf("result %+v, want a failure with %q", r, tc.want)
			}
		})
	}

	testserver.Frozen(t, n, mgmt, func(timeout time.Duration) healthcheck.Result {
		return check(Config{Path: "/api/health/checks/alarms", User: "monitor", Password: "s3cret"}, timeout)
	})
}

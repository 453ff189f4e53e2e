package integration

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/internal/rabbittest"
)

// TestE2EGuestOffLoopback runs a real RabbitMQ node on h1 with its MQTT,
// STOMP and stream plugins and RabbitMQ's default loopback_users (guest may log
// in from localhost only), checked by the rmqlb binary from h1's own
// address, off loopback:
//   - `rmqlb check-config` warns about each check that logs in as guest:
//     an AMQP login check, an mqtt, a stomp and a stream check;
//   - the node refuses each of them, over each protocol, and their
//     backends are DEGRADED with the node's refusal, still served;
//   - a stomp check without a user, which RabbitMQ logs in as guest and
//     refuses too, passes clean: the STOMP listener answered.
func TestE2EGuestOffLoopback(t *testing.T) {
	if err := rabbittest.Available(); err != nil {
		t.Skip(err)
	}
	rmqlbBinary(t)
	l := newLab(t)
	h1 := l.Host("h1")
	startRabbitWith(t, h1, rabbittest.Options{Name: "guest",
		Plugins: []string{"rabbitmq_mqtt", "rabbitmq_stomp", "rabbitmq_stream"},
		// RabbitMQ's default, which the test nodes turn off.
		AdvancedConfig: `[{rabbit, [{loopback_users, [<<"guest">>]}]}].`,
		Config: []string{"mqtt.listeners.tcp.default = " + h1.AddrPort(1883).String(), "stomp.listeners.tcp.1 = " + h1.AddrPort(61613).String(),
			"stream.listeners.tcp.1 = " + h1.AddrPort(5552).String()},
	})
	d := startDaemon(t, l, h1, daemonConf{LogLevel: "info", Listeners: checkedListener(h1, "amqp", 15673, "mode: login, user: guest, password: guest", "a", 5672) +
		checkedListener(h1, "mqtt", 11883, "type: mqtt, user: guest, password: guest", "m", 1883) +
		checkedListener(h1, "stomp", 11613, "type: stomp, user: guest, password: guest", "s", 61613) +
		checkedListener(h1, "stomp_anonymous", 11614, "type: stomp", "s0", 61613) +
		checkedListener(h1, "stream", 15552, "type: stream, user: guest, password: guest", "r", 5552)})

	out, err := exec.Command("ip", "netns", "exec", h1.NS, d.bin, "check-config", "--config", d.path).CombinedOutput()
	if err != nil {
		t.Fatalf("check-config: %v\n%s", err, out)
	}
	t.Logf("check-config:\n%s", out)
	for _, field := range []string{"listeners[0].check.user", "listeners[1].check.user", "listeners[2].check.user", "listeners[4].check.user"} {
		if !strings.Contains(string(out), field+" (line ") || !strings.Contains(string(out), "RabbitMQ refuses guest from anywhere but localhost") {
			t.Errorf("check-config warns nothing of %s:\n%s", field, out)
		}
	}
	if strings.Contains(string(out), "listeners[3].check") {
		t.Errorf("check-config warns about the stomp check without a user:\n%s", out)
	}

	for backend, want := range map[string]struct{ state, info, warning string }{
		"amqp/a":             {"degraded", "", "login refused: 403 ACCESS_REFUSED"},
		"mqtt/m":             {"degraded", "MQTT CONNACK 5 not authorized", "login refused: MQTT CONNACK 5 not authorized"},
		"stomp/s":            {"degraded", "STOMP ERROR Bad CONNECT: non-loopback access denied", "login refused: STOMP ERROR Bad CONNECT: non-loopback access denied"},
		"stomp_anonymous/s0": {"up", "STOMP ERROR Bad CONNECT: non-loopback access denied (no user: the listener answers)", ""},
		"stream/r":           {"degraded", "RabbitMQ 3.", "login refused: stream SaslAuthenticate: answered 0x0b authentication failure loopback"},
	} {
		// The plugins listen a moment after the node booted.
		if err := waitFor(60*time.Second, func() (bool, error) {
			s, err := d.status()
			if err != nil {
				return false, err
			}
			chk := findObject(s.raw, func(m map[string]any) bool { return m["backend"] == backend })
			raw, _ := json.Marshal(chk)
			warning, _ := chk["last_warning"].(string)
			return chk != nil && strings.EqualFold(fmt.Sprint(chk["state"]), want.state) &&
					strings.HasPrefix(fmt.Sprint(chk["last_info"]), want.info) && strings.HasPrefix(warning, want.warning) && (warning == "") == (want.warning == ""),
				fmt.Errorf("check of %s: %s, want %+v", backend, raw, want)
		}); err != nil {
			t.Error(err)
		}
	}
}

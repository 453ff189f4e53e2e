package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rmqlb/rmqlb/internal/rabbittest"
)

// TestE2ECheckUserRefused runs a real RabbitMQ node behind rmqlb, whose login check uses a user
// of its own, with an amqp091-go client connected through the proxy. Refusals of the check's
// login that RabbitMQ would give on every node alike (the check user's password changed, the
// vhost's connection limit filled by the clients) leave the backend DEGRADED with the refusal
// as its reason: the client's session is not closed and keeps working, and new clients are
// still served (with on_marked_down: shutdown-sessions, a DOWN backend would have closed it).
// Mended, the backend is UP again.
func TestE2ECheckUserRefused(t *testing.T) {
	if err := rabbittest.Available(); err != nil {
		t.Skip(err)
	}
	rmqlbBinary(t)
	l := newLab(t)
	h1 := l.Host("h1")
	n := startRabbit(t, h1, "chkuser", "loopback_users.guest = false") // the clients come through the proxy
	n.MustCtl(t, "add_user", "rmqlb-check", "first")
	n.MustCtl(t, "set_permissions", "-p", "/", "rmqlb-check", "^$", `^amq\.default$`, "^$")
	bind := h1.AddrPort(5673)
	d := startDaemon(t, l, h1, daemonConf{LogLevel: "info", Listeners: fmt.Sprintf(`  - name: amqp
    bind: %s
    on_marked_down: shutdown-sessions
    check: {mode: login, user: rmqlb-check, password: first, interval: 300ms, timeout: 500ms, rise: 1, fall: 2}
    backends:
      - {name: rmq1, address: %s}
`, bind, n.Addr)})
	waitState := func(want, reason string, timeout time.Duration) {
		t.Helper()
		if err := waitFor(timeout, func() (bool, error) {
			s, err := d.status()
			if err != nil {
				return false, err
			}
			bs := s.backend("rmq1")
			if bs == nil {
				return false, fmt.Errorf("no backend rmq1 in status:\n%s", s.text)
			}
			raw, _ := json.Marshal(bs.raw)
			return strings.EqualFold(bs.State, want) && strings.Contains(string(raw), reason),
				fmt.Errorf("backend rmq1: %s, want %s with %q", raw, want, reason)
		}); err != nil {
			t.Fatal(err)
		}
	}
	waitState("up", "", 30*time.Second)

	client := l.Host("client")
	dial := func() *amqp.Connection {
		t.Helper()
		c, err := amqp.DialConfig("amqp://guest:guest@"+bind.String()+"/", amqp.Config{Dial: client.Dialer(5 * time.Second)})
		if err != nil {
			t.Fatalf("AMQP through the proxy: %v", err)
		}
		return c
	}
	conn := dial()
	defer conn.Close()
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip := func(what string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := ch.PublishWithContext(ctx, "", q.Name, false, false, amqp.Publishing{Body: []byte(what)}); err != nil {
			t.Fatalf("%s: publishing on the session opened before: %v", what, err)
		}
		if err := waitFor(5*time.Second, func() (bool, error) {
			m, ok, err := ch.Get(q.Name, true)
			if err != nil {
				return false, err
			}
			return ok && string(m.Body) == what, fmt.Errorf("message %q not back", what)
		}); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		select {
		case e := <-closed:
			t.Fatalf("%s: the session opened before was closed: %v", what, e)
		default:
		}
		c := dial() // a new client is served
		c.Close()
	}
	roundTrip("before")
	// rmqlb check-config --checks, run on h1 before a reload, says what the check meets.
	checkConfig := func(wantExit int, want string) {
		t.Helper()
		out, err := h1.Run(d.bin, "check-config", "--checks", "--config", d.path)
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != wantExit || !regexp.MustCompile(want).Match(out) {
			t.Errorf("check-config --checks: exit %d, want %d and %s:\n%s%v", code, wantExit, want, out, err)
		}
	}
	checkConfig(0, `(?m)^amqp/rmq1 +amqp login +\S+ +\S+ +ok: RabbitMQ`)

	n.MustCtl(t, "change_password", "rmqlb-check", "second")
	checkConfig(1, `(?m)^amqp/rmq1 +amqp login +\S+ +\S+ +warning: login refused: 403 ACCESS_REFUSED`)
	waitState("degraded", "login refused: 403 ACCESS_REFUSED", 10*time.Second)
	// Several checks later, still DEGRADED, not DOWN.
	time.Sleep(time.Second)
	waitState("degraded", "login refused: 403 ACCESS_REFUSED", time.Second)
	roundTrip("check user's password changed")
	n.MustCtl(t, "change_password", "rmqlb-check", "first")
	waitState("up", "", 10*time.Second)

	// The clients fill the vhost: the client's session and the check's would make two.
	n.MustCtl(t, "set_vhost_limits", "-p", "/", `{"max-connections": 1}`)
	waitState("degraded", "connection limit (1) is reached", 10*time.Second)
	time.Sleep(time.Second)
	waitState("degraded", "connection limit (1) is reached", time.Second)
	select {
	case e := <-closed:
		t.Fatalf("vhost at its connection limit: the session opened before was closed: %v", e)
	default:
	}
	n.MustCtl(t, "clear_vhost_limits", "-p", "/")
	waitState("up", "", 10*time.Second)
	roundTrip("after")
}

// TestE2ELoginRefusedByOneNode: a login that one node of a cluster alone
// refuses (its own loopback_users here, as an authentication backend of
// its own would) leaves its backend DEGRADED, and rmqlb status and
// check-config --checks say that the same login passed on the other node:
// the node's own fault. With on_login_refused: down-if-alone that backend
// goes DOWN. Refused by every node (the check user's password changed),
// each backend is DEGRADED, none DOWN, and neither is said to be alone.
func TestE2ELoginRefusedByOneNode(t *testing.T) {
	if err := rabbittest.Available(); err != nil {
		t.Skip(err)
	}
	rmqlbBinary(t)
	l := newLab(t)
	h1, h2 := l.Host("h1"), l.Host("h2")
	n1 := startRabbit(t, h1, "alone1")
	n2 := startRabbit(t, h2, "alone2")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := n2.JoinCluster(ctx, n1); err != nil {
		t.Fatal(err)
	}
	n1.MustCtl(t, "add_user", "rmqlb-check", "first")
	n1.MustCtl(t, "set_permissions", "-p", "/", "rmqlb-check", "^$", `^amq\.default$`, "^$")
	listeners := func(onRefused string) string {
		return fmt.Sprintf(`  - name: amqp
    bind: %s
    check: {mode: login, user: rmqlb-check, password: first, interval: 300ms, timeout: 500ms, rise: 1, fall: 2, on_login_refused: %s}
    backends:
      - {name: rmq1, address: %s}
      - {name: rmq2, address: %s}
`, h1.AddrPort(5673), onRefused, n1.Addr, n2.Addr)
	}
	metrics := h1.AddrPort(9187)
	d := startDaemon(t, l, h1, daemonConf{LogLevel: "info", Global: "metrics_listen: " + metrics.String(), Listeners: listeners("degraded")})
	const alone = "refused by this node alone"
	// aloneGauge is rmqlb_healthcheck_login_refused_alone of backend name, as scraped.
	aloneGauge := func(name string) string {
		t.Helper()
		body, err := scrape(h1, metrics)
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`(?m)^rmqlb_healthcheck_login_refused_alone\{backend="` + name + `",listener="amqp"\} (\S+)$`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no rmqlb_healthcheck_login_refused_alone of %s in the scrape", name)
		}
		return m[1]
	}
	// refusedAloneJSON is refused_alone of backend name in the status's checks.
	refusedAloneJSON := func(s *status, name string) string {
		raw, _ := s.raw.(map[string]any)
		checks, _ := raw["checks"].([]any)
		for _, c := range checks {
			c, _ := c.(map[string]any)
			if c["backend"] == "amqp/"+name {
				v, _ := json.Marshal(c["refused_alone"])
				return string(v)
			}
		}
		return "no check of " + name
	}
	waitStatus := func(what string, cond func(s *status) bool) *status {
		t.Helper()
		var last *status
		if err := waitFor(15*time.Second, func() (bool, error) {
			s, err := d.status()
			if err != nil {
				return false, err
			}
			last = s
			return cond(s), fmt.Errorf("%s: status:\n%s", what, s.text)
		}); err != nil {
			t.Fatal(err)
		}
		return last
	}
	// reasons are the verdict's: the history of the checks keeps
	// what was said before.
	reasons := func(s *status) string {
		raw, _ := s.raw.(map[string]any)
		v, _ := raw["verdict"].(map[string]any)
		b, _ := json.Marshal(v["reasons"])
		return string(b)
	}
	states := func(s *status, want1, want2 string) bool {
		b1, b2 := s.backend("rmq1"), s.backend("rmq2")
		return b1 != nil && b2 != nil && strings.EqualFold(b1.State, want1) && strings.EqualFold(b2.State, want2)
	}
	waitStatus("both UP", func(s *status) bool { return states(s, "up", "up") })

	n2.MustCtl(t, "eval", `application:set_env(rabbit, loopback_users, [<<"rmqlb-check">>]).`)
	s := waitStatus("rmq2 refused alone", func(s *status) bool {
		return states(s, "up", "degraded") && strings.Contains(reasons(s), alone+": the same login passed on rmq1 since")
	})
	if !strings.Contains(s.text, "login refused: 403 ACCESS_REFUSED") {
		t.Errorf("rmq2's reason is not the broker's refusal:\n%s", s.text)
	}
	if got := refusedAloneJSON(s, "rmq2"); got != `["rmq1"]` {
		t.Errorf("refused_alone of rmq2 in the JSON: %s, want [\"rmq1\"]", got)
	}
	if g1, g2 := aloneGauge("rmq1"), aloneGauge("rmq2"); g1 != "0" || g2 != "1" {
		t.Errorf("rmqlb_healthcheck_login_refused_alone: rmq1 %s, rmq2 %s, want 0 and 1", g1, g2)
	}
	// check-config --checks, all checks at once, says the same.
	out, err := h1.Run(d.bin, "check-config", "--checks", "--config", d.path)
	if want := regexp.MustCompile(`(?m)^amqp/rmq2 .*warning: login refused: 403 ACCESS_REFUSED.* \[refused by this node alone: the same login passed on amqp/rmq1\]$`); err == nil || !want.Match(out) {
		t.Errorf("check-config --checks: %v, want exit 1 and %s:\n%s", err, want, out)
	}
	// down-if-alone: rmq2 leaves rotation.
	d.reload(func(c *daemonConf) { c.Listeners = listeners("down-if-alone") })
	waitStatus("rmq2 DOWN, refused alone", func(s *status) bool {
		return states(s, "up", "down") && strings.Contains(reasons(s), "refused by this node alone (the same login passes on rmq1): login refused: 403 ACCESS_REFUSED")
	})
	if g := aloneGauge("rmq2"); g != "1" {
		t.Errorf("rmqlb_healthcheck_login_refused_alone of rmq2, DOWN for it: %s, want 1", g)
	}
	n2.MustCtl(t, "eval", `application:set_env(rabbit, loopback_users, []).`)
	waitStatus("both UP again", func(s *status) bool { return states(s, "up", "up") && !strings.Contains(reasons(s), alone) })

	// Refused by every node: DEGRADED, not DOWN, under down-if-alone too.
	n1.MustCtl(t, "change_password", "rmqlb-check", "second")
	waitStatus("both refused", func(s *status) bool { return states(s, "degraded", "degraded") })
	for range 5 { // several checks of each: none goes DOWN or is said to be alone
		time.Sleep(300 * time.Millisecond)
		if s, err := d.status(); err != nil || strings.Contains(reasons(s), alone) || !states(s, "degraded", "degraded") ||
			refusedAloneJSON(s, "rmq1") != "null" || refusedAloneJSON(s, "rmq2") != "null" {
			t.Fatalf("refused by every node: %v, want both DEGRADED, neither alone:\n%v", err, s)
		}
		if g1, g2 := aloneGauge("rmq1"), aloneGauge("rmq2"); g1 != "0" || g2 != "0" {
			t.Fatalf("refused by every node: rmqlb_healthcheck_login_refused_alone rmq1 %s, rmq2 %s, want 0", g1, g2)
		}
	}
}

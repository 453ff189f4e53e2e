package integration

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// testAllowedClients reloads the master with allowed_clients naming h2's
// address alone while an AMQP connection of the client host is open: that
// connection is kept and still publishes and gets its message back, the
// client host's new connections are refused before their handshake, and
// an application on h2 connects and is served. The master's status counts
// the refused clients, shows the list and the client host as holding a
// session outside it (rmqlb clients marks it NOT ALLOWED), its log names
// the client host, rmqlb sessions --shutdown --not-allowed closes that
// session alone, and a reload that widens the list to the lab's network
// serves the client host again. Denied by the next reload (denied_clients
// wins over the list), the client host keeps its open connection, has its
// new ones refused and counted apart, and h2 is served.
func testAllowedClients(t *testing.T, rl *rabbitLab) {
	d := rl.daemons["h1"]
	kept, err := rl.dial(5 * time.Second)
	if err != nil {
		t.Fatalf("the client host before the reload: %v", err)
	}
	defer kept.Close()

	h2 := rl.lab.Host("h2").Addr
	only := fmt.Sprintf("    retries: 3\n    allowed_clients: [%s]\n", h2)
	d.reload(func(c *daemonConf) { c.Listeners = strings.Replace(e2eListener(), "    retries: 3\n", only, 1) })
	defer d.reload(func(c *daemonConf) { c.Listeners = e2eListener() })

	if err := publishAndGet(kept, "kept by a narrower allowed_clients"); err != nil {
		t.Fatalf("the client host's connection open before the reload: %v; want it kept", err)
	}
	const refused = 3
	for i := range refused {
		why, err := dialRefused(rl)
		if err != nil {
			t.Fatalf("connection %d of the client host, allowed_clients [%s]: %v", i+1, h2, err)
		}
		t.Logf("connection %d of the client host refused: %v", i+1, why)
	}
	other, err := amqp.DialConfig("amqp://guest:guest@"+vipAP.String()+"/", amqp.Config{Dial: rl.lab.Host("h2").Dialer(5 * time.Second)})
	if err != nil {
		t.Fatalf("h2, the allowed client: %v", err)
	}
	defer other.Close()
	if err := publishAndGet(other, "from the allowed client"); err != nil {
		t.Fatalf("h2, the allowed client: %v", err)
	}

	l := d.mustStatus().list("listeners")[0]
	if l["refused_not_allowed"] != float64(refused) || fmt.Sprint(l["allowed_clients"]) != fmt.Sprintf("[%s/32]", h2) {
		t.Errorf("listener: refused_not_allowed %v, allowed_clients %v; want %d and [%s/32]", l["refused_not_allowed"], l["allowed_clients"], refused, h2)
	}
	if l["clients_not_allowed"] != float64(1) {
		t.Errorf("listener: clients_not_allowed %v; want 1 (the client host's kept connection)", l["clients_not_allowed"])
	}
	if text := d.mustStatusText("--verbose"); !strings.Contains(text, fmt.Sprintf("%d refused (not in allowed_clients)", refused)) ||
		!strings.Contains(text, fmt.Sprintf("allowed clients: %s/32", h2)) ||
		!strings.Contains(text, fmt.Sprintf("1 client address outside allowed_clients holds sessions kept from before the list changed, the busiest %s with 1: rmqlb sessions amqp --not-allowed lists them", rl.client.Addr)) {
		t.Errorf("status of h1 does not count the refused clients, show the list or the client host's kept session:\n%s", text)
	}
	log, err := os.ReadFile(d.proc.LogPath)
	named := false
	for line := range strings.Lines(string(log)) {
		named = named || strings.Contains(line, "the client address is not in allowed_clients") && strings.Contains(line, rl.client.Addr.String())
	}
	if !named {
		t.Errorf("log of h1 has no warning naming the refused client %s (%v)", rl.client.Addr, err)
	}

	// rmqlb clients marks the client host's address.
	out, err := exec.Command(d.bin, "clients", "--socket", d.sock).CombinedOutput()
	row := regexp.MustCompile(`(?m)^amqp +` + regexp.QuoteMeta(rl.client.Addr.String()) + ` +1 NOT ALLOWED$`)
	if err != nil || !row.Match(out) {
		t.Errorf("rmqlb clients on h1 does not mark the client host NOT ALLOWED: %v\n%s", err, out)
	}

	// The operator closes the session the narrower list kept; h2's stays.
	out, err = exec.Command(d.bin, "sessions", "--socket", d.sock, "--shutdown", "amqp", "--not-allowed").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "1 session closed") {
		t.Fatalf("rmqlb sessions --shutdown amqp --not-allowed: %v\n%s", err, out)
	}
	if err := waitFor(10*time.Second, func() (bool, error) { return kept.IsClosed(), fmt.Errorf("the kept connection is open") }); err != nil {
		t.Errorf("after the shutdown of the sessions not allowed: %v", err)
	}
	if err := publishAndGet(other, "h2 after the shutdown of the others"); err != nil {
		t.Errorf("h2, the allowed client, after the shutdown of the sessions not allowed: %v", err)
	}

	// Widened to the lab's network: the client host is served again.
	d.reload(func(c *daemonConf) {
		c.Listeners = strings.Replace(e2eListener(), "    retries: 3\n", "    retries: 3\n    allowed_clients: [10.77.0.0/16]\n", 1)
	})
	c, err := rl.dial(5 * time.Second)
	if err != nil {
		t.Fatalf("the client host once allowed_clients holds its network: %v", err)
	}
	defer c.Close()

	// The client host denied by a reload, though in the allowed network:
	// its open connection is kept, its new ones are refused before their
	// handshake and counted apart, h2 is served.
	d.reload(func(c *daemonConf) {
		c.Listeners = strings.Replace(e2eListener(), "    retries: 3\n",
			fmt.Sprintf("    retries: 3\n    allowed_clients: [10.77.0.0/16]\n    denied_clients: [%s]\n", rl.client.Addr), 1)
	})
	if err := publishAndGet(c, "kept by a longer denied_clients"); err != nil {
		t.Fatalf("the client host's connection open before it was denied: %v; want it kept", err)
	}
	if _, err := dialRefused(rl); err != nil {
		t.Fatalf("a connection of the denied client host: %v", err)
	}
	if err := publishAndGet(other, "h2 beside a denied client"); err != nil {
		t.Errorf("h2 beside the denied client host: %v", err)
	}
	l = d.mustStatus().list("listeners")[0]
	if l["refused_denied"] != float64(1) || fmt.Sprint(l["denied_clients"]) != fmt.Sprintf("[%s/32]", rl.client.Addr) || l["clients_not_allowed"] != float64(1) {
		t.Errorf("listener: refused_denied %v, denied_clients %v, clients_not_allowed %v; want 1, [%s/32], 1",
			l["refused_denied"], l["denied_clients"], l["clients_not_allowed"], rl.client.Addr)
	}
	if text := d.mustStatusText(); !strings.Contains(text, "1 refused (in denied_clients)") ||
		!strings.Contains(text, "1 client address refused by allowed_clients or denied_clients holds sessions kept from before the lists changed") {
		t.Errorf("status of h1 does not count the denied client or show its kept session:\n%s", text)
	}
}

// dialRefused connects the client host to the VIP with AMQP and returns
// how the connection was refused (why), or an error when it went through
// or was left waiting for its handshake instead of closed at once.
func dialRefused(rl *rabbitLab) (why, err error) {
	c, why := rl.dial(5 * time.Second)
	switch {
	case why == nil:
		c.Close()
		return nil, errors.New("it went through")
	case strings.Contains(why.Error(), "no handshake after"):
		return nil, fmt.Errorf("%v; want it refused at once", why)
	}
	return why, nil
}

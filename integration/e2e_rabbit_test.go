package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rmqlb/rmqlb/integration/netlab"
	"github.com/rmqlb/rmqlb/internal/rabbittest"
)

// Check settings of the e2e listener (fastinterval is the interval): a
// frozen broker is DOWN within interval + (fall-1) x interval + timeout =
// 3.5 s.
const (
	chkInterval = time.Second
	chkTimeout  = 500 * time.Millisecond
	chkFall     = 3
)

// e2eListener is the listener on VIP:5672 over the brokers of h1 and h2.
func e2eListener() string {
	return fmt.Sprintf(`  - name: amqp
    bind: %s
    policy: roundrobin
    connect_timeout: 2s
    retries: 3
    on_marked_down: shutdown-sessions
    graceful_timeout: 2s
    check: {type: amqp, mode: handshake, interval: %s, timeout: %s, rise: 2, fall: %d}
    backends:
      - {name: rmq1, address: 10.77.0.1:5672}
      - {name: rmq2, address: 10.77.0.2:5672}
`, vipAP, chkInterval, chkTimeout, chkFall)
}

// rabbitLab is the standard lab with a two-node RabbitMQ cluster on h1 and
// h2 and rmqlb on both (priorities 150 and 100) owning the VIP and
// proxying VIP:5672 to both brokers.
type rabbitLab struct {
	lab     *netlab.Lab
	nodes   map[string]*rabbittest.Node
	daemons map[string]*daemon
	client  *netlab.Host
}

func newRabbitLab(t *testing.T) *rabbitLab {
	t.Helper()
	if err := rabbittest.Available(); err != nil {
		t.Skip(err)
	}
	rmqlbBinary(t)
	l := newLab(t)
	rl := &rabbitLab{lab: l, nodes: map[string]*rabbittest.Node{}, daemons: map[string]*daemon{}, client: l.Host("client")}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, name := range []string{"h1", "h2"} {
		h := l.Host(name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := rabbittest.Start(context.Background(), rabbittest.Options{
				Name: "rabbit", Host: h.Name, IP: h.Addr, NetNS: h.NS,
				// guest may log in from anywhere: clients come through the proxy.
				Config: []string{"loopback_users.guest = false"},
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			rl.nodes[name] = n
		}()
	}
	wg.Wait()
	for _, n := range rl.nodes {
		t.Cleanup(func() {
			_ = n.Thaw()
			if err := n.Stop(); err != nil {
				t.Logf("stopping %s: %v", n.NodeName, err)
			}
		})
	}
	if len(errs) > 0 {
		t.Fatal(errs[0])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := rl.nodes["h2"].JoinCluster(ctx, rl.nodes["h1"]); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"h1", "h2"} {
		// Each host gives up the VIP while its own broker is down
		// (150 - 60 = 90 < 100), as the blog post's rmqlb config does.
		rl.daemons[name] = startDaemon(t, l, l.Host(name), daemonConf{
			LogLevel: "info",
			VRRP: []vrrpConf{{Priority: hostPrios[name],
				TrackCheck: "rmq" + name[1:], TrackWeight: -60}},
			Listeners: e2eListener(),
		})
	}
	if err := waitSoleHolder(l, l.Host("h1"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	// Both backends UP on the master before the test starts.
	if err := waitFor(15*time.Second, func() (bool, error) {
		s, err := rl.daemons["h1"].status()
		if err != nil {
			return false, err
		}
		for _, b := range []string{"rmq1", "rmq2"} {
			bs := s.backend(b)
			if bs == nil || !strings.EqualFold(bs.State, "up") {
				return false, fmt.Errorf("backend %s: %+v", b, bs)
			}
		}
		return true, nil
	}); err != nil {
		t.Fatalf("backends not up: %v", err)
	}
	return rl
}

// startRabbit starts a RabbitMQ node named name on host h, with config's lines added to its
// rabbitmq.conf, and stops it (thawed first) when t ends.
func startRabbit(t *testing.T, h *netlab.Host, name string, config ...string) *rabbittest.Node {
	t.Helper()
	return startRabbitWith(t, h, rabbittest.Options{Name: name, Config: config})
}

// startRabbitWith is startRabbit with more of the node's options (its
// plugins): o's host, address and namespace are h's.
func startRabbitWith(t *testing.T, h *netlab.Host, o rabbittest.Options) *rabbittest.Node {
	t.Helper()
	o.Host, o.IP, o.NetNS = h.Name, h.Addr, h.NS
	n, err := rabbittest.Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = n.Thaw()
		if err := n.Stop(); err != nil {
			t.Logf("stopping %s: %v", n.NodeName, err)
		}
	})
	return n
}

// dial opens an AMQP connection to the VIP from the client host, giving up
// after timeout (handshake included).
func (rl *rabbitLab) dial(timeout time.Duration) (*amqp.Connection, error) {
	type res struct {
		c   *amqp.Connection
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := amqp.DialConfig("amqp://guest:guest@"+vipAP.String()+"/", amqp.Config{
			Dial:      rl.client.Dialer(timeout),
			Heartbeat: 2 * time.Second,
		})
		ch <- res{c, err}
	}()
	select {
	case r := <-ch:
		return r.c, r.err
	case <-time.After(timeout):
		go func() {
			if r := <-ch; r.c != nil {
				r.c.Close()
			}
		}()
		return nil, fmt.Errorf("AMQP dial through the VIP: no handshake after %v", timeout)
	}
}

// dialMany opens n connections in parallel (8 at a time) and returns them
// with the errors of those that failed.
func (rl *rabbitLab) dialMany(n int) ([]*amqp.Connection, []error) {
	var mu sync.Mutex
	var conns []*amqp.Connection
	var errs []error
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := rl.dial(5 * time.Second)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			conns = append(conns, c)
		}()
	}
	wg.Wait()
	return conns, errs
}

func closeAll(conns []*amqp.Connection) {
	for _, c := range conns {
		c.Close()
	}
}

// TestE2ERabbitMQ runs real RabbitMQ 3.10 nodes on h1 and h2 behind rmqlb
// on both hosts, with amqp091-go clients on the client host:
//   - 100 AMQP connections through the VIP;
//   - rmqlb sessions names, for each AMQP client, the source address its
//     broker lists the connection under (rabbitmqctl list_connections);
//   - with maxconn_per_client set by a reload, a client host that opens
//     AMQP connections and keeps them is refused past it, while another
//     address is served, and the master's status names it;
//   - rmqlb backend amqp/rmq1 move-sessions moves rmq1's clients to rmq2
//     at the pace asked, under a producer and a consumer that lose
//     nothing; rmqlb rebalance spreads 30 reconnecting clients, all on
//     rmq2, over both brokers again;
//   - with rmq2 made a backup by a reload, AMQP clients all go to rmq1,
//     and to rmq2 while rmq1 takes none (operator's weight 0);
//   - a producer (publisher confirms) and a consumer through the VIP keep
//     working over two failovers of the VIP (SIGTERM of the master rmqlb,
//     then its restart and preemption), and every confirmed message arrives;
//   - a broker frozen with SIGSTOP is DOWN within fall x interval + timeout,
//     its sessions through the proxy are closed, and 100 new AMQP
//     connections through the VIP all succeed;
//   - h1's frozen broker moves the VIP to h2 (track), and back once thawed;
//   - rmqlb upgrade of the master under the producer, the consumer and a
//     connect probe every 10 ms: no failed connect, no reconnect, no VRRP
//     transition on either host, every confirmed message received;
//   - with the checks wanting the cluster's name, a broker reset into a
//     cluster of its own is DOWN, and new clients go to the other, until
//     it joined the cluster again;
//   - a broker frozen and thawed until the checks took it DOWN three times
//     within ten minutes makes the master's status say that it flaps.
func TestE2ERabbitMQ(t *testing.T) {
	netlab.Require(t, "bridge")
	rl := newRabbitLab(t)

	t.Run("100-connections", func(t *testing.T) {
		conns, errs := rl.dialMany(100)
		defer closeAll(conns)
		if len(errs) > 0 {
			t.Fatalf("%d of 100 AMQP connections failed; first: %v", len(errs), errs[0])
		}
		// Round robin puts half the sessions on each broker; the master's
		// status must show all 100.
		s := rl.daemons["h1"].mustStatus()
		total := 0.0
		for _, b := range []string{"rmq1", "rmq2"} {
			bs := s.backend(b)
			if bs == nil {
				t.Errorf("status of h1 has no backend %s:\n%s", b, s.text)
				continue
			}
			n, ok := bs.raw["active_conns"].(float64)
			if !ok {
				t.Errorf("backend %s: no active_conns in %v", b, bs.raw)
				continue
			}
			t.Logf("backend %s: %v active", b, n)
			if n == 0 {
				t.Errorf("backend %s has no session: the connections were not spread", b)
			}
			total += n
		}
		if total != 100 {
			t.Errorf("h1 reports %v active sessions, want the 100 open", total)
		}
	})

	t.Run("sessions-lead-to-clients", func(t *testing.T) {
		testSessionsLeadToClients(t, rl)
	})

	t.Run("client-that-leaks-connections", func(t *testing.T) {
		testLeakingClient(t, rl)
	})

	t.Run("clients-outside-allowed-clients", func(t *testing.T) {
		testAllowedClients(t, rl)
	})

	t.Run("move-sessions-before-maintenance", func(t *testing.T) {
		testMoveSessions(t, rl)
	})

	t.Run("rebalance-after-restart", func(t *testing.T) {
		testRebalance(t, rl)
	})

	t.Run("backup-standby", func(t *testing.T) {
		testBackupStandby(t, rl)
	})

	t.Run("producer-consumer-across-failover", func(t *testing.T) {
		testProducerConsumerFailover(t, rl)
	})

	t.Run("frozen-broker", func(t *testing.T) {
		testFrozenBroker(t, rl)
	})

	t.Run("track-moves-vip", func(t *testing.T) {
		testTrackMovesVIP(t, rl)
	})

	t.Run("upgrade-under-load", func(t *testing.T) {
		testUpgradeUnderLoad(t, rl)
	})

	t.Run("upgrade-spreads-reconnects", func(t *testing.T) {
		testUpgradeSpreadsReconnects(t, rl)
	})

	// Last: it resets rmq2 and joins it to the cluster again.
	t.Run("broker-reset-into-its-own-cluster", func(t *testing.T) {
		testBrokerReset(t, rl)
	})

	t.Run("broker-that-flaps", func(t *testing.T) {
		testBrokerFlaps(t, rl)
	})
}

// testBrokerFlaps freezes rmq2 until it is DOWN and thaws it until it is UP
// again, until h1's checks took it DOWN three times within ten minutes
// (the earlier subtests' DOWNs of rmq2 count): each DOWN is counted in
// h1's status (downs, recent_downs), its verdict says that rmq2 flaps from
// the third on, while rmq2 is UP, and not before.
func testBrokerFlaps(t *testing.T, rl *rabbitLab) {
	d := rl.daemons["h1"]
	rmq2 := rl.nodes["h2"]
	// recent counts the DOWNs within nine minutes, maybe those within
	// eleven: a minute's margin either side of the daemon's ten.
	var recent, maybe int
	downs := func() (total float64, reasons []any) {
		s := d.mustStatus()
		c := checkOf(s, "amqp/rmq2")
		total, _ = c["downs"].(float64)
		ds, _ := c["recent_downs"].([]any)
		recent, maybe = 0, 0
		for _, at := range ds {
			t, err := time.Parse(time.RFC3339Nano, fmt.Sprint(at))
			if err != nil {
				continue
			}
			if time.Since(t) < 9*time.Minute {
				recent++
			}
			if time.Since(t) < 11*time.Minute {
				maybe++
			}
		}
		reasons, _ = s.raw.(map[string]any)["verdict"].(map[string]any)["reasons"].([]any)
		return total, reasons
	}
	flaps := func(reasons []any) bool { return strings.Contains(fmt.Sprint(reasons), "backend amqp/rmq2 flaps") }
	if err := d.waitBackend("rmq2", "up", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	total, reasons := downs()
	for cycle := 1; cycle == 1 || recent < 3; cycle++ {
		if cycle > 3 {
			t.Fatalf("%d DOWNs within ten minutes after three cycles", recent)
		}
		if err := rmq2.Freeze(); err != nil {
			t.Fatal(err)
		}
		err := d.waitBackend("rmq2", "down", checkDownBound(chkInterval, chkInterval, chkTimeout, chkFall).d+5*time.Second)
		if terr := rmq2.Thaw(); terr != nil {
			t.Fatal(terr)
		}
		if err != nil {
			t.Fatalf("cycle %d: rmq2 frozen and not DOWN: %v", cycle, err)
		}
		if err := d.waitBackend("rmq2", "up", 30*time.Second); err != nil {
			t.Fatalf("cycle %d: rmq2 thawed and not UP: %v", cycle, err)
		}
		was := total
		total, reasons = downs()
		t.Logf("cycle %d: rmq2 went DOWN %v times, %d of them within the last nine minutes", cycle, total, recent)
		if total != was+1 {
			t.Errorf("cycle %d: h1 counts %v DOWNs of rmq2, want %v", cycle, total, was+1)
		}
		if maybe < 3 && flaps(reasons) {
			t.Errorf("cycle %d: %d DOWNs within ten minutes, and the verdict says rmq2 flaps: %q", cycle, maybe, reasons)
		}
	}
	if !flaps(reasons) {
		t.Errorf("rmq2 UP after %d DOWNs within ten minutes: the verdict does not say it flaps: %q", recent, reasons)
	}
	if out := d.mustStatusText(); !strings.Contains(out, "flaps") {
		t.Errorf("rmqlb status does not say that rmq2 flaps:\n%s", out)
	}
}

// checkOf returns the check of backend id ("amqp/rmq1") in status s, an
// empty object if it has none.
func checkOf(s *status, id string) map[string]any {
	checks, _ := s.raw.(map[string]any)["checks"].([]any)
	for _, c := range checks {
		if c, _ := c.(map[string]any); fmt.Sprint(c["backend"]) == id {
			return c
		}
	}
	return map[string]any{}
}

// testBrokerReset names the cluster (rabbitmqctl set_cluster_name) and
// reloads the master with its checks wanting it, then resets rmq2
// (stop_app, reset, start_app): rmq2 then passes a handshake as a
// cluster of its own, and its check fails, naming both clusters; rmq2 is
// DOWN and 10 new AMQP clients through the VIP all go to rmq1. Once
// rmq2 has joined rmq1 again it is UP, of the named cluster.
func testBrokerReset(t *testing.T, rl *rabbitLab) {
	d := rl.daemons["h1"]
	rmq1, rmq2 := rl.nodes["h1"], rl.nodes["h2"]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := rmq1.Ctl(ctx, "set_cluster_name", "rmqlb-e2e"); err != nil {
		t.Fatal(err)
	}
	d.reload(func(c *daemonConf) {
		c.Listeners = strings.Replace(e2eListener(), "mode: handshake,", "mode: handshake, cluster: rmqlb-e2e,", 1)
	})
	defer d.reload(func(c *daemonConf) { c.Listeners = e2eListener() })
	clusters := func() map[string]string {
		s := d.mustStatus()
		out := map[string]string{}
		for _, id := range []string{"amqp/rmq1", "amqp/rmq2"} {
			out[id] = fmt.Sprint(checkOf(s, id)["cluster"])
		}
		return out
	}
	// The checks of the reloaded file hear the new name from both.
	if err := waitFor(30*time.Second, func() (bool, error) {
		c := clusters()
		return c["amqp/rmq1"] == "rmqlb-e2e" && c["amqp/rmq2"] == "rmqlb-e2e", fmt.Errorf("the checks hear %v", c)
	}); err != nil {
		t.Fatalf("named cluster: %v", err)
	}
	if err := d.waitBackendsUp(5*time.Second, "rmq1", "rmq2"); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"stop_app"}, {"reset"}, {"start_app"}} {
		if _, err := rmq2.Ctl(ctx, args...); err != nil {
			t.Fatalf("rabbitmqctl %s on rmq2: %v", strings.Join(args, " "), err)
		}
	}
	// rmq2 is DOWN, and once it runs again its checks fail for the
	// cluster it names. (While stop_app to start_app runs, they fail as
	// refused connections, and may take it DOWN for that first.) A node
	// without a cluster name names itself: its node name, with the
	// host's own name after the @.
	name, _, _ := strings.Cut(rmq2.NodeName, "@")
	want := regexp.MustCompile(`broker in another cluster: it names cluster "` + regexp.QuoteMeta(name) + `@[^"]+", not "rmqlb-e2e" \(reset, or not joined to the cluster\?\)`)
	var lastErr string
	if err := waitFor(30*time.Second, func() (bool, error) {
		s := d.mustStatus()
		b := s.backend("rmq2")
		lastErr, _ = checkOf(s, "amqp/rmq2")["last_error"].(string)
		return b != nil && strings.EqualFold(b.State, "down") && want.MatchString(lastErr), fmt.Errorf("rmq2 %+v, its check's last error %q", b, lastErr)
	}); err != nil {
		t.Fatalf("after the reset: %v; want DOWN and a last error matching %s", err, want)
	}
	t.Logf("rmq2 reset: DOWN, its check fails: %s", lastErr)
	conns, errs := rl.dialMany(10)
	defer closeAll(conns)
	if len(errs) > 0 {
		t.Fatalf("%d of 10 AMQP connections failed with rmq2 reset; first: %v", len(errs), errs[0])
	}
	if err := waitActive(d, map[string]int{"rmq1": 10, "rmq2": 0}, 5*time.Second); err != nil {
		t.Error(err)
	}
	if err := rmq2.JoinCluster(ctx, rmq1); err != nil {
		t.Fatal(err)
	}
	if err := d.waitBackend("rmq2", "up", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if c := clusters(); c["amqp/rmq2"] != "rmqlb-e2e" {
		t.Errorf("rmq2 joined again: its check hears %v", c)
	}
}

// testSessionsLeadToClients opens 6 AMQP connections through the VIP and
// lists the master's sessions with `rmqlb sessions --json`: each client is
// listed once, and its session's source (the proxy's side of the backend
// connection) is a connection its backend's broker lists in
// `rabbitmqctl list_connections peer_host peer_port`.
func testSessionsLeadToClients(t *testing.T, rl *rabbitLab) {
	conns, errs := rl.dialMany(6)
	defer closeAll(conns)
	if len(errs) > 0 {
		t.Fatalf("%d of 6 AMQP connections failed; first: %v", len(errs), errs[0])
	}
	d := rl.daemons["h1"]
	out, err := exec.Command(d.bin, "sessions", "--socket", d.sock, "--json").Output()
	if err != nil {
		t.Fatalf("rmqlb sessions --json: %v\n%s", err, out)
	}
	var answer struct {
		Total    int `json:"total"`
		Sessions []struct {
			Client         string `json:"client"`
			Backend        string `json:"backend"`
			BackendAddress string `json:"backend_address"`
			Source         string `json:"source"`
			State          string `json:"state"`
		} `json:"sessions"`
	}
	if err := json.Unmarshal(out, &answer); err != nil {
		t.Fatalf("rmqlb sessions --json: %v\n%s", err, out)
	}
	// What each broker lists as its clients' addresses.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	peers := map[string]map[string]bool{} // backend address -> "peer_host:peer_port"
	for host, ip := range map[string]string{"h1": "10.77.0.1", "h2": "10.77.0.2"} {
		list, err := rl.nodes[host].Ctl(ctx, "list_connections", "peer_host", "peer_port", "--silent", "--no-table-headers")
		if err != nil {
			t.Fatalf("rabbitmqctl list_connections on %s: %v", host, err)
		}
		peers[ip+":5672"] = map[string]bool{}
		for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
			if f := strings.Fields(line); len(f) == 2 {
				peers[ip+":5672"][net.JoinHostPort(f[0], f[1])] = true
			}
		}
	}
	bySource := map[string]int{}
	for _, c := range conns {
		client := c.LocalAddr().String()
		n := 0
		for _, s := range answer.Sessions {
			if s.Client != client {
				continue
			}
			n++
			if s.State != "established" || !peers[s.BackendAddress][s.Source] {
				t.Errorf("client %s: session to %s (%s) from %s, %s; the broker lists %v", client, s.Backend, s.BackendAddress, s.Source, s.State, peers[s.BackendAddress])
			}
			bySource[s.Source]++
		}
		if n != 1 {
			t.Errorf("client %s: %d sessions listed, want 1:\n%s", client, n, out)
		}
	}
	t.Logf("%d sessions listed; %d AMQP clients traced to their broker connections", answer.Total, len(bySource))
}

// testTrackMovesVIP freezes h1's own broker: the track rule drops h1's
// priority to 90, h2 (100) preempts and owns the VIP, and AMQP clients
// through the VIP still connect. Thawed, the broker comes back UP and h1
// takes the VIP back.
func testTrackMovesVIP(t *testing.T, rl *rabbitLab) {
	h1, h2 := rl.lab.Host("h1"), rl.lab.Host("h2")
	// The previous subtest thawed rmq2; wait until both are UP again.
	for _, b := range []string{"rmq1", "rmq2"} {
		if err := rl.daemons["h1"].waitBackend(b, "up", 15*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if err := waitSoleHolder(rl.lab, h1, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	n := rl.nodes["h1"]
	freeze := time.Now()
	if err := n.Freeze(); err != nil {
		t.Fatal(err)
	}
	defer n.Thaw()
	b := trackMoveBound(chkInterval, chkInterval, chkTimeout, chkFall, advert, 100)
	if err := waitSoleHolder(rl.lab, h2, b.d+5*time.Second); err != nil {
		t.Fatalf("VIP did not move to h2 while h1's broker is frozen: %v", err)
	}
	moved := time.Since(freeze)
	in, err := rl.daemons["h1"].instance("vip")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("h1 %s priority %d/%d, reason %q", in.State, in.ConfiguredPriority, in.EffectivePriority, in.Reason)
	if in.EffectivePriority != 90 {
		t.Errorf("h1 effective priority %d, want 90", in.EffectivePriority)
	}
	within(t, "h1's broker frozen: VIP on h2 alone", moved, b)
	if err := rl.daemons["h2"].waitBackend("rmq1", "down", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	conns, errs := rl.dialMany(20)
	closeAll(conns)
	if len(errs) > 0 {
		t.Errorf("%d of 20 AMQP connections through the VIP on h2 failed; first: %v", len(errs), errs[0])
	}
	if err := n.Thaw(); err != nil {
		t.Fatal(err)
	}
	if err := waitSoleHolder(rl.lab, h1, 15*time.Second); err != nil {
		t.Fatalf("VIP did not return to h1 after its broker recovered: %v", err)
	}
}

// pcStats is what the producer and consumer saw.
type pcStats struct {
	mu        sync.Mutex
	confirmed map[int]time.Time
	received  map[int]bool
	reconnP   int
	reconnC   int
	dups      int
}

// confirmedAtLeast returns a condition for waitFor: the producer has had
// n messages confirmed.
func (st *pcStats) confirmedAtLeast(n int) func() (bool, error) {
	return func() (bool, error) {
		st.mu.Lock()
		defer st.mu.Unlock()
		return len(st.confirmed) >= n, fmt.Errorf("%d confirmed", len(st.confirmed))
	}
}

// allReceived reports whether every confirmed message reached the
// consumer, with how many did not as the error (a waitFor condition).
func (st *pcStats) allReceived() (bool, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	missing := 0
	for seq := range st.confirmed {
		if !st.received[seq] {
			missing++
		}
	}
	return missing == 0, fmt.Errorf("%d of %d confirmed messages not received", missing, len(st.confirmed))
}

func testProducerConsumerFailover(t *testing.T, rl *rabbitLab) {
	flow := rl.startFlow("rmqlb-e2e")
	defer flow.stop()
	st := flow.st

	time.Sleep(2 * time.Second)
	h1, h2 := rl.lab.Host("h1"), rl.lab.Host("h2")
	f1 := time.Now()
	// graceful_timeout is 2 s: sessions that came through h1 cannot finish
	// once the VIP has moved (their packets now reach h2), so the daemon
	// waits that long for them.
	if err := rl.daemons["h1"].proc.Stop(10 * time.Second); err != nil {
		t.Errorf("stopping rmqlb h1: %v", err)
	}
	t.Logf("rmqlb h1 exited %v after SIGTERM", time.Since(f1).Round(time.Millisecond))
	if err := waitSoleHolder(rl.lab, h2, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	f2 := time.Now()
	rl.daemons["h1"].start()
	if err := waitSoleHolder(rl.lab, h1, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	flow.stopProducing()

	// Every confirmed message must reach the consumer.
	err := waitFor(20*time.Second, st.allReceived)
	st.mu.Lock()
	defer st.mu.Unlock()
	var ts []time.Time
	for _, c := range st.confirmed {
		ts = append(ts, c)
	}
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	// gap returns the longest time without a confirm from `from` to the
	// last confirm before `to`, and the number of confirms in between.
	gap := func(from, to time.Time) (time.Duration, int) {
		last, worst, n := from, time.Duration(0), 0
		for _, c := range ts {
			if !c.After(from) || c.After(to) {
				continue
			}
			worst = max(worst, c.Sub(last))
			last = c
			n++
		}
		return worst, n
	}
	g1, n1 := gap(f1, f2)
	g2, n2 := gap(f2, time.Now())
	t.Logf("producer: %d confirmed, consumer: %d distinct received (%d duplicates); reconnects producer %d consumer %d",
		len(st.confirmed), len(st.received), st.dups, st.reconnP, st.reconnC)
	t.Logf("failover 1 (SIGTERM rmqlb h1): longest gap between confirms %v, %d confirms after", g1.Round(time.Millisecond), n1)
	t.Logf("failover 2 (restart, h1 preempts): longest gap between confirms %v, %d confirms after", g2.Round(time.Millisecond), n2)
	if err != nil {
		t.Error(err)
	}
	if n1 == 0 || n2 == 0 {
		t.Errorf("the producer made no progress after a failover (%d, %d confirms)", n1, n2)
	}
}

// session runs serve on a channel with queue declared, over a connection
// through the VIP made again after any error, until ctx ends or stop is
// closed (nil: never). serve returns when the connection is of no more use;
// each connection that ended counts one in *reconn, under st.mu.
func (rl *rabbitLab) session(ctx context.Context, stop <-chan struct{}, queue string, st *pcStats, reconn *int, serve func(c *amqp.Connection, ch *amqp.Channel)) {
	for ctx.Err() == nil {
		select {
		case <-stop:
			return
		default:
		}
		c, err := rl.dial(3 * time.Second)
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		func() {
			defer c.Close()
			ch, err := c.Channel()
			if err != nil {
				return
			}
			if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
				return
			}
			serve(c, ch)
		}()
		st.mu.Lock()
		*reconn++
		st.mu.Unlock()
	}
}

// pcFlow is a producer with publisher confirms and a consumer of one
// queue, both through the VIP (produce, consume), and what they count.
type pcFlow struct {
	st           *pcStats
	stopProducer chan struct{}
	stopOnce     sync.Once
	cancel       context.CancelFunc
	wg           sync.WaitGroup
}

// startFlow starts a producer and a consumer of queue; stop ends them.
func (rl *rabbitLab) startFlow(queue string) *pcFlow {
	ctx, cancel := context.WithCancel(context.Background())
	f := &pcFlow{st: &pcStats{confirmed: map[int]time.Time{}, received: map[int]bool{}}, stopProducer: make(chan struct{}), cancel: cancel}
	f.wg.Go(func() { rl.produce(ctx, f.stopProducer, queue, f.st) })
	f.wg.Go(func() { rl.consume(ctx, queue, f.st) })
	return f
}

// stopProducing makes the producer stop publishing; the consumer goes
// on. It may be called more than once.
func (f *pcFlow) stopProducing() { f.stopOnce.Do(func() { close(f.stopProducer) }) }

// stop ends the producer and the consumer and waits for them. It may be
// called more than once.
func (f *pcFlow) stop() {
	f.stopProducing()
	f.cancel()
	f.wg.Wait()
}

// produce publishes numbered persistent messages with confirms, one at a
// time, reconnecting through the VIP on any error, until stop is closed.
func (rl *rabbitLab) produce(ctx context.Context, stop <-chan struct{}, queue string, st *pcStats) {
	seq := 0
	rl.session(ctx, stop, queue, st, &st.reconnP, func(_ *amqp.Connection, ch *amqp.Channel) {
		if err := ch.Confirm(false); err != nil {
			return
		}
		for ctx.Err() == nil {
			select {
			case <-stop:
				return
			default:
			}
			pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			dc, err := ch.PublishWithDeferredConfirmWithContext(pctx, "", queue, false, false, amqp.Publishing{
				DeliveryMode: amqp.Persistent, Body: []byte(strconv.Itoa(seq)),
			})
			if err != nil {
				cancel()
				return
			}
			ok, err := dc.WaitContext(pctx)
			cancel()
			if err != nil || !ok {
				return // republish seq on the next connection
			}
			st.mu.Lock()
			st.confirmed[seq] = time.Now()
			st.mu.Unlock()
			seq++
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// consume receives and acks messages, reconnecting through the VIP on any
// error, until ctx ends.
func (rl *rabbitLab) consume(ctx context.Context, queue string, st *pcStats) {
	rl.session(ctx, nil, queue, st, &st.reconnC, func(c *amqp.Connection, ch *amqp.Channel) {
		if err := ch.Qos(100, 0, false); err != nil {
			return
		}
		msgs, err := ch.ConsumeWithContext(ctx, queue, "", false, false, false, false, nil)
		if err != nil {
			return
		}
		closed := c.NotifyClose(make(chan *amqp.Error, 1))
		for {
			select {
			case <-ctx.Done():
				return
			case <-closed:
				return
			case m, ok := <-msgs:
				if !ok {
					return
				}
				seq, _ := strconv.Atoi(string(m.Body))
				st.mu.Lock()
				if st.received[seq] {
					st.dups++
				}
				st.received[seq] = true
				st.mu.Unlock()
				_ = m.Ack(false)
			}
		}
	})
}

// testBackupStandby reloads the master with rmq2 as a backup broker (an
// active/standby setup): 10 AMQP connections through the VIP all go to
// rmq1; with rmq1 at the operator's weight 0 (it takes no new client,
// keeps its sessions) the next 10 all go to rmq2; with its weight reset,
// new ones go to rmq1 again. The file is put back at the end.
func testBackupStandby(t *testing.T, rl *rabbitLab) {
	d := rl.daemons["h1"]
	d.reload(func(c *daemonConf) {
		c.Listeners = strings.Replace(e2eListener(), "address: 10.77.0.2:5672}", "address: 10.77.0.2:5672, backup: true}", 1)
	})
	defer d.reload(func(c *daemonConf) { c.Listeners = e2eListener() })
	backend := func(args ...string) {
		t.Helper()
		out, err := exec.Command(d.bin, append([]string{"backend", "--socket", d.sock, "amqp/rmq1"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("rmqlb backend amqp/rmq1 %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	dial := func(want map[string]int) {
		t.Helper()
		conns, errs := rl.dialMany(10)
		t.Cleanup(func() { closeAll(conns) })
		if len(errs) > 0 {
			t.Fatalf("%d of 10 AMQP connections failed; first: %v", len(errs), errs[0])
		}
		if err := waitActive(d, want, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	dial(map[string]int{"rmq1": 10, "rmq2": 0})
	backend("weight", "0")
	defer exec.Command(d.bin, "backend", "--socket", d.sock, "amqp/rmq1", "weight", "reset").Run() // if the test fails before
	dial(map[string]int{"rmq1": 10, "rmq2": 10})
	s := d.mustStatus()
	reasons, _ := s.raw.(map[string]any)["verdict"].(map[string]any)["reasons"].([]any)
	if !slices.Contains(reasons, any("listener amqp: no active backend serves: new clients go to backup rmq2")) {
		t.Errorf("the verdict does not say the clients go to rmq2: %q", reasons)
	}
	backend("weight", "reset")
	dial(map[string]int{"rmq1": 20, "rmq2": 10})
}

func testFrozenBroker(t *testing.T, rl *rabbitLab) {
	conns, errs := rl.dialMany(100)
	defer closeAll(conns)
	if len(errs) > 0 {
		t.Fatalf("%d of 100 AMQP connections failed before the freeze; first: %v", len(errs), errs[0])
	}
	closedAt := make([]chan *amqp.Error, len(conns))
	for i, c := range conns {
		closedAt[i] = c.NotifyClose(make(chan *amqp.Error, 1))
	}
	d := rl.daemons["h1"]
	frozen := rl.nodes["h2"]
	freeze := time.Now()
	if err := frozen.Freeze(); err != nil {
		t.Fatal(err)
	}
	defer frozen.Thaw()
	b := checkDownBound(chkInterval, chkInterval, chkTimeout, chkFall)
	var downAfter time.Duration
	err := waitFor(b.d+5*time.Second, func() (bool, error) {
		s, err := d.status()
		if err != nil {
			return false, err
		}
		bs := s.backend("rmq2")
		if bs == nil {
			return false, fmt.Errorf("no backend rmq2 in status")
		}
		if strings.EqualFold(bs.State, "down") {
			downAfter = time.Since(freeze)
			// The daemon's own time of the change, when it reports it,
			// is exact; the poll adds its own latency.
			if lc, ok := bs.raw["last_change"].(string); ok {
				if at, err := time.Parse(time.RFC3339Nano, lc); err == nil && at.After(freeze) {
					downAfter = at.Sub(freeze)
				}
			}
			t.Logf("rmq2 down: %v", bs.raw)
			return true, nil
		}
		return false, fmt.Errorf("rmq2 is %s", bs.State)
	})
	if err != nil {
		t.Fatalf("frozen broker not marked down: %v", err)
	}
	within(t, "frozen broker DOWN after SIGSTOP", downAfter, b)

	// Every old session is either closed by the proxy or alive on rmq1.
	var wg sync.WaitGroup
	var mu sync.Mutex
	closed, alive, hung := 0, 0, 0
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := "hung"
			select {
			case <-closedAt[i]:
				res = "closed"
			case <-time.After(2 * time.Second):
				done := make(chan error, 1)
				go func() {
					ch, err := c.Channel()
					if err == nil {
						ch.Close()
					}
					done <- err
				}()
				select {
				case err := <-done:
					if err == nil {
						res = "alive"
					} else {
						res = "closed"
					}
				case <-time.After(3 * time.Second):
				}
			}
			mu.Lock()
			defer mu.Unlock()
			switch res {
			case "closed":
				closed++
			case "alive":
				alive++
			default:
				hung++
			}
		}()
	}
	wg.Wait()
	t.Logf("old sessions after DOWN: %d closed, %d alive on the other broker, %d hung", closed, alive, hung)
	if hung > 0 {
		t.Errorf("%d sessions to the frozen broker were not closed", hung)
	}
	if closed == 0 {
		t.Errorf("no session was closed: none went to the frozen broker, the test proves nothing")
	}

	conns2, errs := rl.dialMany(100)
	defer closeAll(conns2)
	if len(errs) > 0 {
		t.Errorf("%d of 100 new AMQP connections failed with rmq2 frozen; first: %v", len(errs), errs[0])
	}
}

// testUpgradeUnderLoad upgrades the master's rmqlb (rmqlb upgrade) while a
// producer with confirms and a consumer run through the VIP and a probe
// connects every 10 ms: no connect fails, neither client reconnects (their
// sessions stay with the old process, whose graceful_timeout is raised to
// 60 s for the test), neither host's VRRP instance changes state, and
// every confirmed message is received. The old process exits once the
// clients end their sessions.
func testUpgradeUnderLoad(t *testing.T, rl *rabbitLab) {
	h1 := rl.lab.Host("h1")
	d1, d2 := rl.daemons["h1"], rl.daemons["h2"]
	rl.waitMasterServing(t)
	conf, err := os.ReadFile(d1.path)
	if err != nil {
		t.Fatal(err)
	}
	setGraceful := func(g string) {
		t.Helper()
		reloadWith(t, d1, conf, "graceful_timeout: 2s", "graceful_timeout: "+g)
	}
	setGraceful("60s")
	transitions := func(d *daemon) uint64 {
		in, err := d.instance("vip")
		if err != nil {
			t.Fatal(err)
		}
		return in.Counters.Transitions
	}
	tr2 := transitions(d2)
	oldPID := int(d1.mustStatus().raw.(map[string]any)["pid"].(float64))

	flow := rl.startFlow("rmqlb-upgrade")
	defer flow.stop()
	st := flow.st
	if err := waitFor(10*time.Second, st.confirmedAtLeast(20)); err != nil {
		t.Fatal(err)
	}
	probe, err := rl.client.StartProbe(vipAP, netlab.ProbeConfig{})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	st.mu.Lock()
	reconnP, reconnC, before := st.reconnP, st.reconnC, len(st.confirmed)
	st.mu.Unlock()

	start := time.Now()
	out, err := h1.Run(d1.bin, "upgrade", "--socket", d1.sock)
	if err != nil {
		t.Fatalf("upgrade: %v\n%s", err, out)
	}
	t.Logf("upgrade (%v): %s", time.Since(start).Round(time.Millisecond), strings.ReplaceAll(strings.TrimSpace(string(out)), "\n", "; "))
	time.Sleep(3 * time.Second)
	res := probe.Stop()
	t.Logf("probe: %s", res)
	if lost := lostConnects(t, res); lost != 0 {
		t.Errorf("%d failed connects through the upgrade, want 0", lost)
	}
	s := d1.mustStatus()
	newPID := int(s.raw.(map[string]any)["pid"].(float64))
	if newPID == oldPID {
		t.Fatalf("status still answered by pid %d", oldPID)
	}
	// A new AMQP connection is the new process's.
	c, err := rl.dial(5 * time.Second)
	if err != nil {
		t.Errorf("AMQP connection after the upgrade: %v", err)
	} else {
		c.Close()
	}
	st.mu.Lock()
	after := len(st.confirmed) - before
	dP, dC := st.reconnP-reconnP, st.reconnC-reconnC
	st.mu.Unlock()
	t.Logf("after the upgrade: %d more confirms, reconnects producer +%d consumer +%d", after, dP, dC)
	if dP != 0 || dC != 0 {
		t.Errorf("the clients reconnected through the upgrade: producer +%d, consumer +%d", dP, dC)
	}
	if after == 0 {
		t.Error("the producer made no progress after the upgrade")
	}
	if in := s.instance("vip"); in == nil || in.State != "MASTER" {
		t.Errorf("h1 after the upgrade: %+v", in)
	}
	if n := transitions(d2) - tr2; n != 0 {
		t.Errorf("h2 changed state %d times during the upgrade", n)
	}
	if err := stableHolder(rl.lab, h1, 300*time.Millisecond); err != nil {
		t.Error(err)
	}

	// The clients end their sessions: every confirmed message arrived,
	// and the old process, whose sessions those were, exits.
	if !pidAlive(oldPID) {
		t.Error("the old process exited with its clients' sessions open")
	}
	flow.stopProducing()
	err = waitFor(20*time.Second, st.allReceived)
	if err != nil {
		t.Error(err)
	}
	flow.stop()
	if err := waitFor(5*time.Second, func() (bool, error) { return !pidAlive(oldPID), fmt.Errorf("pid %d still runs", oldPID) }); err != nil {
		t.Errorf("the old process after its clients left: %v", err)
	}
	setGraceful("2s")
}

package amqpcheck

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/goleak"

	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/internal/freeport"
	"github.com/rmqlb/rmqlb/internal/rabbittest"
	"github.com/rmqlb/rmqlb/internal/testpki"
)

// One real RabbitMQ node for the package's tests (a boot costs 5-10 s); started by the first
// test that needs it, stopped by TestMain.
var (
	brokerOnce sync.Once
	broker     *rabbittest.Node
	brokerErr  error
	mgmtURL    string // the node's management API
	// The node's AMQPS listener, on 127.0.0.1, with a certificate of brokerCA for 127.0.0.1
	// and "rmq1.test"; it verifies a client certificate when one is sent
	// (fail_if_no_peer_cert false). pkiDir holds the files; TestMain removes it.
	tlsAddr  netip.AddrPort
	brokerCA *testpki.CA
	pkiDir   string
)

func realBroker(t *testing.T) *rabbittest.Node {
	t.Helper()
	if err := rabbittest.Available(); err != nil {
		t.Skip(err)
	}
	brokerOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		// Should t fail here, the node was not started.
		brokerErr = errors.New("starting the broker: picking its ports failed")
		// The ports come from below the ephemeral range: the broker
		// binds them again after stop_app (TestBrokerStopApp), and a
		// port from that range can be the local port of another test's
		// connection by then.
		mgmt := netip.MustParseAddrPort(freeport.Addr(t, "127.0.0.1"))
		mgmtURL = fmt.Sprintf("http://%s", mgmt)
		tlsAddr = netip.MustParseAddrPort(freeport.Addr(t, "127.0.0.1"))
		port := mgmt.Port()
		if pkiDir, brokerErr = os.MkdirTemp("", "amqpcheck-pki-"); brokerErr != nil {
			return
		}
		os.Chmod(pkiDir, 0o755) // the broker reads its files
		if brokerCA, brokerErr = testpki.NewCA(pkiDir, "broker"); brokerErr != nil {
			return
		}
		var srv testpki.Pair
		if srv, brokerErr = brokerCA.Server("rmq1", []string{"rmq1.test"}, []netip.Addr{tlsAddr.Addr()}); brokerErr != nil {
			return
		}
		broker, brokerErr = rabbittest.Start(ctx, rabbittest.Options{Name: "amqpcheck",
			Plugins: []string{"rabbitmq_management", "rabbitmq_auth_mechanism_ssl"},
			Config: []string{"management.tcp.ip = 127.0.0.1", fmt.Sprintf("management.tcp.port = %d", port),
				"auth_mechanisms.1 = PLAIN", "auth_mechanisms.2 = AMQPLAIN", "auth_mechanisms.3 = EXTERNAL",
				"ssl_cert_login_from = common_name",
				"listeners.ssl.default = " + tlsAddr.String(),
				"ssl_options.cacertfile = " + brokerCA.File,
				"ssl_options.certfile = " + srv.CertFile,
				"ssl_options.keyfile = " + srv.KeyFile,
				"ssl_options.verify = verify_peer",
				"ssl_options.fail_if_no_peer_cert = false"}})
		if brokerErr != nil {
			return
		}
		for _, args := range [][]string{
			{"add_vhost", "other"},
			{"add_user", "checker", "s3cret"},
			{"set_permissions", "-p", "/", "checker", ".*", ".*", ".*"},
			{"add_user", "readonly", "ro"},
			// The user of the client certificate rmqlb-check (SASL EXTERNAL).
			{"add_user", "rmqlb-check", "unused"},
			{"set_permissions", "-p", "/", "rmqlb-check", "", "", ""},
			{"set_permissions", "-p", "/", "readonly", "", "", ".*"},
		} {
			if _, brokerErr = broker.Ctl(ctx, args...); brokerErr != nil {
				return
			}
		}
	})
	if brokerErr != nil {
		t.Fatal(brokerErr)
	}
	return broker
}

func TestMain(m *testing.M) {
	code := m.Run()
	if broker != nil {
		if err := broker.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	if pkiDir != "" {
		os.RemoveAll(pkiDir)
	}
	if l := rabbittest.Leftovers(); len(l) > 0 {
		fmt.Fprintf(os.Stderr, "leftover RabbitMQ processes: %v\n", l)
		code = 1
	}
	os.Exit(code)
}

func run(t *testing.T, cfg Config, timeout time.Duration) (Report, error) {
	t.Helper()
	chk, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer chk.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return chk.Run(ctx)
}

// checkerConns counts the broker's connections of user "checker" (only the alarm test below
// logs in as that user).
func checkerConns(t *testing.T, n *rabbittest.Node) int { return userConns(t, n, "checker") }

// userConns counts the broker's connections of user.
func userConns(t *testing.T, n *rabbittest.Node, user string) int {
	t.Helper()
	out := n.MustCtl(t, "list_connections", "-q", "user", "state")
	c := 0
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == user {
			c++
		}
	}
	return c
}

// checker returns a Check of cfg, closed when t ends, and a function that runs it once within
// timeout.
func checker(t *testing.T, cfg Config, timeout time.Duration) (*Check, func() healthcheck.Result) {
	t.Helper()
	chk, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { chk.Close() })
	return chk, func() healthcheck.Result {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		return chk.Check(ctx)
	}
}

// awaitAlarm runs check until it passes with an alarm (within 30 s), and fails t unless that
// alarm mentions what ("memory", "disk") or a check fails meanwhile.
func awaitAlarm(t *testing.T, check func() healthcheck.Result, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	r := check()
	for ; r.Alarm == ""; r = check() {
		if r.Err != nil || time.Now().After(deadline) {
			t.Fatalf("no alarm seen: %+v", r)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(r.Alarm, what) {
		t.Fatalf("alarm %q does not mention %s", r.Alarm, what)
	}
}

// TestBrokerAlarmKeepsOneConnection: a blocked broker does not notice a closed TCP connection
// until its alarm clears, so login checks during an alarm must not leave one behind each. The
// Check keeps one, reports the alarm from it, and closes it cleanly once the broker unblocks it.
func TestBrokerAlarmKeepsOneConnection(t *testing.T) {
	n := realBroker(t)
	chk, check := checker(t, Config{Addr: n.Addr, Mode: ModeLogin, User: "checker", Password: "s3cret"}, 3*time.Second)
	n.MustCtl(t, "set_vm_memory_high_watermark", "0.0000001")
	defer n.MustCtl(t, "set_vm_memory_high_watermark", "0.4")
	awaitAlarm(t, check, "memory")
	for i := 0; i < 10; i++ {
		if r := check(); r.Err != nil || !strings.Contains(r.Alarm, "memory") {
			t.Fatalf("check %d under alarm: %+v", i, r)
		}
	}
	if c := checkerConns(t, n); c > 1 {
		t.Errorf("%d connections of the checks on the blocked broker, want at most 1", c)
	}
	// The broker's heartbeats keep the kept connection alive past keptSilence.
	chk.mu.Lock()
	kept := chk.kept
	chk.mu.Unlock()
	time.Sleep(keptSilence + keptHeartbeat)
	chk.mu.Lock()
	still := chk.kept == kept && kept != nil
	chk.mu.Unlock()
	if r := check(); !still || r.Err != nil || r.Alarm == "" {
		t.Errorf("kept connection given up on a live blocked broker (%v), or check %+v", still, r)
	}
	if c := checkerConns(t, n); c > 1 {
		t.Errorf("%d connections of the checks on the blocked broker after %v, want at most 1", c, keptSilence+keptHeartbeat)
	}

	n.MustCtl(t, "set_vm_memory_high_watermark", "0.4")
	deadline := time.Now().Add(30 * time.Second)
	for r := check(); r.Alarm != "" || r.Err != nil; r = check() {
		if time.Now().After(deadline) {
			t.Fatalf("alarm did not clear: %+v", r)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for c := checkerConns(t, n); c != 0; c = checkerConns(t, n) {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections of the checks left after the alarm", c)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestBrokerAlarmStillLogsIn: while the Check keeps the connection a memory alarm blocked, its
// checks still log in (without publishing), so what the alarm would otherwise hide is seen: a
// changed password or revoked permissions on the vhost (a warning beside the alarm), a broker
// that froze (a failure). The logins leave no connection behind on the blocked broker.
func TestBrokerAlarmStillLogsIn(t *testing.T) {
	n := realBroker(t)
	n.MustCtl(t, "add_user", "alarmcheck", "first")
	defer n.MustCtl(t, "delete_user", "alarmcheck")
	n.MustCtl(t, "set_permissions", "-p", "/", "alarmcheck", ".*", ".*", ".*")
	_, check := checker(t, Config{Addr: n.Addr, Mode: ModeLogin, User: "alarmcheck", Password: "first"}, 2*time.Second)
	n.MustCtl(t, "set_vm_memory_high_watermark", "0.0000001")
	defer n.MustCtl(t, "set_vm_memory_high_watermark", "0.4")
	awaitAlarm(t, check, "memory")
	underAlarm := func(when string) {
		t.Helper()
		if r := check(); r.Err != nil || !strings.Contains(r.Alarm, "memory") {
			t.Fatalf("%s: check under alarm %+v, want a pass with the memory alarm", when, r)
		}
	}
	for i := range 5 {
		underAlarm(fmt.Sprintf("check %d", i))
	}
	// The logins closed cleanly: only the kept connection stays.
	deadline := time.Now().Add(10 * time.Second)
	for c := userConns(t, n, "alarmcheck"); c != 1; c = userConns(t, n, "alarmcheck") {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections of the checks on the blocked broker, want the kept one", c)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// A refused login passes with a warning (see loginRefused), the kept alarm still reported.
	refusedUnderAlarm := func(what, reply string) {
		t.Helper()
		if r := check(); r.Err != nil || !strings.Contains(r.Alarm, "memory") || !strings.Contains(r.Warning, "login refused: "+reply) {
			t.Errorf("%s under alarm: %+v, want a pass with the memory alarm and the refusal %q", what, r, reply)
		}
	}
	n.MustCtl(t, "change_password", "alarmcheck", "second")
	refusedUnderAlarm("password changed", "403 ACCESS_REFUSED")
	n.MustCtl(t, "change_password", "alarmcheck", "first")
	underAlarm("password changed back")

	n.MustCtl(t, "clear_permissions", "-p", "/", "alarmcheck")
	refusedUnderAlarm("permissions revoked", "530 NOT_ALLOWED")
	n.MustCtl(t, "set_permissions", "-p", "/", "alarmcheck", ".*", ".*", ".*")
	underAlarm("permissions set again")

	if err := n.Freeze(); err != nil {
		t.Fatal(err)
	}
	r := check()
	if err := n.Thaw(); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(r.Err, ErrTimeout) {
		t.Errorf("broker frozen under alarm: %+v, want %v", r, ErrTimeout)
	}
	deadline = time.Now().Add(20 * time.Second)
	for r := check(); r.Err != nil || r.Alarm == ""; r = check() {
		if time.Now().After(deadline) {
			t.Fatalf("thawed broker under alarm: %+v", r)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if c := userConns(t, n, "alarmcheck"); c > 2 {
		t.Errorf("%d connections of the checks on the blocked broker after the freeze, want at most 2 (one kept, one given up)", c)
	}
}

func TestBrokerHandshakeAndLogin(t *testing.T) {
	n := realBroker(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	rep, err := run(t, Config{Addr: n.Addr}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Server.Product != "RabbitMQ" || rep.Server.Version != "3.10.8" || rep.Server.ClusterName != n.NodeName ||
		!rep.Server.Capabilities["connection.blocked"] {
		t.Fatalf("handshake report %+v", rep)
	}
	t.Logf("handshake: %v", rep.Server)
	// The scheduler's result names the broker's cluster (a node that was
	// not given a cluster name names itself), for the status.
	_, check := checker(t, Config{Addr: n.Addr}, 5*time.Second)
	if r := check(); r.Err != nil || r.Cluster != n.NodeName || !strings.Contains(r.Info, n.NodeName) {
		t.Errorf("Check: %+v, want a pass naming cluster %s", r, n.NodeName)
	}

	for _, cfg := range []Config{
		{Addr: n.Addr, Mode: ModeLogin},
		{Addr: n.Addr, Mode: ModeLogin, User: "checker", Password: "s3cret"},
		{Addr: n.Addr, Mode: ModeLogin, AlarmProbe: AlarmProbeOff},
	} {
		rep, err := run(t, cfg, 5*time.Second)
		if err != nil || rep.Alarm != "" || rep.ProbeError != "" {
			t.Fatalf("login %s: %+v, %v", cfg.User, rep, err)
		}
	}
}

func TestBrokerLoginErrors(t *testing.T) {
	n := realBroker(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	for _, tc := range []struct {
		name string
		cfg  Config
		want error
		text string
	}{
		{"wrong password", Config{User: "checker", Password: "wrong"}, ErrAuth, "403 ACCESS_REFUSED"},
		{"unknown user", Config{User: "nobody", Password: "x"}, ErrAuth, "403 ACCESS_REFUSED"},
		{"missing vhost", Config{VHost: "nope"}, ErrVHost, "530 NOT_ALLOWED"},
		{"no access to vhost", Config{User: "checker", Password: "s3cret", VHost: "other"}, ErrVHost, "530 NOT_ALLOWED"},
	} {
		tc.cfg.Addr, tc.cfg.Mode = n.Addr, ModeLogin
		_, err := run(t, tc.cfg, 5*time.Second)
		t.Logf("%s: %v", tc.name, err)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%s: got %v, want %v with %q", tc.name, err, tc.want, tc.text)
		}
		var sc *ServerCloseError
		if !errors.As(err, &sc) {
			t.Errorf("%s: no ServerCloseError in %v", tc.name, err)
		}
	}
	// A user who may not write to the default exchange: the probe fails, the check passes
	// with a warning.
	chk, _ := New(Config{Addr: n.Addr, Mode: ModeLogin, User: "readonly", Password: "ro"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r := chk.Check(ctx)
	t.Logf("readonly: %+v", r)
	if r.Err != nil || !strings.Contains(r.Warning, "403") {
		t.Errorf("readonly user: %+v", r)
	}
}

// TestBrokerCluster: a check that names the broker's cluster passes, in
// either mode; one that names another fails with ErrWrongCluster before
// it logs in. rabbitmqctl set_cluster_name renames the cluster, and the
// next check hears the new name.
func TestBrokerCluster(t *testing.T) {
	n := realBroker(t)
	defer n.MustCtl(t, "set_cluster_name", n.NodeName) // as it was: the node's own name
	n.MustCtl(t, "set_cluster_name", "rmqlb-test")
	for _, mode := range []Mode{ModeHandshake, ModeLogin} {
		for _, tc := range []struct {
			cluster string
			pass    bool
		}{{"rmqlb-test", true}, {n.NodeName, false}, {"", true}} {
			_, check := checker(t, Config{Addr: n.Addr, Mode: mode, User: "checker", Password: "s3cret", Cluster: tc.cluster}, 5*time.Second)
			r := check()
			if tc.pass && (r.Err != nil || r.Warning != "" || r.Cluster != "rmqlb-test") || !tc.pass && !errors.Is(r.Err, ErrWrongCluster) {
				t.Errorf("%s, cluster %q: %+v; want pass %v naming rmqlb-test", mode, tc.cluster, r, tc.pass)
			}
		}
	}
}

// TestBrokerStopApp: with the rabbit app stopped the listener is closed: refused.
func TestBrokerStopApp(t *testing.T) {
	n := realBroker(t)
	n.MustCtl(t, "stop_app")
	defer n.MustCtl(t, "start_app")
	_, err := run(t, Config{Addr: n.Addr}, 3*time.Second)
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("stop_app: got %v, want ErrRefused", err)
	}
	n.MustCtl(t, "start_app")
	n.MustCtl(t, "await_startup")
	if _, err := run(t, Config{Addr: n.Addr, Mode: ModeLogin}, 5*time.Second); err != nil {
		t.Fatalf("after start_app: %v", err)
	}
}

// TestBrokerFrozen: SIGSTOP; the kernel accepts, nobody answers: timeout, within the deadline.
func TestBrokerFrozen(t *testing.T) {
	n := realBroker(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	if err := n.Freeze(); err != nil {
		t.Fatal(err)
	}
	thawed := false
	defer func() {
		if !thawed {
			n.Thaw()
		}
	}()
	for _, m := range []Mode{ModeHandshake, ModeLogin} {
		t0 := time.Now()
		_, err := run(t, Config{Addr: n.Addr, Mode: m}, 500*time.Millisecond)
		el := time.Since(t0)
		t.Logf("%s against frozen broker after %v: %v", m, el.Round(time.Millisecond), err)
		if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "Connection.Start") {
			t.Fatalf("%s: got %v, want timeout waiting for Connection.Start", m, err)
		}
	}
	n.Thaw()
	thawed = true
	// Connections accepted while frozen are answered now; new checks pass.
	if _, err := run(t, Config{Addr: n.Addr, Mode: ModeLogin}, 5*time.Second); err != nil {
		t.Fatalf("after SIGCONT: %v", err)
	}
}

// TestBrokerConnectionMax: a RabbitMQ 3.10 node at its connection_max, or at the limit of
// sockets its open-files limit gives it, stops accepting: the kernel completes the TCP handshake
// of a new connection and nobody answers it, so the check, in both modes, cannot tell the node
// from a frozen one (timeout waiting for Connection.Start), while the connections it holds are
// served (a channel opens on one). Once they close, the node answers again. (RabbitMQ 3.13 and
// later answer a client beyond connection_max with 530 at Connection.Open instead:
// TestLoginRefusedPasses.)
func TestBrokerConnectionMax(t *testing.T) {
	if err := rabbittest.Available(); err != nil {
		t.Skip(err)
	}
	for _, tc := range []struct {
		name string
		opt  rabbittest.Options
	}{
		{"connection_max", rabbittest.Options{Name: "connmax", Config: []string{"connection_max = 3"}}},
		{"open files", rabbittest.Options{Name: "fdmax", MaxOpenFiles: 200}},
	} {
		t.Run(tc.name, func(t *testing.T) { connectionLimit(t, rabbittest.StartT(t, tc.opt)) })
	}
}

// connectionLimit opens connections to n until it answers none more, and checks what the check
// sees then (see TestBrokerConnectionMax).
func connectionLimit(t *testing.T, n *rabbittest.Node) {
	var conns []*amqp.Connection
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	// The listener lets a few more in than connection_max (12 at 3, 29 at 20 on RabbitMQ
	// 3.10.8); open until one is not answered.
	for {
		c, err := amqp.DialConfig(n.URL(), amqp.Config{Dial: amqp.DefaultDial(2 * time.Second)})
		if err != nil {
			t.Logf("connection %d: %v", len(conns)+1, err)
			break
		}
		conns = append(conns, c)
		if len(conns) > 200 {
			t.Fatal("200 connections let in")
		}
	}
	if len(conns) < 3 {
		t.Fatalf("only %d connections let in", len(conns))
	}
	for _, m := range []Mode{ModeHandshake, ModeLogin} {
		_, err := run(t, Config{Addr: n.Addr, Mode: m}, time.Second)
		t.Logf("%s against the node at its limit: %v", m, err)
		if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "Connection.Start") {
			t.Fatalf("%s: got %v, want a timeout waiting for Connection.Start", m, err)
		}
	}
	ch, err := conns[0].Channel()
	if err != nil {
		t.Fatalf("a channel on a connection the node holds: %v", err)
	}
	ch.Close()
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	if _, err := run(t, Config{Addr: n.Addr, Mode: ModeLogin}, 5*time.Second); err != nil {
		t.Fatalf("once its connections closed: %v", err)
	}
}

// TestBrokerMemoryAlarm: under a memory alarm the login check reports it (and an amqp091-go
// publisher is blocked too), the handshake check still passes; after the alarm clears the
// report is clean again.
func TestBrokerMemoryAlarm(t *testing.T) {
	n := realBroker(t)
	n.MustCtl(t, "set_vm_memory_high_watermark", "0.0001")
	defer n.MustCtl(t, "set_vm_memory_high_watermark", "0.4")

	login := Config{Addr: n.Addr, Mode: ModeLogin}
	var rep Report
	var err error
	deadline := time.Now().Add(30 * time.Second)
	for {
		t0 := time.Now()
		rep, err = run(t, login, 3*time.Second)
		if err != nil {
			t.Fatalf("login under alarm: %v", err)
		}
		if rep.Alarm != "" {
			t.Logf("alarm seen by login check in %v: %q", time.Since(t0).Round(time.Millisecond), rep.Alarm)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no alarm seen within 30 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(rep.Alarm, "memory") {
		t.Errorf("alarm %q does not mention memory", rep.Alarm)
	}
	chk, _ := New(login)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	r := chk.Check(ctx)
	cancel()
	if r.Err != nil || !strings.Contains(r.Alarm, "memory") || r.Warning != "" {
		t.Errorf("Check under alarm: %+v", r)
	}
	if _, err := run(t, Config{Addr: n.Addr}, 3*time.Second); err != nil {
		t.Errorf("handshake under alarm: %v", err)
	}
	// The management API tells the same, also to a handshake check.
	mrep, err := run(t, Config{Addr: n.Addr, ManagementURL: mgmtURL}, 3*time.Second)
	t.Logf("management probe under alarm: %+v %v", mrep, err)
	if err != nil || mrep.Alarm != "memory alarm on "+n.NodeName {
		t.Errorf("management probe under alarm: %+v %v", mrep, err)
	}

	// A real client agrees: amqp091-go gets Connection.Blocked after publishing.
	conn, err := amqp.Dial(n.URL())
	if err != nil {
		t.Fatal(err)
	}
	blocked := conn.NotifyBlocked(make(chan amqp.Blocking, 1))
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	ch.PublishWithContext(context.Background(), "", "amq.rmqlb.test", false, false, amqp.Publishing{Body: []byte("x")})
	select {
	case b := <-blocked:
		t.Logf("amqp091-go: %+v", b)
		if !b.Active || b.Reason != rep.Alarm {
			t.Errorf("amqp091-go blocked %+v, check saw %q", b, rep.Alarm)
		}
	case <-time.After(5 * time.Second):
		t.Error("amqp091-go publisher not blocked")
	}
	conn.CloseDeadline(time.Now().Add(time.Second))

	n.MustCtl(t, "set_vm_memory_high_watermark", "0.4")
	deadline = time.Now().Add(30 * time.Second)
	for {
		rep, err = run(t, login, 3*time.Second)
		if err == nil && rep.Alarm == "" {
			mrep, err := run(t, Config{Addr: n.Addr, Mode: ModeLogin, ManagementURL: mgmtURL}, 3*time.Second)
			if err != nil || mrep.Alarm != "" || mrep.ProbeError != "" {
				t.Errorf("management probe after the alarm: %+v %v", mrep, err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alarm did not clear: %+v %v", rep, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestBrokerLogNoise records what the broker logs for a handshake and for a login check (the
// claims of doc.go).
func TestBrokerLogNoise(t *testing.T) {
	n := realBroker(t)
	for _, tc := range []struct {
		mode        Mode
		wantWarning bool
	}{{ModeHandshake, true}, {ModeLogin, false}} {
		before, _ := os.ReadFile(n.LogFile())
		if _, err := run(t, Config{Addr: n.Addr, Mode: tc.mode}, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		// The logger writes asynchronously, and a loaded host may take
		// seconds: wait for the connection's last line.
		var added string
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			after, _ := os.ReadFile(n.LogFile())
			added = string(after[len(before):])
			if strings.Contains(added, "closing AMQP connection") || time.Now().After(deadline) {
				break
			}
		}
		t.Logf("%s logs:\n%s", tc.mode, added)
		if !strings.Contains(added, "closing AMQP connection") {
			t.Fatalf("%s: the broker did not log the connection's close within 15 s", tc.mode)
		}
		// The check's own lines: those of an AMQP connection. What the
		// broker logs besides (a periodic report) is not the check's.
		got := false
		for _, line := range strings.Split(added, "\n") {
			if strings.Contains(line, "connection") && (strings.Contains(line, "[warning]") || strings.Contains(line, "[error]")) {
				got = true
			}
		}
		if got != tc.wantWarning {
			t.Errorf("%s: warning or error logged about the connection = %v, want %v", tc.mode, got, tc.wantWarning)
		}
	}
}

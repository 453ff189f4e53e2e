package amqpcheck

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rmqlb/rmqlb/checktls"

	"go.uber.org/goleak"
)

// TestLoginRefusedPasses: a login the broker refused for the check's own user or vhost (403 on
// the connection; 530 in answer to Connection.Open: no such vhost, no access, a connection limit
// reached) passes the check with the broker's reply as a warning (the backend is DEGRADED, still
// served); Run still returns the refusal. A node at its own connection limit passes it as full
// (Result.Full, with the reply in the warning, not a refused login). Every other close fails the
// check.
func TestLoginRefusedPasses(t *testing.T) {
	start := goldenStart(t)
	open, startOk := ConnectionOpen, ConnectionStartOk
	tests := []struct {
		name     string
		close    Close
		wantWarn string // a pass with this warning
		wantFull bool   // the pass is of a full node (Result.Full), not of a refused login
		wantErr  error  // Run's error matches this (the check fails unless wantWarn is set)
	}{
		{name: "password refused", close: Close{ReplyCode: 403, ReplyText: "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile.", ClassID: startOk.Class, MethodID: startOk.Method},
			wantWarn: "login refused: 403 ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile.", wantErr: ErrAuth},
		{name: "vhost limit", close: Close{ReplyCode: 530, ReplyText: "NOT_ALLOWED - access to vhost '/' refused for user 'rmqlb': connection limit (1) is reached", ClassID: open.Class, MethodID: open.Method},
			wantWarn: "login refused: 530 NOT_ALLOWED - access to vhost '/' refused for user 'rmqlb': connection limit (1) is reached", wantErr: ErrVHost},
		{name: "user limit", close: Close{ReplyCode: 530, ReplyText: "NOT_ALLOWED - connection refused for user 'rmqlb': user connection limit (2) is reached", ClassID: open.Class, MethodID: open.Method},
			wantWarn: "login refused: 530 NOT_ALLOWED - connection refused for user 'rmqlb': user connection limit (2) is reached", wantErr: ErrVHost},
		{name: "vhost not found", close: Close{ReplyCode: 530, ReplyText: "NOT_ALLOWED - vhost nope not found", ClassID: open.Class, MethodID: open.Method},
			wantWarn: "login refused: 530 NOT_ALLOWED - vhost nope not found", wantErr: ErrVHost},
		{name: "no access to vhost", close: Close{ReplyCode: 530, ReplyText: "NOT_ALLOWED - access to vhost 'other' refused for user 'checker'", ClassID: open.Class, MethodID: open.Method},
			wantWarn: "login refused: 530 NOT_ALLOWED - access to vhost 'other' refused for user 'checker'", wantErr: ErrVHost},
		// The node's own faults fail it.
		{name: "vhost down", close: Close{ReplyCode: 541, ReplyText: "INTERNAL_ERROR - access to vhost '/' refused for user 'rmqlb': vhost '/' is down", ClassID: open.Class, MethodID: open.Method}},
		{name: "shutting down", close: Close{ReplyCode: 320, ReplyText: "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'"}},
		// The node's own connection limit: full, its sessions kept.
		{name: "node limit", close: Close{ReplyCode: 530, ReplyText: "NOT_ALLOWED - connection refused: node connection limit (100) is reached", ClassID: open.Class, MethodID: open.Method},
			wantWarn: "node connection limit reached (530 NOT_ALLOWED - connection refused: node connection limit (100) is reached): new clients go to the other backends", wantFull: true},
		{name: "530 not caused by Connection.Open", close: Close{ReplyCode: 530, ReplyText: "NOT_ALLOWED - connection limit (1) is reached"}, wantErr: ErrVHost},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			closeOk := make(chan bool, 1)
			srv := refusingBroker(t, start, tc.close, closeOk)
			chk, err := New(Config{Addr: srv.addr(), Mode: ModeLogin})
			if err != nil {
				t.Fatal(err)
			}
			defer chk.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			rep, err := chk.Run(ctx)
			var sc *ServerCloseError
			if !errors.As(err, &sc) || sc.ReplyCode != tc.close.ReplyCode || (tc.wantErr != nil) != errors.Is(err, tc.wantErr) {
				t.Errorf("Run: %v, want the server's close %d matching %v", err, tc.close.ReplyCode, tc.wantErr)
			}
			if rep.Server.Product != "RabbitMQ" {
				t.Errorf("Run's report of a refused login: %+v, want the server", rep)
			}
			<-closeOk // the first connection's end
			r := chk.Check(ctx)
			if tc.wantWarn != "" {
				if r.Err != nil || r.Warning != tc.wantWarn || r.Refused == tc.wantFull || r.Full != tc.wantFull || r.Alarm != "" || !strings.Contains(r.Info, "RabbitMQ") {
					t.Errorf("Check: %+v, want a pass with warning %q", r, tc.wantWarn)
				}
			} else if r.Err == nil {
				t.Errorf("Check: %+v, want a failure", r)
			}
			select {
			case ok := <-closeOk:
				if !ok {
					t.Error("the check did not acknowledge the broker's Connection.Close")
				}
			case <-time.After(2 * time.Second):
				t.Error("the fake broker saw no end of the connection")
			}
		})
	}
}

// TestOnRefusedDown: with OnLoginRefused RefusedDown a login the broker refuses fails the check with
// the broker's reply; by default it passes with it as a warning. A bad value is refused.
func TestOnRefusedDown(t *testing.T) {
	startOk := ConnectionStartOk
	srv := refusingBroker(t, goldenStart(t),
		Close{ReplyCode: 403, ReplyText: "ACCESS_REFUSED - Login was refused", ClassID: startOk.Class, MethodID: startOk.Method}, nil)
	for _, tc := range []struct {
		on       OnRefused
		wantFail bool
	}{{"", false}, {RefusedDegraded, false}, {RefusedDown, true}} {
		_, check := checker(t, Config{Addr: srv.addr(), Mode: ModeLogin, OnLoginRefused: tc.on}, 2*time.Second)
		r := check()
		switch {
		case tc.wantFail && (!errors.Is(r.Err, ErrAuth) || !strings.Contains(r.Err.Error(), "403 ACCESS_REFUSED")):
			t.Errorf("on_login_refused %q: %+v, want a failure with the broker's 403", tc.on, r)
		case !tc.wantFail && (r.Err != nil || r.Warning != "login refused: 403 ACCESS_REFUSED - Login was refused"):
			t.Errorf("on_login_refused %q: %+v, want a pass with the refusal as warning", tc.on, r)
		}
	}
	if _, err := New(Config{Addr: srv.addr(), OnLoginRefused: "ignore"}); err == nil || !strings.Contains(err.Error(), `on_login_refused: must be degraded, down or down-if-alone, not "ignore"`) {
		t.Errorf("New with on_login_refused ignore: %v", err)
	}
}

// refusingBroker is a fake broker that sends start, tunes the connection and answers
// Connection.Open with the Connection.Close reply, on every connection; a reply in answer to
// Connection.Start-Ok (its ClassID and MethodID) is sent at Start-Ok instead. When closeOk is not nil, each
// connection's end is sent on it: true when the client acknowledged with Connection.Close-Ok.
func refusingBroker(t *testing.T, start []byte, reply Close, closeOk chan<- bool) *fakeServer {
	t.Helper()
	args, err := CloseArgs(reply)
	if err != nil {
		t.Fatal(err)
	}
	atStartOk := (MethodID{reply.ClassID, reply.MethodID}) == ConnectionStartOk
	ended := func(ok bool) {
		if closeOk != nil {
			closeOk <- ok
		}
	}
	return startFake(t, func(c net.Conn) {
		defer c.Close()
		if !readHeader(c) {
			return
		}
		c.Write(start)
		for {
			f, err := ReadFrame(c, DefaultMaxFrameSize)
			if err != nil {
				ended(false)
				return
			}
			switch id, _, _ := ParseMethod(f.Payload); id {
			case ConnectionStartOk:
				if atStartOk {
					c.Write(AppendMethod(nil, 0, ConnectionClose, args))
				} else {
					c.Write(AppendMethod(nil, 0, ConnectionTune, TuneOkArgs(Tune{ChannelMax: 2047, FrameMax: DefaultMaxFrameSize, Heartbeat: 60})))
				}
			case ConnectionOpen:
				c.Write(AppendMethod(nil, 0, ConnectionClose, args))
			case ConnectionCloseOk:
				ended(true)
				return
			}
		}
	})
}

// TestBrokerLoginRefused: against real RabbitMQ, the check user's password changed, its
// permissions on the vhost cleared, the vhost deleted, the vhost's max-connections filled by a
// client, and the check user at its own connection limit each pass the login check with the
// broker's refusal as a warning (RabbitMQ keeps those across the cluster: every node refuses
// alike); a vhost that is down on the node (its supervisor stopped, as after a failed recovery
// of its message store) fails it; each is a clean pass again once mended.
func TestBrokerLoginRefused(t *testing.T) {
	n := realBroker(t)
	const vhost, user = "limited", "limitcheck"
	n.MustCtl(t, "add_vhost", vhost)
	defer n.MustCtl(t, "delete_vhost", vhost)
	n.MustCtl(t, "add_user", user, "pw")
	defer n.MustCtl(t, "delete_user", user)
	n.MustCtl(t, "set_permissions", "-p", vhost, user, ".*", ".*", ".*")
	cfg := Config{Addr: n.Addr, Mode: ModeLogin, User: user, Password: "pw", VHost: vhost}
	_, check := checker(t, cfg, 3*time.Second)
	clean := func(what string) {
		t.Helper()
		if r := check(); r.Err != nil || r.Warning != "" || r.Alarm != "" {
			t.Errorf("%s: %+v, want a clean pass", what, r)
		}
	}
	refused := func(what, reply string) {
		t.Helper()
		if r := check(); r.Err != nil || !strings.HasPrefix(r.Warning, "login refused: ") || !strings.Contains(r.Warning, reply) || r.Info == "" {
			t.Errorf("%s: %+v, want a pass with the broker's refusal (%q) as warning", what, r, reply)
		}
	}
	clean("before")

	n.MustCtl(t, "change_password", user, "other")
	refused("password changed", "403 ACCESS_REFUSED")
	down := cfg
	down.OnLoginRefused = RefusedDown
	_, checkDown := checker(t, down, 3*time.Second)
	if r := checkDown(); !errors.Is(r.Err, ErrAuth) || r.Warning != "" {
		t.Errorf("password changed, on_login_refused down: %+v, want a failure with the broker's 403", r)
	}
	n.MustCtl(t, "change_password", user, "pw")
	clean("password changed back")

	n.MustCtl(t, "clear_permissions", "-p", vhost, user)
	refused("permissions cleared", "530 NOT_ALLOWED - access to vhost '"+vhost+"' refused")
	n.MustCtl(t, "set_permissions", "-p", vhost, user, ".*", ".*", ".*")
	clean("permissions set again")

	// A client holds the vhost's only connection.
	n.MustCtl(t, "set_vhost_limits", "-p", vhost, `{"max-connections": 1}`)
	client, err := amqp.Dial("amqp://" + user + ":pw@" + n.Addr.String() + "/" + vhost)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	refused("vhost at its connection limit", "connection limit (1) is reached")
	client.Close()
	n.MustCtl(t, "clear_vhost_limits", "-p", vhost)

	// The check user at its own limit (0: no connection at all).
	n.MustCtl(t, "set_user_limits", user, `{"max-connections": 0}`)
	refused("check user at its connection limit", "user connection limit (0) is reached")
	n.MustCtl(t, "clear_user_limits", user, "max-connections")
	clean("limits cleared")

	n.MustCtl(t, "eval", `rabbit_vhost_sup_sup:stop_and_delete_vhost(<<"`+vhost+`">>).`)
	r := check()
	n.MustCtl(t, "restart_vhost", "-p", vhost)
	var sc *ServerCloseError
	if !errors.As(r.Err, &sc) || sc.ReplyCode != 541 || !strings.Contains(sc.ReplyText, "is down") {
		t.Errorf("vhost down on the node: %+v, want a failure with 541 ... is down", r)
	}
	clean("vhost restarted")

	n.MustCtl(t, "delete_vhost", vhost)
	refused("vhost deleted", "530 NOT_ALLOWED - vhost "+vhost+" not found")
	n.MustCtl(t, "add_vhost", vhost)
	n.MustCtl(t, "set_permissions", "-p", vhost, user, ".*", ".*", ".*")
	clean("vhost added again")
}

// TestClientCertificateRefusedPasses: a broker that refuses the check's TLS client certificate
// (signed by a CA it does not trust, expired, or none sent where one is required) passes the
// check with the broker's alert as a warning; Run still fails with ErrTLS. A broker certificate
// the check refuses, and an alert that is not about the client's certificate, fail it.
func TestClientCertificateRefusedPasses(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	l := newTLSLab(t)
	mutual := startTLSBroker(t, l.serverConfig(t, true), false, nil)
	defer mutual.close()
	old := l.serverConfig(t, false)
	old.MaxVersion = tls.VersionTLS10 // the check's minimum is TLS 1.2
	oldBroker := startTLSBroker(t, old, false, nil)
	defer oldBroker.close()
	stranger, err := l.other.Client("rmqlb-check")
	if err != nil {
		t.Fatal(err)
	}
	expired, err := l.ca.ExpiredClient("rmqlb-check-expired")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		srv      *fakeServer
		tls      checktls.Config
		wantWarn string // a pass with a warning that holds this; "" fails
	}{
		// crypto/tls sends no certificate of a CA that the server's request does not name.
		{"certificate of another CA", mutual, checktls.Config{CAFile: l.ca.File, CertFile: stranger.CertFile, KeyFile: stranger.KeyFile},
			"client certificate refused: remote error: tls: certificate required"},
		{"expired certificate", mutual, checktls.Config{CAFile: l.ca.File, CertFile: expired.CertFile, KeyFile: expired.KeyFile},
			"client certificate refused: remote error: tls: expired certificate"},
		{"no certificate", mutual, checktls.Config{CAFile: l.ca.File}, "client certificate refused: remote error: tls: certificate required"},
		{"broker certificate refused", mutual, checktls.Config{CAFile: l.other.File, CertFile: l.client.CertFile, KeyFile: l.client.KeyFile}, ""},
		{"no common version", oldBroker, checktls.Config{CAFile: l.ca.File}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			chk, ctx := newTLSCheck(t, tc.srv.addr(), tc.tls)
			if _, err := chk.Run(ctx); !errors.Is(err, ErrTLS) {
				t.Errorf("Run: %v, want ErrTLS", err)
			}
			r := chk.Check(ctx)
			t.Logf("%+v", r)
			if tc.wantWarn != "" {
				if r.Err != nil || !strings.HasPrefix(r.Warning, tc.wantWarn) {
					t.Errorf("Check: %+v, want a pass with warning %q", r, tc.wantWarn)
				}
			} else if r.Err == nil {
				t.Errorf("Check: %+v, want a failure", r)
			}
		})
	}
}

// TestCertificateAlertBeforeReset: a broker that refuses the client's certificate under TLS 1.3
// sends its alert after the client's handshake ended and closes; when its reset reaches the
// client before the client's first write, that write fails with the reset, and the alert, read
// after it, is still the reason.
func TestCertificateAlertBeforeReset(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	l := newTLSLab(t)
	expired, err := l.ca.ExpiredClient("rmqlb-check-expired")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	reset := make(chan struct{})
	go func() {
		defer close(reset)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.(*net.TCPConn).SetLinger(0) // close with a reset
		tls.Server(c, l.serverConfig(t, true)).Handshake()
		c.Close()
	}()
	cfg := checktls.Config{CAFile: l.ca.File, CertFile: expired.CertFile, KeyFile: expired.KeyFile}
	tc, err := cfg.Load(netip.MustParseAddrPort(ln.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	conn := tls.Client(raw, tc)
	defer conn.Close()
	if err := conn.Handshake(); err != nil {
		t.Fatalf("client handshake: %v (under TLS 1.3 it ends before the server checks the certificate)", err)
	}
	<-reset
	s := &session{conn: conn, ctx: context.Background(), t0: time.Now()}
	err = s.write(ProtocolHeader, "sending protocol header")
	t.Logf("%v", err)
	if w, ok := refusal(err); !ok || w != "client certificate refused: remote error: tls: expired certificate" {
		t.Errorf("write after the broker's alert and reset: %v, want the alert as the refusal", err)
	}
}

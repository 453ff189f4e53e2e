package amqpcheck

import (
	"context"
	"errors"
	amqp "github.com/rabbitmq/amqp091-go"
	"net"
	"strings"
	"testing"
	"time"
)

// TestConnectionLimitPasses: a login refused because a connection limit of the vhost or of
// the user is reached passes the check with the broker's reply as a warning (the backend is
// DEGRADED, still served); every other refusal of Connection.Open fails it as before.
func TestConnectionLimitPasses(t *testing.T) {
	start := goldenStart(t)
	tests := []struct {
		name      string
		close     Close
		wantWarn  string // a pass with this warning
		wantError error  // or a failure matching this
	}{
		{name: "vhost limit", close: Close{ReplyCode: 530, ReplyText: "NOT_ALLOWED - access to vhost '/' refused for user 'rmqlb': connection limit (1) is reached", ClassID: 10, MethodID: 40},
			wantWarn: "login refused: 530 NOT_ALLOWED - access to vhost '/' refused for user 'rmqlb': connection limit (1) is reached"},
		{name: "user limit", close: Close{ReplyCode: 530, ReplyText: "NOT_ALLOWED - connection refused for user 'rmqlb': user connection limit (2) is reached", ClassID: 10, MethodID: 40},
			wantWarn: "login refused: 530 NOT_ALLOWED - connection refused for user 'rmqlb': user connection limit (2) is reached"},
		{name: "vhost not found", close: Close{ReplyCode: 530, ReplyText: "NOT_ALLOWED - vhost nope not found", ClassID: 10, MethodID: 40},
			wantError: ErrVHost},
		{name: "no access to vhost", close: Close{ReplyCode: 530, ReplyText: "NOT_ALLOWED - access to vhost 'other' refused for user 'checker'", ClassID: 10, MethodID: 40},
			wantError: ErrVHost},
		// A limit's words on another code, or not caused by Connection.Open, are not a limit.
		{name: "vhost down", close: Close{ReplyCode: 541, ReplyText: "INTERNAL_ERROR - access to vhost '/' refused for user 'rmqlb': vhost '/' is down", ClassID: 10, MethodID: 40}},
		{name: "limit words on 541", close: Close{ReplyCode: 541, ReplyText: "INTERNAL_ERROR - connection limit (1) is reached", ClassID: 10, MethodID: 40}},
		{name: "limit words not caused by Open", close: Close{ReplyCode: 530, ReplyText: "NOT_ALLOWED - connection limit (1) is reached"},
			wantError: ErrVHost},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args, err := CloseArgs(tc.close)
			if err != nil {
				t.Fatal(err)
			}
			closeOk := make(chan bool, 1)
			srv := startFake(t, func(c net.Conn) {
				defer c.Close()
				if !readHeader(c) {
					return
				}
				c.Write(start)
				for {
					f, err := ReadFrame(c, DefaultMaxFrameSize)
					if err != nil {
						closeOk <- false
						return
					}
					id, _, _ := ParseMethod(f.Payload)
					switch id {
					case ConnectionStartOk:
						c.Write(AppendMethod(nil, 0, ConnectionTune, TuneOkArgs(Tune{ChannelMax: 2047, FrameMax: DefaultMaxFrameSize, Heartbeat: 60})))
					case ConnectionOpen:
						c.Write(AppendMethod(nil, 0, ConnectionClose, args))
					case ConnectionCloseOk:
						closeOk <- true
						return
					}
				}
			})
			chk, err := New(Config{Addr: srv.addr(), Mode: ModeLogin})
			if err != nil {
				t.Fatal(err)
			}
			defer chk.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			r := chk.Check(ctx)
			switch {
			case tc.wantWarn != "":
				if r.Err != nil || r.Warning != tc.wantWarn || r.Alarm != "" {
					t.Errorf("got %+v, want a pass with warning %q", r, tc.wantWarn)
				}
			case tc.wantError != nil:
				if !errors.Is(r.Err, tc.wantError) {
					t.Errorf("got %+v, want a failure matching %v", r, tc.wantError)
				}
			default:
				var sc *ServerCloseError
				if !errors.As(r.Err, &sc) || sc.ReplyCode != tc.close.ReplyCode || errors.Is(r.Err, ErrVHost) {
					t.Errorf("got %+v, want a failure with the server's close %d", r, tc.close.ReplyCode)
				}
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

// TestBrokerConnectionLimits: against real RabbitMQ, a vhost whose max-connections its clients
// filled, and a check user at its own connection limit, pass the login check with the broker's
// refusal as a warning; a vhost that is down on the node (its supervisor stopped, as after a
// failed recovery of its message store) fails it; each is a clean pass again once mended.
func TestBrokerConnectionLimits(t *testing.T) {
	n := realBroker(t)
	const vhost = "limited"
	n.MustCtl(t, "add_vhost", vhost)
	defer n.MustCtl(t, "delete_vhost", vhost)
	n.MustCtl(t, "set_permissions", "-p", vhost, "checker", ".*", ".*", ".*")
	cfg := Config{Addr: n.Addr, Mode: ModeLogin, User: "checker", Password: "s3cret", VHost: vhost}
	clean := func(what string) {
		t.Helper()
		_, check := checker(t, cfg, 3*time.Second)
		if r := check(); r.Err != nil || r.Warning != "" || r.Alarm != "" {
			t.Errorf("%s: %+v, want a clean pass", what, r)
		}
	}
	clean("before")

	// A client holds the vhost's only connection.
	n.MustCtl(t, "set_vhost_limits", "-p", vhost, `{"max-connections": 1}`)
	client, err := amqp.Dial("amqp://checker:s3cret@" + n.Addr.String() + "/" + vhost)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	_, check := checker(t, cfg, 3*time.Second)
	if r := check(); r.Err != nil || !strings.Contains(r.Warning, "connection limit (1) is reached") {
		t.Errorf("vhost at its connection limit: %+v, want a pass with the broker's refusal as warning", r)
	}
	client.Close()
	n.MustCtl(t, "clear_vhost_limits", "-p", vhost)

	// The check user at its own limit (0: no connection at all).
	n.MustCtl(t, "set_user_limits", "checker", `{"max-connections": 0}`)
	r := check()
	n.MustCtl(t, "clear_user_limits", "checker", "max-connections")
	if r.Err != nil || !strings.Contains(r.Warning, "user connection limit (0) is reached") {
		t.Errorf("check user at its connection limit: %+v, want a pass with the broker's refusal as warning", r)
	}
	clean("limits cleared")

	n.MustCtl(t, "eval", `rabbit_vhost_sup_sup:stop_and_delete_vhost(<<"`+vhost+`">>).`)
	r = check()
	n.MustCtl(t, "restart_vhost", "-p", vhost)
	var sc *ServerCloseError
	if !errors.As(r.Err, &sc) || sc.ReplyCode != 541 || !strings.Contains(sc.ReplyText, "is down") {
		t.Errorf("vhost down on the node: %+v, want a failure with 541 ... is down", r)
	}
	clean("vhost restarted")
}

package stompcheck

import (
	"bufio"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/internal/testserver"
)

// run runs one check of cfg within timeout.
func run(t *testing.T, cfg Config, timeout time.Duration) healthcheck.Result {
	t.Helper()
	return testserver.Run(t, New, cfg, timeout)
}

// answering reads a CONNECT frame, answers it with answer, and hands the
// CONNECT and what the client sent after it (until it closed) to got.
func answering(answer string, got chan<- [2]string) func(net.Conn) {
	return func(c net.Conn) {
		r := bufio.NewReader(c)
		connect, err := r.ReadString(0)
		if err != nil {
			return
		}
		io.WriteString(c, answer)
		rest, _ := io.ReadAll(r)
		if got != nil {
			got <- [2]string{connect, string(rest)}
		}
	}
}

const (
	rabbitConnected = "CONNECTED\nserver:RabbitMQ/3.10.8\nsession:session-x\nheart-beat:0,0\nversion:1.2\n\n\x00\n"
	rabbitNodeFull  = "ERROR\nmessage:Bad CONNECT\ncontent-type:text/plain\nversion:1.0,1.1,1.2\ncontent-length:49\n\nConnection refused: node connection limit reached\x00"
	rabbitRefused   = "ERROR\nmessage:Bad CONNECT\ncontent-type:text/plain\nversion:1.0,1.1,1.2\ncontent-length:33\n\nAccess refused for user 'monitor'\x00"
)

// TestCheck: what each answer, and each server that sends none, makes of
// the check.
func TestCheck(t *testing.T) {
	testserver.NoLeaks(t)
	tests := []struct {
		name    string
		serve   func(net.Conn)
		cfg     Config
		info    string // of a pass
		warning string // of a pass
		err     string // of a failure
	}{
		{"connected", answering(rabbitConnected, nil), Config{}, "STOMP CONNECTED 1.2 (RabbitMQ/3.10.8)", "", ""},
		{"connected in pieces", func(c net.Conn) {
			bufio.NewReader(c).ReadString(0)
			for _, s := range []string{"\n", "CONN", "ECTED\r", "\nversion:1.1\n", "\n", "\x00"} {
				io.WriteString(c, s)
				time.Sleep(5 * time.Millisecond)
			}
		}, Config{}, "STOMP CONNECTED 1.1", "", ""},
		{"STOMP 1.0", answering("CONNECTED\nsession:x\n\n\x00", nil), Config{}, "STOMP CONNECTED 1.0", "", ""},
		{"default user refused", answering(rabbitRefused, nil), Config{},
			"STOMP ERROR Bad CONNECT: Access refused for user 'monitor' (no user: the listener answers)", "", ""},
		{"login refused", answering(rabbitRefused, nil), Config{User: "monitor", Password: "old"},
			"STOMP ERROR Bad CONNECT: Access refused for user 'monitor'", "login refused: STOMP ERROR Bad CONNECT: Access refused for user 'monitor'", ""},
		{"login refused, failing", answering(rabbitRefused, nil), Config{User: "monitor", Password: "old", RefusedFails: true},
			"", "", "STOMP CONNECT: refused: ERROR Bad CONNECT: Access refused for user 'monitor'"},
		{"node connection limit", answering(rabbitNodeFull, nil), Config{User: "monitor", Password: "s3cret"},
			"STOMP ERROR Bad CONNECT: Connection refused: node connection limit reached",
			"node connection limit reached (STOMP ERROR Bad CONNECT: Connection refused: node connection limit reached): new clients go to the other backends", ""},
		{"node connection limit, no user", answering(rabbitNodeFull, nil), Config{},
			"STOMP ERROR Bad CONNECT: Connection refused: node connection limit reached",
			"node connection limit reached (STOMP ERROR Bad CONNECT: Connection refused: node connection limit reached): new clients go to the other backends", ""},
		{"node connection limit, refusals failing", answering(rabbitNodeFull, nil), Config{User: "monitor", Password: "s3cret", RefusedFails: true},
			"STOMP ERROR Bad CONNECT: Connection refused: node connection limit reached",
			"node connection limit reached (STOMP ERROR Bad CONNECT: Connection refused: node connection limit reached): new clients go to the other backends", ""},
		{"version mismatch", answering("ERROR\nmessage:Version mismatch\ncontent-type:text/plain\nversion:1.0,1.1,1.2\ncontent-length:35\n\nSupported versions are 1.0,1.1,1.2\n\x00", nil), Config{},
			"", "", "STOMP CONNECT: ERROR Version mismatch: Supported versions are 1.0,1.1,1.2"},
		{"an ERROR without a message", answering("ERROR\n\n\x00", nil), Config{User: "u"}, "STOMP ERROR (no message)", "login refused: STOMP ERROR (no message)", ""},
		{"an ERROR with control characters", answering("ERROR\nmessage:a\\nb\n\nc\td\x00", nil), Config{}, "STOMP ERROR a b: c d (no user: the listener answers)", "", ""},
		{"another frame", answering("RECEIPT\nreceipt-id:1\n\n\x00", nil), Config{}, "", "", "STOMP CONNECT: not a STOMP server: it answered RECEIPT"},
		{"an HTTP server", func(c net.Conn) { io.WriteString(c, "HTTP/1.1 400 Bad Request\r\n\r\n") }, Config{},
			"", "", `STOMP CONNECT: not a STOMP server: it sent "HTTP/1.1 400 Bad Request" where a frame's command goes`},
		{"an AMQP server", func(c net.Conn) { io.WriteString(c, "AMQP\x00\x00\x09\x01") }, Config{},
			"", "", `STOMP CONNECT: not a STOMP server: it sent "AMQP\x00\x00\t\x01" where a frame's command goes`},
		{"endless headers", func(c net.Conn) {
			r := bufio.NewReader(c)
			r.ReadString(0)
			io.WriteString(c, "CONNECTED\n")
			for range 2 * MaxFrame / 8 {
				if _, err := io.WriteString(c, "a:bcdef\n"); err != nil {
					break
				}
			}
			io.Copy(io.Discard, r) // until the check closes
		}, Config{}, "", "", "STOMP CONNECT: answer longer than 16 KiB"},
		{"closed", func(c net.Conn) { bufio.NewReader(c).ReadString(0) }, Config{}, "", "", "STOMP CONNECT: connection closed by server"},
		{"closed mid-frame", func(c net.Conn) {
			bufio.NewReader(c).ReadString(0)
			io.WriteString(c, "CONNECTED\nversion")
		}, Config{}, "", "", "STOMP CONNECT: connection closed by server"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Addr = testserver.Start(t, tc.serve)
			testserver.WantResult(t, run(t, cfg, 2*time.Second), tc.info, tc.warning, tc.err)
		})
	}
}

// TestConnectSent: the check sends a CONNECT with its vhost and
// credentials, and a DISCONNECT once connected.
func TestConnectSent(t *testing.T) {
	testserver.NoLeaks(t)
	got := make(chan [2]string, 1)
	addr := testserver.Start(t, answering(rabbitConnected, got))
	if r := run(t, Config{Addr: addr, VHost: "prod", User: "monitor", Password: "s3cret"}, 2*time.Second); !r.Passed() {
		t.Fatalf("failed: %v", r.Err)
	}
	sent := <-got
	if want := "CONNECT\naccept-version:1.0,1.1,1.2\nhost:prod\nheart-beat:0,0\nlogin:monitor\npasscode:s3cret\n\n\x00"; sent[0] != want {
		t.Fatalf("CONNECT %q, want %q", sent[0], want)
	}
	if sent[1] != string(Disconnect) {
		t.Fatalf("after CONNECTED the check sent %q, want a DISCONNECT", sent[1])
	}
	addr = testserver.Start(t, answering(rabbitConnected, got))
	if r := run(t, Config{Addr: addr}, 2*time.Second); !r.Passed() {
		t.Fatalf("failed: %v", r.Err)
	}
	if sent := <-got; !strings.Contains(sent[0], "\nhost:/\n") || strings.Contains(sent[0], "login") {
		t.Fatalf("CONNECT without a vhost and a user: %q, want host / and no login", sent[0])
	}
}

// TestFrozen: a listener whose kernel accepts but that never answers (a
// frozen node) fails the check at its timeout, with an error the
// scheduler takes for a timeout.
func TestFrozen(t *testing.T) {
	testserver.NoLeaks(t)
	r := run(t, Config{Addr: testserver.Silent(t)}, 200*time.Millisecond)
	testserver.WantTimeout(t, r, "STOMP CONNECT: timeout after ")
}

// TestValidate: the fields that are wrong are named.
func TestValidate(t *testing.T) {
	addr := netip.MustParseAddrPort("10.0.0.1:61613")
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "addr: must be ip:port"},
		{Config{Addr: addr, Password: "p"}, "user: is required with password"},
		{Config{Addr: addr, VHost: "a\nb"}, "vhost: must not hold a line break or a NUL"},
		{Config{Addr: addr, User: "u", Password: "p\r"}, "password: must not hold a line break or a NUL"},
	} {
		if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
	if err := (Config{Addr: addr, VHost: "prod", User: "u", Password: "p:q"}).Validate(); err != nil {
		t.Error(err)
	}
}

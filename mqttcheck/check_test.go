package mqttcheck

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

// readConnect reads a CONNECT packet from r and returns it whole.
func readConnect(r *bufio.Reader) ([]byte, error) {
	head := []byte{0}
	if _, err := io.ReadFull(r, head); err != nil {
		return nil, err
	}
	n, shift := 0, 0
	for {
		d, err := r.ReadByte()
		if err != nil {
			return nil, err
		}
		head = append(head, d)
		n |= int(d&0x7F) << shift
		if d&0x80 == 0 {
			break
		}
		shift += 7
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	return append(head, body...), nil
}

// acking answers a CONNECT with a CONNACK of code, and hands the CONNECT
// and what the client sent after it (until it closed) to got.
func acking(code ReturnCode, got chan<- [2][]byte) func(net.Conn) {
	return func(c net.Conn) {
		r := bufio.NewReader(c)
		pkt, err := readConnect(r)
		if err != nil {
			return
		}
		c.Write([]byte{0x20, 2, 0, byte(code)})
		rest, _ := io.ReadAll(r)
		if got != nil {
			got <- [2][]byte{pkt, rest}
		}
	}
}

// run runs one check of cfg within timeout.
func run(t *testing.T, cfg Config, timeout time.Duration) healthcheck.Result {
	t.Helper()
	return testserver.Run(t, New, cfg, timeout)
}

// TestCheck: what each CONNACK, and each server that sends none, makes of
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
		{"accepted", acking(Accepted, nil), Config{}, "MQTT CONNACK 0 connection accepted", "", ""},
		{"anonymous refused", acking(NotAuthorized, nil), Config{}, "MQTT CONNACK 5 not authorized (no user: the listener answers)", "", ""},
		{"login refused", acking(BadUserNameOrPassword, nil), Config{User: "u", Password: "old"},
			"MQTT CONNACK 4 bad user name or password", "login refused: MQTT CONNACK 4 bad user name or password", ""},
		{"login refused, failing", acking(NotAuthorized, nil), Config{User: "u", Password: "old", RefusedFails: true},
			"", "", "MQTT CONNECT: refused: CONNACK 5 not authorized"},
		{"server unavailable", acking(ServerUnavailable, nil), Config{}, "", "", "MQTT CONNECT: refused: CONNACK 3 server unavailable"},
		{"an HTTP server", func(c net.Conn) { io.WriteString(c, "HTTP/1.1 400 Bad Request\r\n\r\n") }, Config{},
			"", "", "MQTT CONNECT: not an MQTT server: it sent 0x48 where a CONNACK begins with 0x20"},
		{"closed", func(c net.Conn) { readConnect(bufio.NewReader(c)) }, Config{}, "", "", "MQTT CONNECT: connection closed by server"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Addr = testserver.Start(t, tc.serve)
			testserver.WantResult(t, run(t, cfg, 2*time.Second), tc.info, tc.warning, tc.err)
		})
	}
}

// TestConnectSent: the check sends a CONNECT with a clean session, its
// credentials and a client identifier of its own each time, and a
// DISCONNECT once accepted.
func TestConnectSent(t *testing.T) {
	testserver.NoLeaks(t)
	got := make(chan [2][]byte, 2)
	addr := testserver.Start(t, acking(Accepted, got))
	var ids []string
	for range 2 {
		if r := run(t, Config{Addr: addr, User: "vhost:monitor", Password: "s3cret"}, 2*time.Second); !r.Passed() {
			t.Fatalf("failed: %v", r.Err)
		}
		pkt := <-got
		connect, after := pkt[0], pkt[1]
		// 0x10 LEN 0 4 MQTT 4 FLAGS 0 10 | 0 22 ID | 0 13 USER | 0 6 PASS
		if connect[0] != 0x10 || string(connect[4:8]) != "MQTT" || connect[8] != 4 || connect[9] != 0xC2 || connect[11] != keepAlive {
			t.Fatalf("CONNECT % x", connect)
		}
		id := string(connect[14:36])
		if !strings.HasPrefix(id, "rmqlb-") || string(connect[38:51]) != "vhost:monitor" || string(connect[53:]) != "s3cret" {
			t.Fatalf("CONNECT fields: %q", connect[12:])
		}
		ids = append(ids, id)
		if string(after) != string(Disconnect) {
			t.Fatalf("after the CONNACK the check sent % x, want a DISCONNECT", after)
		}
	}
	if ids[0] == ids[1] {
		t.Fatalf("two checks with the client identifier %s", ids[0])
	}
}

// TestFrozen: a listener whose kernel accepts but that never answers (a
// frozen node) fails the check at its timeout, with an error the
// scheduler takes for a timeout.
func TestFrozen(t *testing.T) {
	testserver.NoLeaks(t)
	r := run(t, Config{Addr: testserver.Silent(t)}, 200*time.Millisecond)
	testserver.WantTimeout(t, r, "MQTT CONNECT: timeout after ")
}

// TestValidate: the fields that are wrong are named.
func TestValidate(t *testing.T) {
	addr := netip.MustParseAddrPort("10.0.0.1:1883")
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "addr: must be ip:port"},
		{Config{Addr: addr, Password: "p"}, "user: is required with password"},
		{Config{Addr: addr, User: strings.Repeat("u", 0x10000)}, "user: is 65536 bytes long, at most 65535"},
	} {
		if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg.Addr, err, tc.want)
		}
	}
	if err := (Config{Addr: addr, User: "u", Password: "p"}).Validate(); err != nil {
		t.Error(err)
	}
}

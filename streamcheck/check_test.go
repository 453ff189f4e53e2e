package streamcheck

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"slices"
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

// broker is a fake stream server: it answers each request with what
// answer returns for its key (nil: nothing, and the connection closes),
// tunes the connection after a login, and hands the keys of the frames
// it read to got.
type broker struct {
	answer func(key uint16, corr uint32) []byte
	got    chan<- []uint16
}

var rabbitProperties = properties(Property{"product", "RabbitMQ"}, Property{"version", "3.10.8"}, Property{"cluster_name", "prod"})

// rabbit answers as RabbitMQ does to a client that logs in; refuse, if
// not 0, answers the request of key refuseAt.
func rabbit(refuseAt uint16, refuse Code) func(uint16, uint32) []byte {
	return func(key uint16, corr uint32) []byte {
		if key == refuseAt {
			return response(key, corr, refuse)
		}
		switch key {
		case KeyPeerProperties:
			return response(key, corr, OK, rabbitProperties...)
		case KeySaslHandshake:
			return response(key, corr, OK, 0, 0, 0, 2, 0, 5, 'A', 'M', 'Q', 'P', 'L', 0, 5, 'P', 'L', 'A', 'I', 'N')
		case KeySaslAuthenticate:
			return append(response(key, corr, OK, 0, 0, 0, 0), 0, 0, 0, 12, 0x00, 0x14, 0, 1, 0, 0x10, 0, 0, 0, 0, 0, 60)
		case KeyOpen:
			return response(key, corr, OK, properties(Property{"advertised_host", "h1"})...)
		case KeyClose:
			return response(key, corr, OK)
		}
		return nil
	}
}

func (b broker) serve(c net.Conn) {
	r := bufio.NewReader(c)
	var keys []uint16
	defer func() {
		if b.got != nil {
			b.got <- keys
		}
	}()
	for {
		var size [4]byte
		if _, err := io.ReadFull(r, size[:]); err != nil {
			return
		}
		body := make([]byte, binary.BigEndian.Uint32(size[:]))
		if _, err := io.ReadFull(r, body); err != nil || len(body) < 4 {
			return
		}
		key := binary.BigEndian.Uint16(body)
		keys = append(keys, key)
		if key == KeyTune {
			continue
		}
		a := b.answer(key, binary.BigEndian.Uint32(body[4:]))
		if a == nil {
			return
		}
		c.Write(a)
	}
}

// TestCheck: what each answer, and each server that sends none, makes of
// the check.
func TestCheck(t *testing.T) {
	testserver.NoLeaks(t)
	login := Config{User: "monitor", Password: "s3cret"}
	tests := []struct {
		name    string
		serve   func(net.Conn)
		cfg     Config
		info    string // of a pass
		warning string // of a pass
		err     string // of a failure
	}{
		{"peer properties", broker{answer: rabbit(0, 0)}.serve, Config{}, "RabbitMQ 3.10.8 stream (cluster prod)", "", ""},
		{"login", broker{answer: rabbit(0, 0)}.serve, login, "RabbitMQ 3.10.8 stream (cluster prod)", "", ""},
		{"no product", broker{answer: func(key uint16, corr uint32) []byte { return response(key, corr, OK, 0, 0, 0, 0) }}.serve, Config{},
			"stream peer properties", "", ""},
		{"authentication failure", broker{answer: rabbit(KeySaslAuthenticate, AuthenticationFailure)}.serve, login,
			"RabbitMQ 3.10.8 stream (cluster prod)", "login refused: stream SaslAuthenticate: answered 0x08 authentication failure", ""},
		{"vhost refused", broker{answer: rabbit(KeyOpen, VirtualHostAccessFailure)}.serve, Config{User: "u", VHost: "prod"},
			"RabbitMQ 3.10.8 stream (cluster prod)", "login refused: stream Open prod: answered 0x0c virtual host access failure", ""},
		{"login refused, failing", broker{answer: rabbit(KeySaslAuthenticate, AuthenticationLoopback)}.serve, Config{User: "guest", Password: "guest", RefusedFails: true},
			"", "", "stream SaslAuthenticate: refused: answered 0x0b authentication failure loopback"},
		{"the cluster wanted", broker{answer: rabbit(0, 0)}.serve, Config{Cluster: "prod"}, "RabbitMQ 3.10.8 stream (cluster prod)", "", ""},
		{"another cluster", broker{answer: rabbit(0, 0)}.serve, Config{Cluster: "staging"},
			"", "", `stream PeerProperties: broker in another cluster: it names cluster "prod", not "staging" (reset, or not joined to the cluster?)`},
		{"peer properties refused", broker{answer: rabbit(KeyPeerProperties, InternalError)}.serve, Config{},
			"", "", "stream PeerProperties: answered 0x0f internal error"},
		{"no PLAIN", broker{answer: func(key uint16, corr uint32) []byte {
			if key == KeySaslHandshake {
				return response(key, corr, OK, 0, 0, 0, 1, 0, 8, 'E', 'X', 'T', 'E', 'R', 'N', 'A', 'L')
			}
			return rabbit(0, 0)(key, corr)
		}}.serve, login, "", "", `stream SaslHandshake: the broker offers ["EXTERNAL"], not PLAIN`},
		{"the broker closes", broker{answer: func(key uint16, corr uint32) []byte {
			return []byte{0, 0, 0, 20, 0x00, 0x16, 0, 1, 0, 0, 0, 1, 0, 0x0f, 0, 8, 'o', 'v', 'e', 'r', 'l', 'o', 'a', 'd'}
		}}.serve, Config{}, "", "", "stream PeerProperties: the broker closed the connection: 0x0f internal error overload"},
		{"an AMQP server", func(c net.Conn) { io.WriteString(c, "AMQP\x00\x00\x09\x01") }, Config{},
			"", "", "stream PeerProperties: not a RabbitMQ stream server: it sent 41 4d 51 50, a frame of 1095586128 bytes"},
		{"closed", func(c net.Conn) { io.ReadFull(c, make([]byte, 8)) }, Config{}, "", "", "stream PeerProperties: connection closed by server"},
		{"closed after the login", broker{answer: func(key uint16, corr uint32) []byte {
			if key == KeyOpen {
				return nil
			}
			return rabbit(0, 0)(key, corr)
		}}.serve, login, "", "", "stream Open /: connection closed by server"},
		{"a frame larger than MaxFrame", func(c net.Conn) {
			io.ReadFull(c, make([]byte, 8))
			c.Write([]byte{0, 0x10, 0, 1})
		}, Config{}, "", "", "stream PeerProperties: not a RabbitMQ stream server: it sent 00 10 00 01, a frame of 1048577 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Addr = testserver.Start(t, tc.serve)
			testserver.WantResult(t, run(t, cfg, 2*time.Second), tc.info, tc.warning, tc.err)
		})
	}
}

// TestSent: the check without a user exchanges peer properties and
// closes the connection; with one, it logs in, answers the broker's
// Tune, opens the vhost and closes with Close.
func TestSent(t *testing.T) {
	testserver.NoLeaks(t)
	got := make(chan []uint16, 1)
	addr := testserver.Start(t, broker{answer: rabbit(0, 0), got: got}.serve)
	for _, tc := range []struct {
		cfg  Config
		want []uint16
	}{
		{Config{}, []uint16{KeyPeerProperties}},
		{Config{User: "u", Password: "p"}, []uint16{KeyPeerProperties, KeySaslHandshake, KeySaslAuthenticate, KeyTune, KeyOpen, KeyClose}},
	} {
		tc.cfg.Addr = addr
		if r := run(t, tc.cfg, 2*time.Second); !r.Passed() || r.Cluster != "prod" {
			t.Fatalf("%+v", r)
		}
		if keys := <-got; !slices.Equal(keys, tc.want) {
			t.Fatalf("sent %x, want %x", keys, tc.want)
		}
	}
}

// TestFrozen: a listener whose kernel accepts but that never answers (a
// frozen node) fails the check at its timeout, with an error the
// scheduler takes for a timeout.
func TestFrozen(t *testing.T) {
	testserver.NoLeaks(t)
	r := run(t, Config{Addr: testserver.Silent(t)}, 200*time.Millisecond)
	testserver.WantTimeout(t, r, "stream PeerProperties: timeout after ")
}

// TestValidate: the fields that are wrong are named.
func TestValidate(t *testing.T) {
	addr := netip.MustParseAddrPort("10.0.0.1:5552")
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "addr: must be ip:port"},
		{Config{Addr: addr, Password: "p"}, "user: is required with password"},
		{Config{Addr: addr, User: "u", VHost: strings.Repeat("v", maxString+1)}, "vhost: is 32768 bytes long, at most 32767"},
	} {
		if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg.Addr, err, tc.want)
		}
	}
	if err := (Config{Addr: addr, User: "u", Password: "p", VHost: "prod"}).Validate(); err != nil {
		t.Error(err)
	}
}

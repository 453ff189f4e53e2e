package mqttcheck

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

// TestAppendConnectGolden: CONNECT packets byte for byte, as section 3.1
// lays them out.
func TestAppendConnectGolden(t *testing.T) {
	id := "rmqlb-0011223344556677"
	tests := []struct {
		name string
		c    Connect
		want []byte
	}{
		{"anonymous", Connect{ClientID: id, KeepAlive: 10}, append([]byte{
			0x10, 34, // CONNECT, remaining length
			0, 4, 'M', 'Q', 'T', 'T', // protocol name
			4,     // protocol level: 3.1.1
			0x02,  // clean session
			0, 10, // keep alive
			0, 22}, id...)},
		{"user and password", Connect{ClientID: id, User: "u", Password: "pw", KeepAlive: 10}, append(append([]byte{
			0x10, 41,
			0, 4, 'M', 'Q', 'T', 'T', 4,
			0xC2, // user name, password, clean session
			0, 10,
			0, 22}, id...), 0, 1, 'u', 0, 2, 'p', 'w')},
		{"user without password", Connect{ClientID: "c", User: "u"}, []byte{
			0x10, 16,
			0, 4, 'M', 'Q', 'T', 'T', 4,
			0x82, // user name, clean session
			0, 0,
			0, 1, 'c', 0, 1, 'u'}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := AppendConnect([]byte{0xAA}, tc.c)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, append([]byte{0xAA}, tc.want...)) {
				t.Fatalf("got  % x\nwant % x", got[1:], tc.want)
			}
		})
	}
}

// TestRemainingLength: the remaining length takes a second byte from 128
// on, seven bits a byte, least significant first (section 2.2.3).
func TestRemainingLength(t *testing.T) {
	for n, want := range map[int][]byte{0: {0}, 127: {0x7F}, 128: {0x80, 0x01}, 16383: {0xFF, 0x7F}, 16384: {0x80, 0x80, 0x01}, 196626: {0x92, 0x80, 0x0C}} {
		if got := appendRemaining(nil, n); !bytes.Equal(got, want) {
			t.Errorf("%d: % x, want % x", n, got, want)
		}
	}
	pkt, err := AppendConnect(nil, Connect{ClientID: "c", User: "u", Password: strings.Repeat("p", 200)})
	if err != nil {
		t.Fatal(err)
	}
	// 10 (header) + 3 + 3 + 202 = 218: 0xDA 0x01.
	if pkt[1] != 0xDA || pkt[2] != 0x01 || len(pkt) != 3+218 {
		t.Fatalf("remaining length % x, packet of %d bytes", pkt[1:3], len(pkt))
	}
}

// TestAppendConnectTooLong: a field longer than its length prefix holds
// is refused.
func TestAppendConnectTooLong(t *testing.T) {
	if _, err := AppendConnect(nil, Connect{ClientID: "c", User: "u", Password: strings.Repeat("p", 0x10000)}); !errors.Is(err, ErrFieldTooLong) {
		t.Fatalf("err %v, want ErrFieldTooLong", err)
	}
}

// TestParseConnAck: CONNACK packets and what is wrong with those that are
// not.
func TestParseConnAck(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want ConnAck
		err  error
	}{
		{"accepted", []byte{0x20, 2, 0, 0}, ConnAck{Code: Accepted}, nil},
		{"session present", []byte{0x20, 2, 1, 0}, ConnAck{SessionPresent: true}, nil},
		{"not authorized", []byte{0x20, 2, 0, 5}, ConnAck{Code: NotAuthorized}, nil},
		{"reserved code", []byte{0x20, 2, 0, 9}, ConnAck{Code: 9}, nil},
		{"short", []byte{0x20, 2, 0}, ConnAck{}, io.ErrUnexpectedEOF},
		{"empty", nil, ConnAck{}, io.ErrUnexpectedEOF},
		{"HTTP", []byte("HTTP/1.1 400"), ConnAck{}, ErrNotMQTT},
		{"AMQP", []byte("AMQP\x00\x00\x09\x01"), ConnAck{}, ErrNotMQTT},
		{"length", []byte{0x20, 3, 0, 0}, ConnAck{}, ErrNotMQTT},
		{"reserved flags", []byte{0x20, 2, 2, 0}, ConnAck{}, ErrNotMQTT},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseConnAck(tc.in)
			if !errors.Is(err, tc.err) || (tc.err != nil) != (err != nil) || got != tc.want {
				t.Fatalf("ParseConnAck(% x) = %+v, %v; want %+v, %v", tc.in, got, err, tc.want, tc.err)
			}
		})
	}
}

// TestReturnCodeString: the code and its meaning.
func TestReturnCodeString(t *testing.T) {
	for c, want := range map[ReturnCode]string{Accepted: "0 connection accepted", NotAuthorized: "5 not authorized", BadUserNameOrPassword: "4 bad user name or password", 200: "200 (reserved)"} {
		if got := c.String(); got != want {
			t.Errorf("%d: %q, want %q", byte(c), got, want)
		}
	}
}

// FuzzParseConnAck: any input decodes or fails without a panic; what
// decodes was four bytes of a CONNACK.
func FuzzParseConnAck(f *testing.F) {
	for _, s := range [][]byte{{0x20, 2, 0, 0}, {0x20, 2, 1, 5}, {0x20}, []byte("HTTP/1.1")} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		a, err := ParseConnAck(in)
		if err != nil {
			return
		}
		if len(in) < ConnAckLen || in[0] != 0x20 || in[1] != 2 || a.Code != ReturnCode(in[3]) {
			t.Fatalf("% x decoded as %+v", in, a)
		}
	})
}

// FuzzAppendConnect: any fields encode into a packet whose remaining
// length counts the bytes after it, and whose fields read back.
func FuzzAppendConnect(f *testing.F) {
	f.Add("rmqlb-0011223344556677", "", "", uint16(10))
	f.Add("c", "guest", "guest", uint16(0))
	f.Add("", "u", "", uint16(65535))
	f.Fuzz(func(t *testing.T, id, user, pass string, ka uint16) {
		pkt, err := AppendConnect(nil, Connect{ClientID: id, User: user, Password: pass, KeepAlive: ka})
		if err != nil {
			return
		}
		n, i, shift := 0, 1, 0
		for {
			d := pkt[i]
			n |= int(d&0x7F) << shift
			i++
			if d&0x80 == 0 {
				break
			}
			shift += 7
		}
		if len(pkt)-i != n || pkt[0] != 0x10 {
			t.Fatalf("remaining length %d, %d bytes follow", n, len(pkt)-i)
		}
		body := pkt[i+10:]
		var got []string
		for len(body) >= 2 {
			l := int(binary.BigEndian.Uint16(body))
			got = append(got, string(body[2:2+l]))
			body = body[2+l:]
		}
		want := []string{id}
		if user != "" {
			want = append(want, user)
			if pass != "" {
				want = append(want, pass)
			}
		}
		if strings.Join(got, "\x00") != strings.Join(want, "\x00") || len(got) != len(want) {
			t.Fatalf("fields %q, want %q", got, want)
		}
	})
}

package stompcheck

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// TestAppendConnectGolden: CONNECT frames byte for byte.
func TestAppendConnectGolden(t *testing.T) {
	tests := []struct {
		name string
		c    Connect
		want string
	}{
		{"no login", Connect{Host: "/"},
			"CONNECT\naccept-version:1.0,1.1,1.2\nhost:/\nheart-beat:0,0\n\n\x00"},
		{"login", Connect{Host: "prod", Login: "monitor", Passcode: "s3:cret"},
			"CONNECT\naccept-version:1.0,1.1,1.2\nhost:prod\nheart-beat:0,0\nlogin:monitor\npasscode:s3:cret\n\n\x00"},
		{"login without passcode", Connect{Host: "/", Login: "monitor"},
			"CONNECT\naccept-version:1.0,1.1,1.2\nhost:/\nheart-beat:0,0\nlogin:monitor\npasscode:\n\n\x00"},
		{"passcode without login", Connect{Host: "/", Passcode: "p"},
			"CONNECT\naccept-version:1.0,1.1,1.2\nhost:/\nheart-beat:0,0\n\n\x00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := AppendConnect([]byte{0xAA}, tc.c)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, append([]byte{0xAA}, tc.want...)) {
				t.Fatalf("got  %q\nwant %q", got[1:], tc.want)
			}
		})
	}
	if s := string(Disconnect); s != "DISCONNECT\n\n\x00" {
		t.Fatalf("DISCONNECT %q", s)
	}
}

// TestAppendConnectBadValue: a value a header cannot carry is refused,
// not sent as a header of its own.
func TestAppendConnectBadValue(t *testing.T) {
	for _, c := range []Connect{{Host: "a\nlogin:admin"}, {Login: "u\r"}, {Login: "u", Passcode: "p\x00"}} {
		b, err := AppendConnect(nil, c)
		if !errors.Is(err, ErrBadValue) || len(b) != 0 {
			t.Errorf("%+v: %q %v, want ErrBadValue", c, b, err)
		}
	}
}

// TestParseFrame: the frames servers answer, byte for byte.
func TestParseFrame(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Frame
		n    int // bytes taken
	}{
		{"RabbitMQ's CONNECTED", "CONNECTED\nserver:RabbitMQ/3.10.8\nsession:session-x\nheart-beat:0,0\nversion:1.2\n\n\x00\n",
			Frame{Command: "CONNECTED", Headers: []Header{{"server", "RabbitMQ/3.10.8"}, {"session", "session-x"}, {"heart-beat", "0,0"}, {"version", "1.2"}}, Body: []byte{}}, 80},
		{"RabbitMQ's ERROR", "ERROR\nmessage:Bad CONNECT\ncontent-type:text/plain\nversion:1.0,1.1,1.2\ncontent-length:33\n\nAccess refused for user 'monitor'\x00",
			Frame{Command: "ERROR", Headers: []Header{{"message", "Bad CONNECT"}, {"content-type", "text/plain"}, {"version", "1.0,1.1,1.2"}, {"content-length", "33"}}, Body: []byte("Access refused for user 'monitor'")}, -1},
		{"CR LF and heart-beats before", "\n\r\nCONNECTED\r\nversion:1.1\r\n\r\n\x00",
			Frame{Command: "CONNECTED", Headers: []Header{{"version", "1.1"}}, Body: []byte{}}, 30},
		{"a body with a NUL of its content-length", "ERROR\ncontent-length:3\n\na\x00b\x00",
			Frame{Command: "ERROR", Headers: []Header{{"content-length", "3"}}, Body: []byte("a\x00b")}, 28},
		{"escaped ERROR header", "ERROR\nmessage:a\\cb\\nc\\\\d\\x\n\n\x00",
			Frame{Command: "ERROR", Headers: []Header{{"message", "a:b\nc\\d\\x"}}, Body: []byte{}}, 29},
		{"CONNECTED is not unescaped", "CONNECTED\nserver:a\\cb\n\n\x00",
			Frame{Command: "CONNECTED", Headers: []Header{{"server", "a\\cb"}}, Body: []byte{}}, 24},
		{"repeated header", "ERROR\nmessage:first\nmessage:second\n\n\x00",
			Frame{Command: "ERROR", Headers: []Header{{"message", "first"}, {"message", "second"}}, Body: []byte{}}, 37},
		{"header value with a colon", "CONNECTED\nserver:a:b\n\n\x00",
			Frame{Command: "CONNECTED", Headers: []Header{{"server", "a:b"}}, Body: []byte{}}, 23},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, n, err := ParseFrame([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if tc.n == -1 {
				tc.n = len(tc.in)
			}
			if !reflect.DeepEqual(f, tc.want) || n != tc.n {
				t.Fatalf("got %+v, %d\nwant %+v, %d", f, n, tc.want, tc.n)
			}
			if v, ok := f.Get(tc.want.Headers[0].Name); !ok || v != tc.want.Headers[0].Value {
				t.Fatalf("Get(%s) = %q %v", tc.want.Headers[0].Name, v, ok)
			}
			// Every part of a frame is a frame to be completed.
			for i := range tc.n {
				if _, _, err := ParseFrame([]byte(tc.in[:i])); err != io.ErrUnexpectedEOF {
					t.Fatalf("first %d bytes: %v, want io.ErrUnexpectedEOF", i, err)
				}
			}
		})
	}
}

// TestParseFrameNotSTOMP: what other servers send is refused as soon as
// its first bytes show it, without waiting for more.
func TestParseFrameNotSTOMP(t *testing.T) {
	for _, in := range []string{
		"HTTP/1.1 400 Bad Request\r\n\r\n",
		"AMQP\x00\x00\x09\x01",
		"connected\n\n\x00",
		"\x20\x02\x00\x00", // an MQTT CONNACK
		strings.Repeat("A", maxCommand+1),
		"CONNECTED\nno colon\n\n\x00",
		"ERROR\ncontent-length:x\n\n\x00",
		"ERROR\ncontent-length:-1\n\n\x00",
		"ERROR\ncontent-length:1\n\nab\x00",
		"\n\n\r\r",
	} {
		if _, _, err := ParseFrame([]byte(in)); !errors.Is(err, ErrNotSTOMP) {
			t.Errorf("%q: %v, want ErrNotSTOMP", in, err)
		}
	}
}

// FuzzParseFrame: any bytes give a frame, a need for more, or
// ErrNotSTOMP; never a panic. A frame is taken from the bytes it was in,
// and parses the same from them alone.
func FuzzParseFrame(f *testing.F) {
	for _, s := range []string{
		"CONNECTED\nversion:1.2\n\n\x00",
		"ERROR\nmessage:Bad CONNECT\ncontent-length:4\n\nabcd\x00",
		"\r\nERROR\nmessage:a\\c\n\n\x00\n",
		"HTTP/1.1 200 OK\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, n, err := ParseFrame(b)
		if err != nil {
			if err != io.ErrUnexpectedEOF && !errors.Is(err, ErrNotSTOMP) {
				t.Fatalf("error %v", err)
			}
			return
		}
		if n <= 0 || n > len(b) || b[n-1] != 0 || fr.Command == "" {
			t.Fatalf("frame %+v of %d bytes of %q", fr, n, b)
		}
		again, n2, err := ParseFrame(b[:n])
		if err != nil || n2 != n || !reflect.DeepEqual(again, fr) {
			t.Fatalf("again: %+v %d %v, want %+v %d", again, n2, err, fr, n)
		}
	})
}

// FuzzAppendConnect: a CONNECT frame of any values either is refused or
// parses back to its headers.
func FuzzAppendConnect(f *testing.F) {
	f.Add("/", "monitor", "s3cret")
	f.Add("a\nb", "", "")
	f.Fuzz(func(t *testing.T, host, login, passcode string) {
		b, err := AppendConnect(nil, Connect{Host: host, Login: login, Passcode: passcode})
		if err != nil {
			if !errors.Is(err, ErrBadValue) {
				t.Fatal(err)
			}
			return
		}
		// CONNECT's headers are not escaped: parse it as a CONNECTED.
		fr, n, err := ParseFrame(append([]byte("CONNECTED"), b[len("CONNECT"):]...))
		if err != nil || n != len(b)+2 {
			t.Fatalf("%q: %v %d", b, err, n)
		}
		if v, _ := fr.Get("host"); v != host {
			t.Fatalf("host %q, want %q", v, host)
		}
		if v, ok := fr.Get("login"); ok != (login != "") || v != login {
			t.Fatalf("login %q, want %q", v, login)
		}
		if v, ok := fr.Get("passcode"); login != "" && (!ok || v != passcode) {
			t.Fatalf("passcode %q, want %q", v, passcode)
		}
	})
}

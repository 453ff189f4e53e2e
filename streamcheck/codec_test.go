package streamcheck

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// TestAppendGolden: the requests the check sends, byte for byte, as the
// protocol reference lays them out.
func TestAppendGolden(t *testing.T) {
	must := func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name string
		got  []byte
		want []byte
	}{
		{"PeerProperties", must(AppendPeerProperties([]byte{0xAA}, 1, []Property{{"product", "rmqlb"}})), []byte{0xAA,
			0, 0, 0, 28, // size
			0x00, 0x11, 0, 1, // key, version
			0, 0, 0, 1, // correlation id
			0, 0, 0, 1, // one property
			0, 7, 'p', 'r', 'o', 'd', 'u', 'c', 't',
			0, 5, 'r', 'm', 'q', 'l', 'b'}},
		{"SaslHandshake", AppendSaslHandshake(nil, 2), []byte{
			0, 0, 0, 8,
			0x00, 0x12, 0, 1,
			0, 0, 0, 2}},
		{"SaslAuthenticate PLAIN", must(AppendSaslPlain(nil, 3, "u", "pw")), []byte{
			0, 0, 0, 24,
			0x00, 0x13, 0, 1,
			0, 0, 0, 3,
			0, 5, 'P', 'L', 'A', 'I', 'N',
			0, 0, 0, 5, 0, 'u', 0, 'p', 'w'}},
		{"Tune", AppendTune(nil, 1048576, 0), []byte{
			0, 0, 0, 12,
			0x00, 0x14, 0, 1,
			0, 0x10, 0, 0, // frame max
			0, 0, 0, 0}}, // heartbeat
		{"Open", must(AppendOpen(nil, 4, "/")), []byte{
			0, 0, 0, 11,
			0x00, 0x15, 0, 1,
			0, 0, 0, 4,
			0, 1, '/'}},
		{"Close", must(AppendClose(nil, 5, OK, "bye")), []byte{
			0, 0, 0, 15,
			0x00, 0x16, 0, 1,
			0, 0, 0, 5,
			0, 1, // code
			0, 3, 'b', 'y', 'e'}},
	}
	for _, tc := range tests {
		if !bytes.Equal(tc.got, tc.want) {
			t.Errorf("%s:\ngot  % x\nwant % x", tc.name, tc.got, tc.want)
		}
	}
}

// TestAppendTooLong: a string longer than its length holds is refused
// and nothing is appended.
func TestAppendTooLong(t *testing.T) {
	long := strings.Repeat("x", maxString+1)
	if b, err := AppendOpen([]byte{1}, 1, long); !errors.Is(err, ErrTooLong) || !bytes.Equal(b, []byte{1}) {
		t.Fatalf("%d bytes, %v: want ErrTooLong and b as it was", len(b), err)
	}
	if _, err := AppendPeerProperties(nil, 1, []Property{{"k", long}}); !errors.Is(err, ErrTooLong) {
		t.Fatalf("%v, want ErrTooLong", err)
	}
}

// response encodes a response frame of key with code and rest.
func response(key uint16, corr uint32, code Code, rest ...byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(10+len(rest)))
	b = binary.BigEndian.AppendUint16(b, key|ResponseBit)
	b = binary.BigEndian.AppendUint16(b, 1)
	b = binary.BigEndian.AppendUint32(b, corr)
	b = binary.BigEndian.AppendUint16(b, uint16(code))
	return append(b, rest...)
}

// properties encodes an array of properties; a Value "\x00null" is sent
// as a null string.
func properties(props ...Property) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(props)))
	for _, p := range props {
		for _, s := range []string{p.Key, p.Value} {
			if s == "\x00null" {
				b = append(b, 0xFF, 0xFF)
				continue
			}
			b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
			b = append(b, s...)
		}
	}
	return b
}

// TestParse: the server's frames, byte for byte.
func TestParse(t *testing.T) {
	in := append(response(KeyPeerProperties, 1, OK, properties(Property{"product", "RabbitMQ"}, Property{"version", "\x00null"})...), 0xEE)
	f, n, err := ParseFrame(in, MaxFrame)
	if err != nil || n != len(in)-1 || f.Key != KeyPeerProperties|ResponseBit || f.Version != 1 {
		t.Fatalf("frame %+v %d %v", f, n, err)
	}
	for i := range n {
		if _, _, err := ParseFrame(in[:i], MaxFrame); err != io.ErrUnexpectedEOF {
			t.Fatalf("first %d bytes: %v, want io.ErrUnexpectedEOF", i, err)
		}
	}
	resp, err := ParseResponse(f)
	if err != nil || resp.Key != KeyPeerProperties || resp.Corr != 1 || resp.Code != OK {
		t.Fatalf("response %+v %v", resp, err)
	}
	props, err := ParseProperties(resp.Rest)
	if err != nil || !reflect.DeepEqual(props, []Property{{"product", "RabbitMQ"}, {"version", ""}}) {
		t.Fatalf("properties %+v %v", props, err)
	}
	for i := range len(resp.Rest) {
		if _, err := ParseProperties(resp.Rest[:i]); err != io.ErrUnexpectedEOF {
			t.Fatalf("first %d bytes of the properties: %v, want io.ErrUnexpectedEOF", i, err)
		}
	}

	mechs, err := ParseMechanisms([]byte{0, 0, 0, 2, 0, 5, 'P', 'L', 'A', 'I', 'N', 0, 5, 'A', 'M', 'Q', 'P', 'L'})
	if err != nil || !reflect.DeepEqual(mechs, []string{"PLAIN", "AMQPL"}) {
		t.Fatalf("mechanisms %q %v", mechs, err)
	}
	if _, err := ParseMechanisms([]byte{0, 0, 0, 2, 0, 5, 'P', 'L', 'A', 'I', 'N'}); err != io.ErrUnexpectedEOF {
		t.Fatalf("a mechanism short: %v", err)
	}
	fm, hb, err := ParseTune(Frame{Key: KeyTune, Body: []byte{0, 0x10, 0, 0, 0, 0, 0, 60}})
	if err != nil || fm != 1048576 || hb != 60 {
		t.Fatalf("tune %d %d %v", fm, hb, err)
	}
	corr, code, reason, err := ParseClose(Frame{Key: KeyClose, Body: []byte{0, 0, 0, 9, 0, 0x0f, 0, 2, 'n', 'o'}})
	if err != nil || corr != 9 || code != InternalError || reason != "no" {
		t.Fatalf("close %d %s %q %v", corr, code, reason, err)
	}
	if _, err := ParseResponse(Frame{Key: KeyTune, Body: make([]byte, 8)}); !errors.Is(err, ErrNotStream) {
		t.Fatalf("a command as a response: %v", err)
	}
	if _, err := ParseResponse(Frame{Key: KeyOpen | ResponseBit, Body: make([]byte, 5)}); err != io.ErrUnexpectedEOF {
		t.Fatalf("a short response: %v", err)
	}
}

// TestFrameSizeNotStream: the first bytes of other servers' answers are
// no frame size, and say so at once.
func TestFrameSizeNotStream(t *testing.T) {
	for _, in := range []string{"AMQP\x00\x00\x09\x01", "HTTP/1.1 400", "\x00\x00\x00\x03", "\x20\x02\x00\x00" /* an MQTT CONNACK */} {
		if _, err := FrameSize([]byte(in), MaxFrame); !errors.Is(err, ErrNotStream) {
			t.Errorf("%q: %v, want ErrNotStream", in, err)
		}
	}
	if n, err := FrameSize([]byte{0, 0x10, 0, 0}, MaxFrame); n != MaxFrame || err != nil {
		t.Errorf("a frame of MaxFrame: %d %v", n, err)
	}
}

// TestCodeString: codes read as the reference names them.
func TestCodeString(t *testing.T) {
	for c, want := range map[Code]string{OK: "0x01 ok", AuthenticationLoopback: "0x0b authentication failure loopback", 0x99: "0x99"} {
		if c.String() != want {
			t.Errorf("%d: %q, want %q", c, c.String(), want)
		}
	}
	if !VirtualHostAccessFailure.Refused() || InternalError.Refused() {
		t.Error("Refused")
	}
}

// FuzzParse: any bytes read as frames, responses and what they carry
// give a value or an error, never a panic; a frame never takes more than
// b holds.
func FuzzParse(f *testing.F) {
	f.Add(response(KeyPeerProperties, 1, OK, properties(Property{"product", "RabbitMQ"})...))
	f.Add(response(KeySaslHandshake, 2, OK, 0, 0, 0, 1, 0, 5, 'P', 'L', 'A', 'I', 'N'))
	f.Add([]byte{0, 0, 0, 12, 0x00, 0x14, 0, 1, 0, 0x10, 0, 0, 0, 0, 0, 60})
	f.Add([]byte("AMQP\x00\x00\x09\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, n, err := ParseFrame(b, 1<<16)
		if err != nil {
			if err != io.ErrUnexpectedEOF && !errors.Is(err, ErrNotStream) {
				t.Fatalf("error %v", err)
			}
			return
		}
		if n > len(b) || n != 8+len(fr.Body) {
			t.Fatalf("frame of %d bytes, body %d, from %d", n, len(fr.Body), len(b))
		}
		ParseTune(fr)
		ParseClose(fr)
		if resp, err := ParseResponse(fr); err == nil {
			ParseProperties(resp.Rest)
			ParseMechanisms(resp.Rest)
		}
	})
}

// FuzzAppendPeerProperties: any properties encode to a frame that parses
// back to them, or are refused.
func FuzzAppendPeerProperties(f *testing.F) {
	f.Add("product", "rmqlb", uint32(1))
	f.Fuzz(func(t *testing.T, k, v string, corr uint32) {
		b, err := AppendPeerProperties(nil, corr, []Property{{k, v}})
		if err != nil {
			if !errors.Is(err, ErrTooLong) {
				t.Fatal(err)
			}
			return
		}
		fr, n, err := ParseFrame(b, len(b))
		if err != nil || n != len(b) || fr.Key != KeyPeerProperties || len(fr.Body) < 4 || binary.BigEndian.Uint32(fr.Body) != corr {
			t.Fatalf("% x: %+v %d %v", b, fr, n, err)
		}
		props, err := ParseProperties(fr.Body[4:])
		if err != nil || !reflect.DeepEqual(props, []Property{{k, v}}) {
			t.Fatalf("% x: %+v %v", b, props, err)
		}
	})
}

package amqpcheck

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGoldenConnectionStart parses the Connection.Start frame captured from RabbitMQ 3.10.8
// (Debian package, Erlang/OTP 25.2.3) on a node named rxa@vm.
func TestGoldenConnectionStart(t *testing.T) {
	raw, err := os.ReadFile("testdata/connection-start-rabbitmq-3.10.8.bin")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ReadFrame(bytes.NewReader(raw), DefaultMaxFrameSize)
	if err != nil {
		t.Fatal(err)
	}
	if f.Type != FrameMethod || f.Channel != 0 || len(f.Payload) != len(raw)-8 {
		t.Fatalf("frame %d ch %d len %d", f.Type, f.Channel, len(f.Payload))
	}
	id, args, err := ParseMethod(f.Payload)
	if err != nil || id != ConnectionStart {
		t.Fatalf("method %v %v", id, err)
	}
	st, err := ParseStart(args)
	if err != nil {
		t.Fatal(err)
	}
	info := ServerInfoFrom(st)
	want := ServerInfo{VersionMajor: 0, VersionMinor: 9, Product: "RabbitMQ", Version: "3.10.8",
		Platform: "Erlang/OTP 25.2.3", ClusterName: "rxa@vm", Mechanisms: []string{"PLAIN", "AMQPLAIN"}}
	if info.Product != want.Product || info.Version != want.Version || info.Platform != want.Platform ||
		info.ClusterName != want.ClusterName || strings.Join(info.Mechanisms, " ") != "PLAIN AMQPLAIN" ||
		info.VersionMajor != 0 || info.VersionMinor != 9 {
		t.Fatalf("got %+v", info)
	}
	for _, c := range []string{"publisher_confirms", "connection.blocked", "authentication_failure_close", "basic.nack"} {
		if !info.Capabilities[c] {
			t.Errorf("capability %s missing: %v", c, info.Capabilities)
		}
	}
	if st.Locales != "en_US" {
		t.Errorf("locales %q", st.Locales)
	}
	if got := info.String(); got != "RabbitMQ 3.10.8 (cluster rxa@vm, Erlang/OTP 25.2.3)" {
		t.Errorf("String() = %q", got)
	}
}

// TestGoldenEncode pins the bytes of every frame a login check sends (AMQP 0-9-1 section
// 4.2.3 framing, method arguments per the spec's XML).
func TestGoldenEncode(t *testing.T) {
	startOk, err := StartOkArgs(Table{"product": "x", "capabilities": Table{"connection.blocked": true}}, "PLAIN", []byte("\x00u\x00p"), "en_US")
	if err != nil {
		t.Fatal(err)
	}
	open, _ := OpenArgs("/")
	closeArgs, _ := CloseArgs(Close{ReplyCode: 200, ReplyText: "bye"})
	pub, _ := PublishArgs("", "k")
	for _, tc := range []struct {
		name string
		got  []byte
		want string
	}{
		{"heartbeat", AppendFrame(nil, Frame{Type: FrameHeartbeat}), "08 0000 00000000 ce"},
		{"start-ok", AppendMethod(nil, 0, ConnectionStartOk, startOk), `
			01 0000 00000051  000a 000b
			00000035
			  0c 6361706162696c6974696573 46 00000015 12 636f6e6e656374696f6e2e626c6f636b6564 74 01
			  07 70726f64756374 53 00000001 78
			05 504c41494e
			00000004 00750070
			05 656e5f5553
			ce`},
		{"tune-ok", AppendMethod(nil, 0, ConnectionTuneOk, TuneOkArgs(Tune{ChannelMax: 2047, FrameMax: 131072, Heartbeat: 0})),
			"01 0000 0000000c 000a 001f 07ff 00020000 0000 ce"},
		{"open", AppendMethod(nil, 0, ConnectionOpen, open), "01 0000 00000008 000a 0028 01 2f 00 00 ce"},
		{"close", AppendMethod(nil, 0, ConnectionClose, closeArgs), "01 0000 0000000e 000a 0032 00c8 03 627965 0000 0000 ce"},
		{"close-ok", AppendMethod(nil, 0, ConnectionCloseOk, nil), "01 0000 00000004 000a 0033 ce"},
		{"channel-open", AppendMethod(nil, 1, ChannelOpen, ChannelOpenArgs()), "01 0001 00000005 0014 000a 00 ce"},
		{"publish", AppendMethod(nil, 1, BasicPublish, pub), "01 0001 0000000a 003c 0028 0000 00 01 6b 00 ce"},
		{"content-header", AppendEmptyContentHeader(nil, 1), "02 0001 0000000e 003c 0000 0000000000000000 0000 ce"},
		{"qos", AppendMethod(nil, 1, BasicQos, QosArgs()), "01 0001 0000000b 003c 000a 00000000 0000 00 ce"},
	} {
		if want := unhex(t, tc.want); !bytes.Equal(tc.got, want) {
			t.Errorf("%s:\n got %x\nwant %x", tc.name, tc.got, want)
		}
	}
}

func TestTableRoundTrip(t *testing.T) {
	in := Table{"s": "str", "b": true, "i": int32(-7), "l": int64(1) << 40, "t": Table{"x": false}}
	b, err := AppendTable(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	d := decoder{b: b}
	out := d.table(0)
	if d.err != nil || len(d.b) != 0 {
		t.Fatalf("decode: %v, %d left", d.err, len(d.b))
	}
	if out["s"] != "str" || out["b"] != true || out["i"] != int32(-7) || out["l"] != int64(1)<<40 || out["t"].(Table)["x"] != false {
		t.Fatalf("got %#v", out)
	}
	if _, err := AppendTable(nil, Table{"f": 1.5}); err == nil {
		t.Fatal("float accepted")
	}
}

// TestTableAllTypes decodes one value of every type of the RabbitMQ errata.
func TestTableAllTypes(t *testing.T) {
	raw := unhex(t, `
		0000006c
		01 61 74 01
		01 62 62 ff
		01 63 42 ff
		01 64 73 fffe
		01 65 75 fffe
		01 66 49 fffffffd
		01 67 69 fffffffd
		01 68 6c fffffffffffffffc
		01 69 66 3fc00000
		01 6a 64 3ff8000000000000
		01 6b 44 02 000004d2
		01 6c 78 00000002 0102
		01 6d 41 00000005 74 01 62 05 56
		01 6e 54 0000000065000000
		01 6f 56`)
	d := decoder{b: raw}
	tb := d.table(0)
	if d.err != nil {
		t.Fatal(d.err)
	}
	want := map[string]any{"a": true, "b": int8(-1), "c": uint8(255), "d": int16(-2), "e": uint16(0xfffe),
		"f": int32(-3), "g": uint32(0xfffffffd), "h": int64(-4), "i": float32(1.5), "j": float64(1.5),
		"k": Decimal{Scale: 2, Value: 1234}, "o": nil}
	for k, v := range want {
		if tb[k] != v {
			t.Errorf("%s: got %#v want %#v", k, tb[k], v)
		}
	}
	if x := tb["l"].([]byte); !bytes.Equal(x, []byte{1, 2}) {
		t.Errorf("l: %x", x)
	}
	if a := tb["m"].([]any); len(a) != 3 || a[0] != true || a[1] != int8(5) || a[2] != nil {
		t.Errorf("m: %#v", a)
	}
	if ts := tb["n"].(time.Time); ts.Unix() != 0x65000000 {
		t.Errorf("n: %v", ts)
	}
}

func TestReadFrameErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", io.EOF},
		{"short header", "01 0000 00", io.ErrUnexpectedEOF},
		{"short payload", "01 0000 00000004 000a", io.ErrUnexpectedEOF},
		{"missing end", "01 0000 00000000", io.ErrUnexpectedEOF},
		{"bad end", "01 0000 00000000 cd", ErrMalformed},
		{"bad type", "41 4d51 50000009 01", ErrMalformed},
		{"too large", "01 0000 7fffffff", ErrFrameTooLarge},
	} {
		_, err := ReadFrame(bytes.NewReader(unhex(t, tc.in)), 4096)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestParseShort(t *testing.T) {
	raw, _ := os.ReadFile("testdata/connection-start-rabbitmq-3.10.8.bin")
	args := raw[11 : len(raw)-1]
	for i := 0; i < len(args); i++ {
		if _, err := ParseStart(args[:i]); err == nil {
			t.Fatalf("ParseStart accepted %d of %d bytes", i, len(args))
		}
	}
	if _, err := ParseTune([]byte{0, 1, 0}); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("ParseTune short: %v", err)
	}
	if _, err := ParseClose([]byte{0, 200, 5, 'a'}); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("ParseClose short: %v", err)
	}
}

func FuzzReadFrame(f *testing.F) {
	raw, _ := os.ReadFile("testdata/connection-start-rabbitmq-3.10.8.bin")
	f.Add(raw)
	f.Add([]byte("AMQP\x00\x00\x09\x01"))
	f.Add([]byte("\x08\x00\x00\x00\x00\x00\x00\xce"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := ReadFrame(bytes.NewReader(b), 1<<16)
		if err != nil {
			return
		}
		// A frame that parses re-encodes to the same bytes.
		if enc := AppendFrame(nil, fr); !bytes.Equal(enc, b[:len(enc)]) {
			t.Fatalf("re-encoded %x from %x", enc, b)
		}
		if fr.Type == FrameMethod {
			if id, args, err := ParseMethod(fr.Payload); err == nil {
				switch id {
				case ConnectionStart:
					ParseStart(args)
				case ConnectionTune:
					ParseTune(args)
				case ConnectionClose, ChannelClose:
					ParseClose(args)
				case ConnectionBlocked:
					ParseBlocked(args)
				}
			}
		}
	})
}

func FuzzParseStart(f *testing.F) {
	raw, _ := os.ReadFile("testdata/connection-start-rabbitmq-3.10.8.bin")
	f.Add(raw[11 : len(raw)-1])
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := ParseStart(b)
		if err == nil {
			ServerInfoFrom(st)
		}
	})
}

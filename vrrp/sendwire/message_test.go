package sendwire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

var goldens = []struct {
	name string
	msg  Message
	hex  string
}{
	{"start", Message{Type: TypeStart, Instance: 3, Seq: 0x01020304, Interval: 10 * time.Millisecond,
		First: 7 * time.Millisecond, Timeout: time.Second,
		Packets: []Packet{{Dst: netip.MustParseAddr("224.0.0.18"), Data: []byte{0x45, 0xc0}}, {Dst: netip.MustParseAddr("10.0.0.9"), Data: []byte{0xaa}}}},
		"01000003" + "01020304" + "0000000000989680" + "00000000006acfc0" + "000000003b9aca00" + "02" +
			"e0000012" + "0002" + "45c0" + "0a000009" + "0001" + "aa"},
	{"update", Message{Type: TypeUpdate, Instance: 1, Seq: 9, Interval: time.Second, Timeout: 3 * time.Second,
		Packets: []Packet{{Dst: netip.MustParseAddr("224.0.0.18"), Data: []byte{1, 2, 3}}}},
		"02000001" + "00000009" + "000000003b9aca00" + "0000000000000000" + "00000000b2d05e00" + "01" +
			"e0000012" + "0003" + "010203"},
	{"stop", Message{Type: TypeStop, Instance: 0xfffe, Seq: 2}, "0300fffe00000002"},
	{"alive", Message{Type: TypeAlive, Instance: 5}, "0400000500000000"},
	{"ack", Message{Type: TypeAck, Instance: 5, Seq: 2}, "0500000500000002"},
	{"report", Message{Type: TypeReport, Instance: 2, Sent: 100, Failed: 1, Expired: true,
		Delays: []time.Duration{250 * time.Microsecond, 42 * time.Millisecond}},
		"0600000200000000" + "00000064" + "00000001" + "01" + "02" + "000000fa" + "0000a410" + "00000000" + "00000000"},
	{"report answering a check", Message{Type: TypeReport, Instance: 2, Seq: 7},
		"0600000200000007" + "00000000" + "00000000" + "00" + "00" + "00000000" + "00000000"},
	{"report of a failed send", Message{Type: TypeReport, Instance: 3, Sent: 1, Failed: 2, FailedTo: netip.MustParseAddr("10.0.0.2"), Errno: 113},
		"0600000300000000" + "00000001" + "00000002" + "00" + "00" + "0a000002" + "00000071"},
	{"ready", Message{Type: TypeReady, Text: "SCHED_FIFO 50"}, "0700000000000000" + "0d" + hex.EncodeToString([]byte("SCHED_FIFO 50"))},
	{"check", Message{Type: TypeCheck, Instance: 0x0102, Seq: 0x0a0b0c0d}, "080001020a0b0c0d"},
}

func TestGolden(t *testing.T) {
	for _, g := range goldens {
		t.Run(g.name, func(t *testing.T) {
			b, err := g.msg.Append(nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(b); got != g.hex {
				t.Fatalf("encoded\n got %s\nwant %s", got, g.hex)
			}
			var m Message
			if err := Decode(b, &m); err != nil {
				t.Fatal(err)
			}
			want := g.msg
			if want.Type == TypeUpdate {
				want.First = 0
			}
			if len(want.Packets) == 0 {
				want.Packets = m.Packets[:0]
			}
			if len(want.Delays) == 0 {
				want.Delays = m.Delays[:0]
			}
			if !reflect.DeepEqual(m, want) {
				t.Fatalf("decoded %+v\nwant %+v", m, want)
			}
			// Every prefix is cut short.
			for n := range len(b) {
				if err := Decode(b[:n], &m); !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("%d of %d bytes: %v, want io.ErrUnexpectedEOF", n, len(b), err)
				}
			}
			// A byte more is malformed.
			if err := Decode(append(bytes.Clone(b), 0), &m); !errors.Is(err, ErrMalformed) {
				t.Fatalf("a byte more: %v, want ErrMalformed", err)
			}
		})
	}
}

func TestMalformed(t *testing.T) {
	start, _ := goldens[0].msg.Append(nil)
	report, _ := goldens[5].msg.Append(nil)
	set := func(b []byte, off int, v ...byte) []byte {
		b = bytes.Clone(b)
		copy(b[off:], v)
		return b
	}
	for name, b := range map[string][]byte{
		"unknown type":     set(start, 0, 0x09),
		"type zero":        set(start, 0, 0),
		"reserved byte":    set(start, 1, 1),
		"zero interval":    set(start, 8, 0, 0, 0, 0, 0, 0, 0, 0),
		"negative first":   set(start, 16, 0x80),
		"zero timeout":     set(start, 24, 0, 0, 0, 0, 0, 0, 0, 0),
		"no packets":       set(start, 32, 0),
		"too many packets": set(start, 32, MaxPackets+1),
		"empty packet":     set(start, 37, 0, 0),
		"huge packet":      set(start, 37, 0x05, 0xdd),
		"expired flag 2":   set(report, 16, 2),
		"too many delays":  set(report, 17, MaxDelays+1),
		"failed, no errno": set(report, 26, 10),
	} {
		var m Message
		if err := Decode(b, &m); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	for name, m := range map[string]Message{
		"no packets":    {Type: TypeStart, Interval: 1, Timeout: 1},
		"no interval":   {Type: TypeUpdate, Timeout: 1, Packets: goldens[1].msg.Packets},
		"IPv6 dst":      {Type: TypeStart, Interval: 1, Timeout: 1, Packets: []Packet{{Dst: netip.MustParseAddr("::1"), Data: []byte{1}}}},
		"long text":     {Type: TypeReady, Text: strings.Repeat("x", 256)},
		"many delays":   {Type: TypeReport, Delays: make([]time.Duration, MaxDelays+1)},
		"unknown type":  {Type: 0},
		"failed to v6":  {Type: TypeReport, FailedTo: netip.MustParseAddr("::1"), Errno: 113},
		"errno, no dst": {Type: TypeReport, Errno: 113},
		"dst, no errno": {Type: TypeReport, FailedTo: netip.MustParseAddr("10.0.0.2")},
	} {
		if _, err := m.Append(nil); !errors.Is(err, ErrMalformed) {
			t.Errorf("encoding %s: %v, want ErrMalformed", name, err)
		}
	}
}

// TestDecodeAllocatesNothing: the sender decodes a message per advert
// interval (the daemon's heartbeats) without garbage once its buffers
// have grown.
func TestDecodeAllocatesNothing(t *testing.T) {
	var bufs [][]byte
	for _, g := range goldens[:6] {
		b, _ := g.msg.Append(nil)
		bufs = append(bufs, b)
	}
	var m Message
	for _, b := range bufs {
		_ = Decode(b, &m)
	}
	m.Packets, m.Delays = make([]Packet, 0, 4), make([]time.Duration, 0, 4)
	if n := testing.AllocsPerRun(100, func() {
		for _, b := range bufs {
			if err := Decode(b, &m); err != nil {
				t.Fatal(err)
			}
		}
	}); n != 0 {
		t.Fatalf("%v allocations per run", n)
	}
}

// FuzzDecode: any input decodes or fails with an error, and what decodes
// encodes to the same bytes.
func FuzzDecode(f *testing.F) {
	for _, g := range goldens {
		b, _ := g.msg.Append(nil)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Message
		if err := Decode(b, &m); err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("error %v is neither ErrMalformed nor io.ErrUnexpectedEOF", err)
			}
			return
		}
		out, err := m.Append(nil)
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", m, err)
		}
		if m.Type == TypeUpdate {
			// Update ignores First: compare without it.
			copy(out[16:24], b[16:24])
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encoded\n %x\nfrom %x", out, b)
		}
	})
}

package netsetup

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzNATarget feeds NATarget what any host on the link may send while a
// VIPSet listens for advertisements of its IPv6 VIPs: it never panics nor
// changes its input, a message shorter than the fixed part of an
// advertisement is io.ErrUnexpectedEOF, and what it accepts is a Neighbor
// Advertisement of a unicast target with an Ethernet Target Link-Layer
// Address option, whose addresses it returns as copies of the message's
// bytes.
func FuzzNATarget(f *testing.F) {
	f.Add(naGolden)
	f.Add(naSolicitedGolden)
	f.Add(naGolden[:naOffOptions])
	f.Add(naGolden[:naOffOptions-1])
	f.Add(append(bytes.Clone(naGolden), 0x01, 0x00))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, msg []byte) {
		in := bytes.Clone(msg)
		hw, ip, err := NATarget(msg)
		if !bytes.Equal(msg, in) {
			t.Fatal("NATarget changed its input")
		}
		if len(msg) < naOffOptions {
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("%d bytes: %v, want io.ErrUnexpectedEOF", len(msg), err)
			}
			return
		}
		if err != nil {
			return
		}
		if msg[0] != 136 || msg[naOffCode] != 0 {
			t.Fatalf("accepted ICMPv6 type %d code %d", msg[0], msg[naOffCode])
		}
		if !bytes.Equal(ip.AsSlice(), msg[naOffTarget:naOffOptions]) || ip.IsMulticast() {
			t.Fatalf("target %s, message says % x", ip, msg[naOffTarget:naOffOptions])
		}
		if len(hw) != 6 || !bytes.Contains(msg[naOffOptions:], append([]byte{ndOptTLLA, 1}, hw...)) {
			t.Fatalf("link-layer address %s is not in an option of % x", hw, msg[naOffOptions:])
		}
		want := bytes.Clone(hw)
		for i := range msg {
			msg[i] ^= 0xff
		}
		if !bytes.Equal(hw, want) {
			t.Fatal("the link-layer address shares the message's memory")
		}
	})
}

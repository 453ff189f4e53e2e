package netsetup

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// FuzzARPSender feeds ARPSender what any host on the LAN may send while a
// VIPSet listens for announcements of its VIPs: it never panics, a frame
// shorter than an ARP frame for Ethernet and IPv4 is io.ErrUnexpectedEOF,
// and what it accepts is such a frame, whose sender it returns as copies of
// the frame's bytes.
func FuzzARPSender(f *testing.F) {
	f.Add(garpGolden)
	f.Add(garpGolden[:arpFrameLen-1])
	f.Add(append(bytes.Clone(garpGolden), 0xff, 0xff))
	bad := bytes.Clone(garpGolden)
	bad[arpOffPLen] = 16
	f.Add(bad)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, frame []byte) {
		in := bytes.Clone(frame)
		hw, ip, err := ARPSender(frame)
		if !bytes.Equal(frame, in) {
			t.Fatal("ARPSender changed its input")
		}
		if len(frame) < arpFrameLen {
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("%d bytes: %v, want io.ErrUnexpectedEOF", len(frame), err)
			}
			return
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("%d bytes, a whole frame: %v", len(frame), err)
			}
			return
		}
		if binary.BigEndian.Uint16(frame[arpOffEType:]) != etherTypeARP || binary.BigEndian.Uint16(frame[arpOffHType:]) != 1 ||
			binary.BigEndian.Uint16(frame[arpOffPType:]) != 0x0800 || frame[arpOffHLen] != 6 || frame[arpOffPLen] != 4 {
			t.Fatalf("accepted a frame that is not ARP for Ethernet and IPv4: % x", frame[:arpFrameLen])
		}
		if !bytes.Equal(hw, frame[arpOffSenderHW:arpOffSenderHW+6]) || !bytes.Equal(ip.AsSlice(), frame[arpOffSenderIP:arpOffSenderIP+4]) {
			t.Fatalf("sender %s %s, frame says % x and % x", hw, ip, frame[arpOffSenderHW:arpOffSenderHW+6], frame[arpOffSenderIP:arpOffSenderIP+4])
		}
		frame[arpOffSenderHW] ^= 0xff
		if hw[0] == frame[arpOffSenderHW] {
			t.Fatal("the sender's hardware address shares the frame's memory")
		}
	})
}

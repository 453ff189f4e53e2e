package vrrp

import (
	"errors"
	"net/netip"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestWriteToWaitingNetns fills the send socket's buffer (a queue that
// does not drain: a token bucket at 8 bit/s, and the smallest send
// buffer), so that WriteTo fails with EAGAIN. WriteToWaiting waits for
// room: it gives up with EAGAIN after its wait while the queue stays
// full, and sends once the queue is gone; the peer receives that advert.
func TestWriteToWaitingNetns(t *testing.T) {
	n := newTestNetns(t)
	if _, err := exec.LookPath("tc"); err != nil {
		t.Skip("needs iproute2's tc")
	}
	a := n.transport(t, 0, TransportConfig{})
	b := n.transport(t, 1, TransportConfig{})
	advert := func(prio uint8) []byte {
		p := Packet{Version: 3, VRID: 9, Priority: prio, AdvertInterval: 100 * time.Millisecond,
			Addrs: []netip.Addr{netip.MustParseAddr("10.99.7.100")}}
		msg, err := p.Marshal(a.Source(), MulticastIPv4, ChecksumPseudoHeader)
		if err != nil {
			t.Fatal(err)
		}
		return msg
	}
	var serr error
	if err := a.ssc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, 1) }); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	run(t, "ip", "netns", "exec", n.ns[0], "tc", "qdisc", "add", "dev", n.ifname[0], "root",
		"tbf", "rate", "8bit", "burst", "1600", "limit", "1000000")
	fill := advert(100)
	full := false
	for range 10000 {
		err := a.WriteTo(fill, MulticastIPv4)
		if errors.Is(err, unix.EAGAIN) {
			full = true
			break
		}
		if err != nil {
			t.Fatalf("filling the send buffer: %v", err)
		}
	}
	if !full {
		t.Fatal("the send buffer never filled: the test proves nothing")
	}
	resign := advert(0)
	start := time.Now()
	if err := a.WriteToWaiting(resign, MulticastIPv4, 100*time.Millisecond); !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("WriteToWaiting on a buffer that stays full = %v, want EAGAIN after the wait", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("WriteToWaiting gave up after %v, before its wait of 100ms", d)
	}
	// The queue goes (its packets with it) 300 ms from now.
	go func() {
		time.Sleep(300 * time.Millisecond)
		exec.Command("ip", "netns", "exec", n.ns[0], "tc", "qdisc", "del", "dev", n.ifname[0], "root").Run()
	}()
	start = time.Now()
	if err := a.WriteToWaiting(resign, MulticastIPv4, 10*time.Second); err != nil {
		t.Fatalf("WriteToWaiting once the queue went: %v", err)
	}
	t.Logf("sent after waiting %v", time.Since(start))
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		got, _, ok := readOne(t, b, time.Until(deadline))
		if !ok {
			break
		}
		if p, err := Parse(got, n.addr[0], MulticastIPv4); err == nil && p.Priority == 0 {
			return
		}
	}
	t.Fatal("the peer never received the priority-0 advert")
}

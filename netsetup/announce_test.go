package netsetup

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"
)

// stuckConn is a send socket whose frames do not leave the link: a write
// waits until the write deadline passes (or the conn is closed), as one
// on a full send buffer does. It counts the writes that returned.
type stuckConn struct {
	stuck bool // writes wait; false: they succeed at once

	mu       sync.Mutex
	deadline time.Time
	writes   int
	frames   [][]byte // of the writes that were not stuck
	closed   chan struct{}
}

func newStuckConn(stuck bool) *stuckConn {
	return &stuckConn{stuck: stuck, closed: make(chan struct{})}
}

func (c *stuckConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	c.mu.Lock()
	d := c.deadline
	c.writes++
	if !c.stuck {
		c.frames = append(c.frames, bytes.Clone(b))
	}
	c.mu.Unlock()
	if !c.stuck {
		return len(b), nil
	}
	var expired <-chan time.Time
	if !d.IsZero() {
		t := time.NewTimer(time.Until(d))
		defer t.Stop()
		expired = t.C
	}
	select {
	case <-expired:
		return 0, os.ErrDeadlineExceeded
	case <-c.closed:
		return 0, net.ErrClosed
	}
}

func (c *stuckConn) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes
}

func (c *stuckConn) ReadFrom([]byte) (int, net.Addr, error) { return 0, nil, errors.New("send only") }
func (c *stuckConn) Close() error                           { close(c.closed); return nil }
func (c *stuckConn) LocalAddr() net.Addr                    { return nil }
func (c *stuckConn) SetDeadline(t time.Time) error          { return c.SetWriteDeadline(t) }
func (c *stuckConn) SetReadDeadline(time.Time) error        { return nil }
func (c *stuckConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	return nil
}

// heldWithConn returns a VIPSet that holds vip, on an interface that does
// not exist (nothing here touches a network), announcing through conn.
func heldWithConn(t *testing.T, vip netip.Prefix, conn net.PacketConn) *VIPSet {
	t.Helper()
	s, err := newVIPSet(VIPConfig{Interface: "rmqlbnone0", VIPs: []netip.Prefix{vip}, GARP: GARPConfig{Count: 1, Refresh: -1}},
		VIPSetOptions{}, true)
	if err != nil {
		t.Fatal(err)
	}
	s.held = true
	s.hw = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	s.conn = conn
	for _, v := range s.vips {
		v.owned = true
	}
	return s
}

// TestAnnounceStuckLinkBounded: an announcement turn on a link whose
// frames do not leave gives up after announceWriteTimeout and counts the
// failure, so StopAnnouncing (which waits for the turn) returns soon
// after; it does not wait for the link.
func TestAnnounceStuckLinkBounded(t *testing.T) {
	vip := netip.MustParsePrefix("192.0.2.10/32")
	conn := newStuckConn(true)
	s := heldWithConn(t, vip, conn)
	defer conn.Close()

	done := make(chan struct{})
	go func() {
		defer close(done)
		s.announce(time.Now(), false)
	}()
	for conn.count() == 0 {
		time.Sleep(time.Millisecond)
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		s.StopAnnouncing()
	}()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		conn.Close() // release the turn so the goroutines end
		<-done
		<-stopped
		t.Fatal("StopAnnouncing waited for an announcement stuck on the link")
	}
	<-done
	snap := s.Snapshot()
	if len(snap.VIPs) != 1 || snap.VIPs[0].GARPSent != 0 || snap.VIPs[0].LastError == "" {
		t.Fatalf("after a stuck send: %+v; want none sent and the error recorded", snap.VIPs)
	}
}

// TestAnnounceQuiet: a VIPSet told to stop announcing sends nothing and
// reports nothing until it resumes.
func TestAnnounceQuiet(t *testing.T) {
	vip := netip.MustParsePrefix("192.0.2.10/32")
	conn := newStuckConn(false)
	s := heldWithConn(t, vip, conn)
	var own []netip.Addr
	s.ReportAnnouncements(func(a netip.Addr, isOwn bool) {
		if isOwn {
			own = append(own, a)
		}
	})

	s.StopAnnouncing()
	s.announce(time.Now(), false)
	if n := conn.count(); n != 0 || len(own) != 0 {
		t.Fatalf("quiet: %d sent, %v reported; want none", n, own)
	}
	s.ResumeAnnouncing()
	s.announce(time.Now(), false)
	if n := conn.count(); n != 1 || len(own) != 1 || own[0] != vip.Addr() {
		t.Fatalf("resumed: %d sent, %v reported; want one for %s", n, own, vip.Addr())
	}
}

// TestAnnounceRefreshProbes: a refresh sends an ARP probe for each IPv4
// VIP after its gratuitous ARP; the burst's announcements do not.
func TestAnnounceRefreshProbes(t *testing.T) {
	vip := netip.MustParsePrefix("192.0.2.10/32")
	conn := newStuckConn(false)
	s := heldWithConn(t, vip, conn)
	s.announce(time.Now(), false)
	s.announce(time.Now(), true)
	conn.mu.Lock()
	frames := conn.frames
	conn.mu.Unlock()
	if len(frames) != 3 {
		t.Fatalf("%d frames, want a gratuitous ARP, then one with its probe", len(frames))
	}
	for i, want := range []func(net.HardwareAddr, netip.Addr) ([]byte, error){GARPFrame, GARPFrame, ProbeFrame} {
		w, err := want(s.hw, vip.Addr())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(frames[i], w) {
			t.Errorf("frame %d:\n% x\nwant\n% x", i, frames[i], w)
		}
	}
	if g := s.Snapshot().VIPs[0].GARPSent; g != 2 {
		t.Errorf("%d announcements counted, want 2 (a probe is none)", g)
	}
}

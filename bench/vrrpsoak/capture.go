package vrrpsoak

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/rmqlb/rmqlb/vrrp"
)

// Advert is one VRRP advertisement seen on a host's interface, with the
// kernel's timestamp of the moment it passed the interface: when it was
// handed to the driver (Out) or received from it. A capture process that
// is kept off the CPU reads it late, but the timestamp is unaffected. It
// is 16 bytes: an hour at 10 ms is 360000 of them per host.
type Advert struct {
	// At is the kernel's timestamp in Unix nanoseconds.
	At       int64
	Src      [4]byte
	VRID     uint8
	Priority uint8
	// Out is true for an advert the host sent, false for one it received.
	Out bool
}

// Source returns the advert's IP source address.
func (a Advert) Source() netip.Addr { return netip.AddrFrom4(a.Src) }

// Capture records every VRRP advertisement (IP protocol 112) passing one
// host's interface, sent or received, through a packet socket opened in
// the host's namespace. It owns one goroutine, which Close stops.
type Capture struct {
	fd   int
	done chan struct{}

	mu      sync.Mutex // guards the fields below
	adverts []Advert
	bad     int   // packets that did not parse as adverts
	err     error // the read error that ended the capture, if any

	// closing is set by Close; the reader looks at it after every packet
	// and every receive timeout, so that Close returns also while
	// packets keep coming faster than the timeout.
	closing atomic.Bool
}

// captureFilter accepts IPv4 packets of protocol 112 (the packet socket
// is SOCK_DGRAM: the data starts at the IP header).
var captureFilter = []bpf.Instruction{
	bpf.LoadExtension{Num: bpf.ExtProto},
	bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.ETH_P_IP, SkipFalse: 3},
	bpf.LoadAbsolute{Off: 9, Size: 1},
	bpf.JumpIf{Cond: bpf.JumpEqual, Val: vrrp.ProtocolNumber, SkipFalse: 1},
	bpf.RetConstant{Val: 0xffff},
	bpf.RetConstant{Val: 0},
}

// openCapture opens the packet socket on ifname. Call it on a thread that
// is in the host's namespace (netlab.Host.Do); the socket stays there. It
// is bound to ETH_P_ALL: only such sockets see outgoing packets too.
func openCapture(ifname string) (*Capture, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("opening capture: %w", err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening capture socket on %s: %w", ifname, err)
	}
	prog, err := bpf.Assemble(captureFilter)
	if err == nil {
		err = attachFilter(fd, prog)
	}
	if err == nil {
		err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}
	if err == nil {
		// Wake the reader now and then so that Close is noticed.
		err = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 200000})
	}
	if err == nil {
		err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	}
	if err == nil {
		err = unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index})
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("setting up capture on %s: %w", ifname, err)
	}
	c := &Capture{fd: fd, done: make(chan struct{})}
	go c.read()
	return c, nil
}

func attachFilter(fd int, prog []bpf.RawInstruction) error {
	f := make([]unix.SockFilter, len(prog))
	for i, ins := range prog {
		f[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER,
		&unix.SockFprog{Len: uint16(len(f)), Filter: &f[0]})
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (c *Capture) read() {
	defer close(c.done)
	buf := make([]byte, 2048)
	oob := make([]byte, 128)
	for !c.closing.Load() {
		n, oobn, _, from, err := unix.Recvmsg(c.fd, buf, oob, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			c.mu.Lock()
			c.err = fmt.Errorf("reading capture: %w", err)
			c.mu.Unlock()
			return
		}
		at, ok := timestamp(oob[:oobn])
		if !ok {
			at = time.Now().UnixNano()
		}
		out := false
		if ll, ok := from.(*unix.SockaddrLinklayer); ok {
			out = ll.Pkttype == unix.PACKET_OUTGOING
		}
		a, ok := parseAdvert(buf[:n])
		c.mu.Lock()
		if ok {
			a.At, a.Out = at, out
			c.adverts = append(c.adverts, a)
		} else {
			c.bad++
		}
		c.mu.Unlock()
	}
}

// timestamp returns the SCM_TIMESTAMPNS of a packet's control data in
// Unix nanoseconds.
func timestamp(oob []byte) (int64, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0, false
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
			sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
			nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
			return sec*1e9 + nsec, true
		}
	}
	return 0, false
}

// parseAdvert reads an IPv4 packet carrying a VRRP advert.
func parseAdvert(b []byte) (Advert, bool) {
	if len(b) < 20 || b[0]>>4 != 4 {
		return Advert{}, false
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < 20 || len(b) < ihl {
		return Advert{}, false
	}
	src := [4]byte(b[12:16])
	p, err := vrrp.Parse(b[ihl:], netip.AddrFrom4(src), netip.AddrFrom4([4]byte(b[16:20])))
	if err != nil {
		return Advert{}, false
	}
	return Advert{Src: src, VRID: p.VRID, Priority: p.Priority}, true
}

// Adverts returns a copy of what was captured so far.
func (c *Capture) Adverts() []Advert {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Advert(nil), c.adverts...)
}

// Close stops the capture and returns the error that ended it early, if
// any.
func (c *Capture) Close() error {
	c.closing.Store(true)
	<-c.done
	unix.Close(c.fd)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// gapScan follows one sender's adverts in a Capture as they arrive: each
// scan looks only at the adverts captured since the one before. The zero
// value starts at the capture's first advert; newGapScan at its last.
// Owned by one goroutine.
type gapScan struct {
	next int   // index of the first advert not yet scanned
	last int64 // the At of the last advert of the sender seen; 0: none
}

// newGapScan returns a gapScan of src's adverts in c that starts now:
// its first gap is measured from src's last advert captured so far.
func newGapScan(c *Capture, src [4]byte) *gapScan {
	g := &gapScan{}
	g.scan(c, src)
	return g
}

// scan returns the longest time between two consecutive adverts of src
// with a priority above zero among those captured since the last scan
// (the first of them measured from the last one before), and when that
// gap ended (Unix nanoseconds; 0 when there was none).
func (g *gapScan) scan(c *Capture, src [4]byte) (gap time.Duration, endAt int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range c.adverts[g.next:] {
		if a.Src != src || a.Priority == 0 {
			continue
		}
		if g.last != 0 && time.Duration(a.At-g.last) > gap {
			gap, endAt = time.Duration(a.At-g.last), a.At
		}
		g.last = a.At
	}
	g.next = len(c.adverts)
	return gap, endAt
}

package sendwire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"time"
)

// Type is the type of a message.
type Type uint8

// The message types (see the package documentation).
const (
	TypeStart  Type = 1
	TypeUpdate Type = 2
	TypeStop   Type = 3
	TypeAlive  Type = 4
	TypeAck    Type = 5
	TypeReport Type = 6
	TypeReady  Type = 7
	TypeCheck  Type = 8
)

func (t Type) String() string {
	switch t {
	case TypeStart:
		return "start"
	case TypeUpdate:
		return "update"
	case TypeStop:
		return "stop"
	case TypeAlive:
		return "alive"
	case TypeAck:
		return "ack"
	case TypeReport:
		return "report"
	case TypeReady:
		return "ready"
	case TypeCheck:
		return "check"
	}
	return fmt.Sprintf("type %d", uint8(t))
}

// Limits of a message.
const (
	// HeaderLen is the length of the header every message starts with.
	HeaderLen = 8
	// MaxPackets is the most packets of a Start or Update: one per
	// destination of a VRRP instance.
	MaxPackets = 64
	// MaxPacket is the longest packet: an Ethernet MTU.
	MaxPacket = 1500
	// MaxDelays is the most delays of a Report: more than the adverts
	// of a second at 10 ms, so that the sender, which reports at least
	// every second, wakes the daemon once a second at that interval.
	MaxDelays = 128
	// MaxMessage is the longest message: a Start with MaxPackets of
	// MaxPacket bytes.
	MaxMessage = 33 + MaxPackets*(6+MaxPacket)
)

// ErrMalformed is wrapped by Decode and Append for a message that is not
// valid (not for one cut short: io.ErrUnexpectedEOF).
var ErrMalformed = errors.New("malformed sender message")

// Packet is one advert of a Start or Update.
type Packet struct {
	// Dst is the IPv4 destination.
	Dst netip.Addr
	// Data is the IPv4 packet. Decode makes it point into the message.
	Data []byte
}

// Message is any message; the fields a type does not carry are zero.
type Message struct {
	Type     Type
	Instance uint16
	// Seq numbers a Start, Update, Stop or Check; an Ack repeats the
	// one it acknowledges, a Report the one of the Check it answers (0:
	// a report of the sender's own).
	Seq uint32
	// Start, Update.
	Interval, First, Timeout time.Duration
	Packets                  []Packet
	// Report.
	Sent, Failed uint32
	Expired      bool
	// Delays are rounded down to microseconds; longer than about 71
	// minutes they are sent as the most a uint32 holds.
	Delays []time.Duration
	// FailedTo is the IPv4 destination of the last send that failed
	// since the last report, Errno why (a Linux errno); the zero Addr
	// and 0 when none failed.
	FailedTo netip.Addr
	Errno    uint32
	// Ready.
	Text string
}

// Append appends m's encoding to b.
func (m *Message) Append(b []byte) ([]byte, error) {
	b = append(b, byte(m.Type), 0, 0, 0, 0, 0, 0, 0)
	h := b[len(b)-HeaderLen:]
	binary.BigEndian.PutUint16(h[2:4], m.Instance)
	binary.BigEndian.PutUint32(h[4:8], m.Seq)
	switch m.Type {
	case TypeStart, TypeUpdate:
		if m.Interval <= 0 || m.Timeout <= 0 || m.First < 0 {
			return b, fmt.Errorf("encoding %v: interval %v, first %v, timeout %v: %w", m.Type, m.Interval, m.First, m.Timeout, ErrMalformed)
		}
		if len(m.Packets) == 0 || len(m.Packets) > MaxPackets {
			return b, fmt.Errorf("encoding %v: %d packets, want 1..%d: %w", m.Type, len(m.Packets), MaxPackets, ErrMalformed)
		}
		b = binary.BigEndian.AppendUint64(b, uint64(m.Interval))
		b = binary.BigEndian.AppendUint64(b, uint64(m.First))
		b = binary.BigEndian.AppendUint64(b, uint64(m.Timeout))
		b = append(b, byte(len(m.Packets)))
		for _, p := range m.Packets {
			if !p.Dst.Is4() || len(p.Data) == 0 || len(p.Data) > MaxPacket {
				return b, fmt.Errorf("encoding %v: packet of %d bytes to %v: %w", m.Type, len(p.Data), p.Dst, ErrMalformed)
			}
			d := p.Dst.As4()
			b = append(b, d[:]...)
			b = binary.BigEndian.AppendUint16(b, uint16(len(p.Data)))
			b = append(b, p.Data...)
		}
	case TypeStop, TypeAlive, TypeAck, TypeCheck:
	case TypeReport:
		if len(m.Delays) > MaxDelays {
			return b, fmt.Errorf("encoding report: %d delays, want at most %d: %w", len(m.Delays), MaxDelays, ErrMalformed)
		}
		b = binary.BigEndian.AppendUint32(b, m.Sent)
		b = binary.BigEndian.AppendUint32(b, m.Failed)
		var exp byte
		if m.Expired {
			exp = 1
		}
		b = append(b, exp, byte(len(m.Delays)))
		for _, d := range m.Delays {
			us := min(max(d.Microseconds(), 0), math.MaxUint32)
			b = binary.BigEndian.AppendUint32(b, uint32(us))
		}
		var to [4]byte
		switch {
		case m.FailedTo.Is4() && m.Errno != 0:
			to = m.FailedTo.As4()
		case m.FailedTo.IsValid() || m.Errno != 0:
			return b, fmt.Errorf("encoding report: failed to %v with errno %d: %w", m.FailedTo, m.Errno, ErrMalformed)
		}
		b = append(b, to[:]...)
		b = binary.BigEndian.AppendUint32(b, m.Errno)
	case TypeReady:
		if len(m.Text) > 255 {
			return b, fmt.Errorf("encoding ready: text of %d bytes, want at most 255: %w", len(m.Text), ErrMalformed)
		}
		b = append(b, byte(len(m.Text)))
		b = append(b, m.Text...)
	default:
		return b, fmt.Errorf("encoding %v: %w", m.Type, ErrMalformed)
	}
	return b, nil
}

// Decode decodes the message b into m, reusing m's Packets and Delays:
// it allocates nothing but a Ready's text once they have grown. The
// packets point into b.
func Decode(b []byte, m *Message) error {
	if len(b) < HeaderLen {
		return fmt.Errorf("decoding sender message: %d bytes: %w", len(b), io.ErrUnexpectedEOF)
	}
	*m = Message{Packets: m.Packets[:0], Delays: m.Delays[:0],
		Type: Type(b[0]), Instance: binary.BigEndian.Uint16(b[2:4]), Seq: binary.BigEndian.Uint32(b[4:8])}
	if b[1] != 0 {
		return fmt.Errorf("decoding %v: byte 1 is %d, want 0: %w", m.Type, b[1], ErrMalformed)
	}
	body := b[HeaderLen:]
	rest := body
	switch m.Type {
	case TypeStart, TypeUpdate:
		if len(body) < 25 {
			return fmt.Errorf("decoding %v: body of %d bytes: %w", m.Type, len(body), io.ErrUnexpectedEOF)
		}
		iv, first, to := binary.BigEndian.Uint64(body[0:8]), binary.BigEndian.Uint64(body[8:16]), binary.BigEndian.Uint64(body[16:24])
		if iv == 0 || iv > math.MaxInt64 || first > math.MaxInt64 || to == 0 || to > math.MaxInt64 {
			return fmt.Errorf("decoding %v: interval %d, first %d, timeout %d: %w", m.Type, iv, first, to, ErrMalformed)
		}
		m.Interval, m.First, m.Timeout = time.Duration(iv), time.Duration(first), time.Duration(to)
		n := int(body[24])
		if n == 0 || n > MaxPackets {
			return fmt.Errorf("decoding %v: %d packets, want 1..%d: %w", m.Type, n, MaxPackets, ErrMalformed)
		}
		rest = body[25:]
		for range n {
			if len(rest) < 6 {
				return fmt.Errorf("decoding %v: packet header: %w", m.Type, io.ErrUnexpectedEOF)
			}
			l := int(binary.BigEndian.Uint16(rest[4:6]))
			if l == 0 || l > MaxPacket {
				return fmt.Errorf("decoding %v: packet of %d bytes, want 1..%d: %w", m.Type, l, MaxPacket, ErrMalformed)
			}
			if len(rest) < 6+l {
				return fmt.Errorf("decoding %v: packet of %d bytes: %w", m.Type, l, io.ErrUnexpectedEOF)
			}
			m.Packets = append(m.Packets, Packet{Dst: netip.AddrFrom4([4]byte(rest[0:4])), Data: rest[6 : 6+l]})
			rest = rest[6+l:]
		}
	case TypeStop, TypeAlive, TypeAck, TypeCheck:
	case TypeReport:
		if len(body) < 10 {
			return fmt.Errorf("decoding report: body of %d bytes: %w", len(body), io.ErrUnexpectedEOF)
		}
		m.Sent, m.Failed = binary.BigEndian.Uint32(body[0:4]), binary.BigEndian.Uint32(body[4:8])
		switch body[8] {
		case 0:
		case 1:
			m.Expired = true
		default:
			return fmt.Errorf("decoding report: expired flag %d: %w", body[8], ErrMalformed)
		}
		n := int(body[9])
		if n > MaxDelays {
			return fmt.Errorf("decoding report: %d delays, want at most %d: %w", n, MaxDelays, ErrMalformed)
		}
		rest = body[10:]
		if len(rest) < 4*n {
			return fmt.Errorf("decoding report: %d delays: %w", n, io.ErrUnexpectedEOF)
		}
		for k := range n {
			m.Delays = append(m.Delays, time.Duration(binary.BigEndian.Uint32(rest[4*k:]))*time.Microsecond)
		}
		rest = rest[4*n:]
		if len(rest) < 8 {
			return fmt.Errorf("decoding report: last failure: %w", io.ErrUnexpectedEOF)
		}
		if m.Errno = binary.BigEndian.Uint32(rest[4:8]); m.Errno != 0 {
			m.FailedTo = netip.AddrFrom4([4]byte(rest[0:4]))
		} else if [4]byte(rest[0:4]) != [4]byte{} {
			return fmt.Errorf("decoding report: failed to %v without an errno: %w", netip.AddrFrom4([4]byte(rest[0:4])), ErrMalformed)
		}
		rest = rest[8:]
	case TypeReady:
		if len(body) < 1 {
			return fmt.Errorf("decoding ready: %w", io.ErrUnexpectedEOF)
		}
		n := int(body[0])
		if len(body) < 1+n {
			return fmt.Errorf("decoding ready: text of %d bytes: %w", n, io.ErrUnexpectedEOF)
		}
		m.Text = string(body[1 : 1+n])
		rest = body[1+n:]
	default:
		return fmt.Errorf("decoding sender message: %v: %w", m.Type, ErrMalformed)
	}
	if len(rest) != 0 {
		return fmt.Errorf("decoding %v: %d bytes after the message: %w", m.Type, len(rest), ErrMalformed)
	}
	return nil
}

package amqpcheck

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Frame types (AMQP 0-9-1 section 4.2.3 and the RabbitMQ errata: heartbeat is 8).
const (
	FrameMethod    = 1
	FrameHeader    = 2
	FrameBody      = 3
	FrameHeartbeat = 8
)

// FrameEnd is the octet that ends every frame.
const FrameEnd = 0xCE

// ProtocolHeader opens an AMQP 0-9-1 connection.
var ProtocolHeader = []byte("AMQP\x00\x00\x09\x01")

// Codec errors.
var (
	// ErrFrameTooLarge is returned for a frame whose declared size exceeds the limit.
	ErrFrameTooLarge = errors.New("frame too large")
	// ErrMalformed is returned for bytes that are not a well-formed AMQP frame or method.
	ErrMalformed = errors.New("malformed AMQP data")
)

// Frame is one AMQP frame. Payload aliases the buffer it was read into.
type Frame struct {
	Type    uint8
	Channel uint16
	Payload []byte
}

// ReadFrame reads one frame from r. Frames whose payload is larger than max are rejected with
// ErrFrameTooLarge before their payload is read. A short read is io.ErrUnexpectedEOF (io.EOF
// when nothing at all was read).
func ReadFrame(r io.Reader, max uint32) (Frame, error) {
	var h [7]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return Frame{}, err
	}
	f := Frame{Type: h[0], Channel: binary.BigEndian.Uint16(h[1:3])}
	switch f.Type {
	case FrameMethod, FrameHeader, FrameBody, FrameHeartbeat:
	default:
		return Frame{}, fmt.Errorf("%w: frame type %d", ErrMalformed, f.Type)
	}
	size := binary.BigEndian.Uint32(h[3:7])
	if size > max {
		return Frame{}, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, size, max)
	}
	buf := make([]byte, int(size)+1)
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Frame{}, err
	}
	if buf[size] != FrameEnd {
		return Frame{}, fmt.Errorf("%w: frame end 0x%02x", ErrMalformed, buf[size])
	}
	f.Payload = buf[:size]
	return f, nil
}

// AppendFrame appends f in wire format to dst.
func AppendFrame(dst []byte, f Frame) []byte {
	dst = append(dst, f.Type)
	dst = binary.BigEndian.AppendUint16(dst, f.Channel)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(f.Payload)))
	dst = append(dst, f.Payload...)
	return append(dst, FrameEnd)
}

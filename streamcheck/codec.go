package streamcheck

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Keys of the protocol's commands; a response's key is its request's
// with ResponseBit set.
const (
	KeyPeerProperties   uint16 = 0x0011
	KeySaslHandshake    uint16 = 0x0012
	KeySaslAuthenticate uint16 = 0x0013
	KeyTune             uint16 = 0x0014
	KeyOpen             uint16 = 0x0015
	KeyClose            uint16 = 0x0016
	KeyHeartbeat        uint16 = 0x0017
	// ResponseBit marks a response.
	ResponseBit uint16 = 0x8000
)

// version is the version of every command the check sends.
const version = 1

// Code is a response code.
type Code uint16

// Response codes.
const (
	OK                        Code = 0x01
	SASLMechanismNotSupported Code = 0x07
	AuthenticationFailure     Code = 0x08
	SASLError                 Code = 0x09
	SASLChallenge             Code = 0x0a
	AuthenticationLoopback    Code = 0x0b
	VirtualHostAccessFailure  Code = 0x0c
	UnknownFrame              Code = 0x0d
	FrameTooLarge             Code = 0x0e
	InternalError             Code = 0x0f
	AccessRefused             Code = 0x10
)

var codeNames = map[Code]string{
	OK:                        "ok",
	0x02:                      "stream does not exist",
	0x03:                      "subscription id already exists",
	0x04:                      "subscription id does not exist",
	0x05:                      "stream already exists",
	0x06:                      "stream not available",
	SASLMechanismNotSupported: "SASL mechanism not supported",
	AuthenticationFailure:     "authentication failure",
	SASLError:                 "SASL error",
	SASLChallenge:             "SASL challenge",
	AuthenticationLoopback:    "authentication failure loopback",
	VirtualHostAccessFailure:  "virtual host access failure",
	UnknownFrame:              "unknown frame",
	FrameTooLarge:             "frame too large",
	InternalError:             "internal error",
	AccessRefused:             "access refused",
	0x11:                      "precondition failed",
	0x12:                      "publisher does not exist",
}

// String returns the code and its meaning: "0x08 authentication failure".
func (c Code) String() string {
	if n, ok := codeNames[c]; ok {
		return fmt.Sprintf("0x%02x %s", uint16(c), n)
	}
	return fmt.Sprintf("0x%02x", uint16(c))
}

// Refused reports whether c refuses the client's credentials or its
// access to the vhost.
func (c Code) Refused() bool {
	return c == AuthenticationFailure || c == AuthenticationLoopback || c == VirtualHostAccessFailure || c == AccessRefused
}

// Property is a peer or connection property.
type Property struct {
	Key, Value string
}

// maxString is the longest string an int16 length holds.
const maxString = 0x7FFF

// ErrTooLong: a string to send is longer than the 32767 bytes its length
// holds.
var ErrTooLong = errors.New("longer than 32767 bytes")

// request is a request being encoded: its frame's size is written when
// it is done.
type request struct {
	b     []byte
	start int // of the size
	err   error
}

func newRequest(b []byte, key uint16, corr uint32) *request {
	r := &request{b: b, start: len(b)}
	r.b = append(r.b, 0, 0, 0, 0)
	r.b = binary.BigEndian.AppendUint16(r.b, key)
	r.b = binary.BigEndian.AppendUint16(r.b, version)
	r.b = binary.BigEndian.AppendUint32(r.b, corr)
	return r
}

func (r *request) string(s string) {
	if len(s) > maxString {
		r.err = fmt.Errorf("a string is %w", ErrTooLong)
		return
	}
	r.b = binary.BigEndian.AppendUint16(r.b, uint16(len(s)))
	r.b = append(r.b, s...)
}

func (r *request) done(b []byte) ([]byte, error) {
	if r.err != nil {
		return b, r.err
	}
	binary.BigEndian.PutUint32(r.b[r.start:], uint32(len(r.b)-r.start-4))
	return r.b, nil
}

// AppendPeerProperties appends a PeerProperties request to b.
func AppendPeerProperties(b []byte, corr uint32, props []Property) ([]byte, error) {
	r := newRequest(b, KeyPeerProperties, corr)
	r.b = binary.BigEndian.AppendUint32(r.b, uint32(len(props)))
	for _, p := range props {
		r.string(p.Key)
		r.string(p.Value)
	}
	return r.done(b)
}

// AppendSaslHandshake appends a SaslHandshake request to b.
func AppendSaslHandshake(b []byte, corr uint32) []byte {
	out, _ := newRequest(b, KeySaslHandshake, corr).done(b)
	return out
}

// AppendSaslPlain appends a SaslAuthenticate request to b with the PLAIN
// mechanism's response (RFC 4616): no authorization identity, user and
// password.
func AppendSaslPlain(b []byte, corr uint32, user, password string) ([]byte, error) {
	r := newRequest(b, KeySaslAuthenticate, corr)
	r.string("PLAIN")
	data := 1 + len(user) + 1 + len(password)
	r.b = binary.BigEndian.AppendUint32(r.b, uint32(data))
	r.b = append(r.b, 0)
	r.b = append(r.b, user...)
	r.b = append(r.b, 0)
	r.b = append(r.b, password...)
	return r.done(b)
}

// AppendTune appends a Tune frame (the client's answer to the server's)
// to b.
func AppendTune(b []byte, frameMax, heartbeat uint32) []byte {
	b = binary.BigEndian.AppendUint32(b, 12)
	b = binary.BigEndian.AppendUint16(b, KeyTune)
	b = binary.BigEndian.AppendUint16(b, version)
	b = binary.BigEndian.AppendUint32(b, frameMax)
	return binary.BigEndian.AppendUint32(b, heartbeat)
}

// AppendOpen appends an Open request of vhost to b.
func AppendOpen(b []byte, corr uint32, vhost string) ([]byte, error) {
	r := newRequest(b, KeyOpen, corr)
	r.string(vhost)
	return r.done(b)
}

// AppendClose appends a Close request to b.
func AppendClose(b []byte, corr uint32, code Code, reason string) ([]byte, error) {
	r := newRequest(b, KeyClose, corr)
	r.b = binary.BigEndian.AppendUint16(r.b, uint16(code))
	r.string(reason)
	return r.done(b)
}

// Frame is a frame the server sent.
type Frame struct {
	// Key is the command's key, with ResponseBit for a response.
	Key uint16
	// Version is the command's version.
	Version uint16
	// Body is what follows the key and version.
	Body []byte
}

// ErrNotStream: the server's bytes are no frame of the protocol.
var ErrNotStream = errors.New("not a RabbitMQ stream server")

// FrameSize returns the size of the frame whose first four bytes b
// holds (without those four): io.ErrUnexpectedEOF when b is shorter,
// ErrNotStream, wrapped, for a size below a key's and version's or above
// max, such as the first bytes of an AMQP or HTTP server's answer.
func FrameSize(b []byte, max int) (int, error) {
	if len(b) < 4 {
		return 0, io.ErrUnexpectedEOF
	}
	n := binary.BigEndian.Uint32(b)
	if n < 4 || n > uint32(max) {
		return 0, fmt.Errorf("%w: it sent % x, a frame of %d bytes", ErrNotStream, b[:4], n)
	}
	return int(n), nil
}

// ParseFrame decodes the frame b begins with and returns it with the
// bytes it took: io.ErrUnexpectedEOF when b holds only a part of it, and
// the errors of FrameSize. The Frame's Body is a part of b.
func ParseFrame(b []byte, max int) (Frame, int, error) {
	n, err := FrameSize(b, max)
	if err != nil {
		return Frame{}, 0, err
	}
	if len(b) < 4+n {
		return Frame{}, 0, io.ErrUnexpectedEOF
	}
	return Frame{Key: binary.BigEndian.Uint16(b[4:]), Version: binary.BigEndian.Uint16(b[6:]), Body: b[8 : 4+n]}, 4 + n, nil
}

// Response is a response to a request.
type Response struct {
	// Key is the request's key, without ResponseBit.
	Key uint16
	// Corr is the request's correlation id.
	Corr uint32
	// Code is the response code.
	Code Code
	// Rest is what the response carries after its code.
	Rest []byte
}

// ParseResponse decodes f, a response: io.ErrUnexpectedEOF when its body
// is too short for a correlation id and a code, ErrNotStream for a frame
// that is no response.
func ParseResponse(f Frame) (Response, error) {
	if f.Key&ResponseBit == 0 {
		return Response{}, fmt.Errorf("%w: key 0x%04x is no response", ErrNotStream, f.Key)
	}
	if len(f.Body) < 6 {
		return Response{}, io.ErrUnexpectedEOF
	}
	return Response{Key: f.Key &^ ResponseBit, Corr: binary.BigEndian.Uint32(f.Body), Code: Code(binary.BigEndian.Uint16(f.Body[4:])), Rest: f.Body[6:]}, nil
}

// ParseProperties decodes b, an array of properties (the rest of a
// PeerProperties or Open response): io.ErrUnexpectedEOF when it is
// shorter than it says. A null string reads as "".
func ParseProperties(b []byte) ([]Property, error) {
	if len(b) < 4 {
		return nil, io.ErrUnexpectedEOF
	}
	n := binary.BigEndian.Uint32(b)
	b = b[4:]
	if uint64(n)*4 > uint64(len(b)) { // each takes two lengths at least
		return nil, io.ErrUnexpectedEOF
	}
	props := make([]Property, 0, n)
	for range n {
		var p Property
		var err error
		if p.Key, b, err = parseString(b); err != nil {
			return nil, err
		}
		if p.Value, b, err = parseString(b); err != nil {
			return nil, err
		}
		props = append(props, p)
	}
	return props, nil
}

// ParseMechanisms decodes b, the rest of a SaslHandshake response.
func ParseMechanisms(b []byte) ([]string, error) {
	if len(b) < 4 {
		return nil, io.ErrUnexpectedEOF
	}
	n := binary.BigEndian.Uint32(b)
	b = b[4:]
	if uint64(n)*2 > uint64(len(b)) {
		return nil, io.ErrUnexpectedEOF
	}
	ms := make([]string, 0, n)
	for range n {
		m, rest, err := parseString(b)
		if err != nil {
			return nil, err
		}
		ms, b = append(ms, m), rest
	}
	return ms, nil
}

// ParseTune decodes f, a Tune frame.
func ParseTune(f Frame) (frameMax, heartbeat uint32, err error) {
	if len(f.Body) < 8 {
		return 0, 0, io.ErrUnexpectedEOF
	}
	return binary.BigEndian.Uint32(f.Body), binary.BigEndian.Uint32(f.Body[4:]), nil
}

// ParseClose decodes f, a Close request of the server: its correlation
// id, code and reason.
func ParseClose(f Frame) (corr uint32, code Code, reason string, err error) {
	if len(f.Body) < 6 {
		return 0, 0, "", io.ErrUnexpectedEOF
	}
	reason, _, err = parseString(f.Body[6:])
	return binary.BigEndian.Uint32(f.Body), Code(binary.BigEndian.Uint16(f.Body[4:])), reason, err
}

// parseString decodes the string b begins with and returns the rest.
func parseString(b []byte) (string, []byte, error) {
	if len(b) < 2 {
		return "", nil, io.ErrUnexpectedEOF
	}
	n := int16(binary.BigEndian.Uint16(b))
	b = b[2:]
	if n < 0 {
		return "", b, nil // null
	}
	if int(n) > len(b) {
		return "", nil, io.ErrUnexpectedEOF
	}
	return string(b[:n]), b[n:], nil
}

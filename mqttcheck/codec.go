package mqttcheck

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Control packet types of MQTT 3.1.1 (section 2.2.1), in the high
// nibble of a packet's first byte.
const (
	typeConnect    = 1
	typeConnAck    = 2
	typeDisconnect = 14
)

// Connect flags (section 3.1.2.3).
const (
	flagCleanSession = 0x02
	flagPassword     = 0x40
	flagUserName     = 0x80
)

// protocolLevel is MQTT 3.1.1's (section 3.1.2.2).
const protocolLevel = 4

// Connect is a CONNECT packet (section 3.1), with a clean session.
type Connect struct {
	// ClientID identifies the client; a server disconnects an earlier
	// connection with the same one (section 3.1.4).
	ClientID string
	// User and Password are the user name and password; Password is
	// sent only with a User. Zero: none.
	User, Password string
	// KeepAlive is the keep alive interval in seconds; 0: off.
	KeepAlive uint16
}

// ErrFieldTooLong: a string of a Connect is longer than the 65535 bytes
// its length prefix holds.
var ErrFieldTooLong = errors.New("longer than 65535 bytes")

// AppendConnect appends c, encoded, to b.
func AppendConnect(b []byte, c Connect) ([]byte, error) {
	flags := byte(flagCleanSession)
	fields := []string{c.ClientID}
	if c.User != "" {
		flags |= flagUserName
		fields = append(fields, c.User)
		if c.Password != "" {
			flags |= flagPassword
			fields = append(fields, c.Password)
		}
	}
	// Variable header: protocol name, level, flags, keep alive.
	n := 2 + 4 + 1 + 1 + 2
	for _, f := range fields {
		if len(f) > 0xFFFF {
			return b, fmt.Errorf("encoding CONNECT: a field is %w", ErrFieldTooLong)
		}
		n += 2 + len(f)
	}
	b = append(b, typeConnect<<4)
	b = appendRemaining(b, n)
	b = appendString(b, "MQTT")
	b = append(b, protocolLevel, flags)
	b = binary.BigEndian.AppendUint16(b, c.KeepAlive)
	for _, f := range fields {
		b = appendString(b, f)
	}
	return b, nil
}

// appendString appends s with its two-byte length (section 1.5.3).
func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// appendRemaining appends the remaining length n (a CONNECT's is far
// below the 268435455 that four bytes hold), seven bits a byte, least
// significant first (section 2.2.3).
func appendRemaining(b []byte, n int) []byte {
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

// Disconnect is the DISCONNECT packet (section 3.14).
var Disconnect = []byte{typeDisconnect << 4, 0}

// ConnAckLen is the length of a CONNACK packet.
const ConnAckLen = 4

// ReturnCode is a CONNACK's connect return code (section 3.2.2.3).
type ReturnCode byte

// Connect return codes.
const (
	Accepted                    ReturnCode = 0
	UnacceptableProtocolVersion ReturnCode = 1
	IdentifierRejected          ReturnCode = 2
	ServerUnavailable           ReturnCode = 3
	BadUserNameOrPassword       ReturnCode = 4
	NotAuthorized               ReturnCode = 5
)

var returnCodeNames = [...]string{
	Accepted:                    "connection accepted",
	UnacceptableProtocolVersion: "unacceptable protocol version",
	IdentifierRejected:          "identifier rejected",
	ServerUnavailable:           "server unavailable",
	BadUserNameOrPassword:       "bad user name or password",
	NotAuthorized:               "not authorized",
}

// String returns the code and its meaning: "5 not authorized".
func (c ReturnCode) String() string {
	if int(c) < len(returnCodeNames) {
		return fmt.Sprintf("%d %s", c, returnCodeNames[c])
	}
	return fmt.Sprintf("%d (reserved)", c)
}

// Refused reports whether c refuses the client's credentials.
func (c ReturnCode) Refused() bool { return c == BadUserNameOrPassword || c == NotAuthorized }

// ConnAck is a CONNACK packet (section 3.2).
type ConnAck struct {
	// SessionPresent is the session present flag.
	SessionPresent bool
	// Code is the connect return code.
	Code ReturnCode
}

// ErrNotMQTT: the server's first bytes are not a CONNACK packet.
var ErrNotMQTT = errors.New("not an MQTT server")

// ParseConnAck decodes b, a CONNACK packet: io.ErrUnexpectedEOF when b is
// shorter than ConnAckLen, ErrNotMQTT when b is no CONNACK.
func ParseConnAck(b []byte) (ConnAck, error) {
	if len(b) < ConnAckLen {
		return ConnAck{}, io.ErrUnexpectedEOF
	}
	if b[0] != typeConnAck<<4 {
		return ConnAck{}, notConnAck(b[0])
	}
	if b[1] != 2 {
		return ConnAck{}, fmt.Errorf("%w: a CONNACK of remaining length %d, not 2", ErrNotMQTT, b[1])
	}
	if b[2]&^1 != 0 {
		return ConnAck{}, fmt.Errorf("%w: reserved acknowledge flags 0x%02x set", ErrNotMQTT, b[2])
	}
	return ConnAck{SessionPresent: b[2]&1 == 1, Code: ReturnCode(b[3])}, nil
}

// notConnAck is the error of a packet that begins with b0, not a
// CONNACK's first byte.
func notConnAck(b0 byte) error {
	return fmt.Errorf("%w: it sent 0x%02x where a CONNACK begins with 0x20", ErrNotMQTT, b0)
}

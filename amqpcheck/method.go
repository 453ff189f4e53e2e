package amqpcheck

import (
	"encoding/binary"
	"fmt"
	"io"
)

// MethodID identifies an AMQP method by class and method number.
type MethodID struct{ Class, Method uint16 }

// Methods this package reads or writes (AMQP 0-9-1 XML spec, classes connection=10,
// channel=20, basic=60).
var (
	ConnectionStart     = MethodID{10, 10}
	ConnectionStartOk   = MethodID{10, 11}
	ConnectionSecure    = MethodID{10, 20}
	ConnectionTune      = MethodID{10, 30}
	ConnectionTuneOk    = MethodID{10, 31}
	ConnectionOpen      = MethodID{10, 40}
	ConnectionOpenOk    = MethodID{10, 41}
	ConnectionClose     = MethodID{10, 50}
	ConnectionCloseOk   = MethodID{10, 51}
	ConnectionBlocked   = MethodID{10, 60}
	ConnectionUnblocked = MethodID{10, 61}
	ChannelOpen         = MethodID{20, 10}
	ChannelOpenOk       = MethodID{20, 11}
	ChannelClose        = MethodID{20, 40}
	ChannelCloseOk      = MethodID{20, 41}
	BasicQos            = MethodID{60, 10}
	BasicQosOk          = MethodID{60, 11}
	BasicPublish        = MethodID{60, 40}
)

var methodNames = map[MethodID]string{
	ConnectionStart: "Connection.Start", ConnectionStartOk: "Connection.Start-Ok",
	ConnectionSecure: "Connection.Secure", ConnectionTune: "Connection.Tune",
	ConnectionTuneOk: "Connection.Tune-Ok", ConnectionOpen: "Connection.Open",
	ConnectionOpenOk: "Connection.Open-Ok", ConnectionClose: "Connection.Close",
	ConnectionCloseOk: "Connection.Close-Ok", ConnectionBlocked: "Connection.Blocked",
	ConnectionUnblocked: "Connection.Unblocked", ChannelOpen: "Channel.Open",
	ChannelOpenOk: "Channel.Open-Ok", ChannelClose: "Channel.Close", ChannelCloseOk: "Channel.Close-Ok",
	BasicQos: "Basic.Qos", BasicQosOk: "Basic.Qos-Ok", BasicPublish: "Basic.Publish",
}

// String returns the method's name, e.g. "Connection.Start", or "method 60.80".
func (m MethodID) String() string {
	if n, ok := methodNames[m]; ok {
		return n
	}
	return fmt.Sprintf("method %d.%d", m.Class, m.Method)
}

// ParseMethod splits the payload of a method frame into its id and arguments.
func ParseMethod(payload []byte) (MethodID, []byte, error) {
	if len(payload) < 4 {
		return MethodID{}, nil, fmt.Errorf("parsing method frame: %w", io.ErrUnexpectedEOF)
	}
	return MethodID{binary.BigEndian.Uint16(payload), binary.BigEndian.Uint16(payload[2:])}, payload[4:], nil
}

// Start holds the arguments of Connection.Start.
type Start struct {
	VersionMajor, VersionMinor uint8
	ServerProperties           Table
	Mechanisms                 string // space-separated, e.g. "PLAIN AMQPLAIN"
	Locales                    string
}

// ParseStart parses the arguments of Connection.Start.
func ParseStart(args []byte) (Start, error) {
	d := decoder{b: args}
	s := Start{VersionMajor: d.u8(), VersionMinor: d.u8()}
	s.ServerProperties = d.table(0)
	s.Mechanisms = d.longstr()
	s.Locales = d.longstr()
	if d.err != nil {
		return Start{}, fmt.Errorf("parsing Connection.Start: %w", d.err)
	}
	return s, nil
}

// Tune holds the arguments of Connection.Tune and Tune-Ok.
type Tune struct {
	ChannelMax uint16
	FrameMax   uint32
	Heartbeat  uint16
}

// ParseTune parses the arguments of Connection.Tune.
func ParseTune(args []byte) (Tune, error) {
	d := decoder{b: args}
	t := Tune{ChannelMax: d.u16(), FrameMax: d.u32(), Heartbeat: d.u16()}
	if d.err != nil {
		return Tune{}, fmt.Errorf("parsing Connection.Tune: %w", d.err)
	}
	return t, nil
}

// Close holds the arguments of Connection.Close and Channel.Close.
type Close struct {
	ReplyCode uint16
	ReplyText string
	// ClassID and MethodID name the method that caused the close (0 if none).
	ClassID, MethodID uint16
}

// ParseClose parses the arguments of Connection.Close or Channel.Close.
func ParseClose(args []byte) (Close, error) {
	d := decoder{b: args}
	c := Close{ReplyCode: d.u16(), ReplyText: d.shortstr(), ClassID: d.u16(), MethodID: d.u16()}
	if d.err != nil {
		return Close{}, fmt.Errorf("parsing close: %w", d.err)
	}
	return c, nil
}

// ParseBlocked parses the reason of Connection.Blocked.
func ParseBlocked(args []byte) (string, error) {
	d := decoder{b: args}
	r := d.shortstr()
	if d.err != nil {
		return "", fmt.Errorf("parsing Connection.Blocked: %w", d.err)
	}
	return r, nil
}

// AppendMethod appends a method frame on channel ch with the given arguments.
func AppendMethod(dst []byte, ch uint16, id MethodID, args []byte) []byte {
	p := make([]byte, 4, 4+len(args))
	binary.BigEndian.PutUint16(p, id.Class)
	binary.BigEndian.PutUint16(p[2:], id.Method)
	return AppendFrame(dst, Frame{Type: FrameMethod, Channel: ch, Payload: append(p, args...)})
}

// StartOkArgs encodes Connection.Start-Ok.
func StartOkArgs(clientProps Table, mechanism string, response []byte, locale string) ([]byte, error) {
	b, err := AppendTable(nil, clientProps)
	if err != nil {
		return nil, err
	}
	if b, err = appendShortstr(b, mechanism); err != nil {
		return nil, err
	}
	b = appendLongstr(b, string(response))
	return appendShortstr(b, locale)
}

// TuneOkArgs encodes Connection.Tune-Ok.
func TuneOkArgs(t Tune) []byte {
	b := binary.BigEndian.AppendUint16(nil, t.ChannelMax)
	b = binary.BigEndian.AppendUint32(b, t.FrameMax)
	return binary.BigEndian.AppendUint16(b, t.Heartbeat)
}

// OpenArgs encodes Connection.Open for vhost (reserved capabilities "" and insist false).
func OpenArgs(vhost string) ([]byte, error) {
	b, err := appendShortstr(nil, vhost)
	if err != nil {
		return nil, fmt.Errorf("encoding vhost: %w", err)
	}
	return append(b, 0, 0), nil
}

// CloseArgs encodes Connection.Close or Channel.Close.
func CloseArgs(c Close) ([]byte, error) {
	b := binary.BigEndian.AppendUint16(nil, c.ReplyCode)
	b, err := appendShortstr(b, c.ReplyText)
	if err != nil {
		return nil, err
	}
	b = binary.BigEndian.AppendUint16(b, c.ClassID)
	return binary.BigEndian.AppendUint16(b, c.MethodID), nil
}

// ChannelOpenArgs encodes Channel.Open (reserved out-of-band "").
func ChannelOpenArgs() []byte { return []byte{0} }

// PublishArgs encodes Basic.Publish (reserved ticket 0, mandatory and immediate false).
func PublishArgs(exchange, routingKey string) ([]byte, error) {
	b := []byte{0, 0}
	b, err := appendShortstr(b, exchange)
	if err != nil {
		return nil, err
	}
	if b, err = appendShortstr(b, routingKey); err != nil {
		return nil, err
	}
	return append(b, 0), nil
}

// AppendEmptyContentHeader appends the content header frame of a basic-class message with an
// empty body and no properties (so no body frame follows).
func AppendEmptyContentHeader(dst []byte, ch uint16) []byte {
	p := make([]byte, 14)
	binary.BigEndian.PutUint16(p, 60) // class basic; weight 0; body size 0; flags 0
	return AppendFrame(dst, Frame{Type: FrameHeader, Channel: ch, Payload: p})
}

// QosArgs encodes Basic.Qos with prefetch size and count 0, global false.
func QosArgs() []byte { return make([]byte, 7) }

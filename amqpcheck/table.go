package amqpcheck

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sort"
	"time"
)

// Table is an AMQP field table. Values decode to bool, int8, uint8, int16, uint16, int32,
// uint32, int64, float32, float64, Decimal, string (long string), []byte (byte array),
// []any (array), time.Time (timestamp), Table or nil (void), following the RabbitMQ errata of
// AMQP 0-9-1 (https://www.rabbitmq.com/amqp-0-9-1-errata.html#section_3).
type Table map[string]any

// Decimal is an AMQP decimal value: Value / 10^Scale.
type Decimal struct {
	Scale uint8
	Value int32
}

// decoder reads AMQP primitive types from a byte slice; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) need(n int) bool {
	if d.err != nil {
		return false
	}
	if len(d.b) < n {
		d.err = io.ErrUnexpectedEOF
		return false
	}
	return true
}

func (d *decoder) u8() uint8 {
	if !d.need(1) {
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) u16() uint16 {
	if !d.need(2) {
		return 0
	}
	v := binary.BigEndian.Uint16(d.b)
	d.b = d.b[2:]
	return v
}

func (d *decoder) u32() uint32 {
	if !d.need(4) {
		return 0
	}
	v := binary.BigEndian.Uint32(d.b)
	d.b = d.b[4:]
	return v
}

func (d *decoder) u64() uint64 {
	if !d.need(8) {
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) bytes(n int) []byte {
	if n < 0 || !d.need(n) {
		if d.err == nil {
			d.err = io.ErrUnexpectedEOF
		}
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) shortstr() string { return string(d.bytes(int(d.u8()))) }

func (d *decoder) longstr() string {
	n := d.u32()
	if n > math.MaxInt32 {
		d.fail("long string of %d bytes", n)
		return ""
	}
	return string(d.bytes(int(n)))
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
}

// maxDepth bounds nesting of tables and arrays.
const maxDepth = 32

func (d *decoder) table(depth int) Table {
	n := d.u32()
	if !d.need(int(min(n, math.MaxInt32))) {
		return nil
	}
	if depth > maxDepth {
		d.fail("field tables nested deeper than %d", maxDepth)
		return nil
	}
	sub := decoder{b: d.b[:n]}
	d.b = d.b[n:]
	t := Table{}
	for len(sub.b) > 0 && sub.err == nil {
		k := sub.shortstr()
		v := sub.value(depth)
		if sub.err == nil {
			t[k] = v
		}
	}
	if sub.err != nil {
		d.err = sub.err
		return nil
	}
	return t
}

func (d *decoder) array(depth int) []any {
	n := d.u32()
	if !d.need(int(min(n, math.MaxInt32))) {
		return nil
	}
	if depth > maxDepth {
		d.fail("arrays nested deeper than %d", maxDepth)
		return nil
	}
	sub := decoder{b: d.b[:n]}
	d.b = d.b[n:]
	a := []any{}
	for len(sub.b) > 0 && sub.err == nil {
		v := sub.value(depth)
		if sub.err == nil {
			a = append(a, v)
		}
	}
	if sub.err != nil {
		d.err = sub.err
		return nil
	}
	return a
}

func (d *decoder) value(depth int) any {
	switch t := d.u8(); t {
	case 't':
		return d.u8() != 0
	case 'b':
		return int8(d.u8())
	case 'B':
		return d.u8()
	case 's':
		return int16(d.u16())
	case 'u':
		return d.u16()
	case 'I':
		return int32(d.u32())
	case 'i':
		return d.u32()
	case 'l':
		return int64(d.u64())
	case 'f':
		return math.Float32frombits(d.u32())
	case 'd':
		return math.Float64frombits(d.u64())
	case 'D':
		s := d.u8()
		return Decimal{Scale: s, Value: int32(d.u32())}
	case 'S':
		return d.longstr()
	case 'x':
		n := d.u32()
		if n > math.MaxInt32 {
			d.fail("byte array of %d bytes", n)
			return nil
		}
		return append([]byte(nil), d.bytes(int(n))...)
	case 'A':
		return d.array(depth + 1)
	case 'T':
		return time.Unix(int64(d.u64()), 0).UTC()
	case 'F':
		return d.table(depth + 1)
	case 'V':
		return nil
	default:
		if d.err == nil {
			d.fail("field value type %q", t)
		}
		return nil
	}
}

// appendShortstr appends an AMQP short string; it fails for strings over 255 bytes.
func appendShortstr(b []byte, s string) ([]byte, error) {
	if len(s) > 255 {
		return b, fmt.Errorf("short string of %d bytes (max 255)", len(s))
	}
	return append(append(b, byte(len(s))), s...), nil
}

func appendLongstr(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// AppendTable appends t in wire format, keys sorted (so the output is deterministic). It
// supports the value types a client sends: bool, string, int32, int64, Table.
func AppendTable(b []byte, t Table) ([]byte, error) {
	start := len(b)
	b = append(b, 0, 0, 0, 0)
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var err error
	for _, k := range keys {
		if b, err = appendShortstr(b, k); err != nil {
			return b[:start], fmt.Errorf("encoding table key: %w", err)
		}
		switch v := t[k].(type) {
		case bool:
			x := byte(0)
			if v {
				x = 1
			}
			b = append(b, 't', x)
		case string:
			b = appendLongstr(append(b, 'S'), v)
		case int32:
			b = binary.BigEndian.AppendUint32(append(b, 'I'), uint32(v))
		case int64:
			b = binary.BigEndian.AppendUint64(append(b, 'l'), uint64(v))
		case Table:
			if b, err = AppendTable(append(b, 'F'), v); err != nil {
				return b[:start], err
			}
		default:
			return b[:start], fmt.Errorf("encoding table value %q: unsupported type %T", k, v)
		}
	}
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-4))
	return b, nil
}

package stompcheck

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Connect is a CONNECT frame.
type Connect struct {
	// Host is the virtual host (the host header, which STOMP 1.1 and 1.2
	// require); RabbitMQ reads it as the vhost.
	Host string
	// Login and Passcode are the credentials; Passcode is sent only
	// with a Login, and then always, empty or not. Zero: none, which
	// RabbitMQ answers as its stomp.default_user says.
	Login, Passcode string
}

// ErrBadValue: a header value of a Connect holds a line feed, a carriage
// return or a NUL, which a CONNECT frame cannot carry (its headers are
// not escaped, for STOMP 1.0's sake).
var ErrBadValue = errors.New("holds a line break or a NUL")

// AcceptVersion is the accept-version header of the CONNECT frame: every
// version of STOMP, which all begin with the same CONNECT and CONNECTED.
const AcceptVersion = "1.0,1.1,1.2"

// AppendConnect appends c, encoded as a CONNECT frame, to b. The frame
// asks for no heart-beats: the check disconnects long before one.
func AppendConnect(b []byte, c Connect) ([]byte, error) {
	headers := []Header{{"accept-version", AcceptVersion}, {"host", c.Host}, {"heart-beat", "0,0"}}
	if c.Login != "" {
		headers = append(headers, Header{"login", c.Login}, Header{"passcode", c.Passcode})
	}
	for _, h := range headers {
		if strings.ContainsAny(h.Value, "\r\n\x00") {
			return b, fmt.Errorf("encoding CONNECT: the %s header %w", h.Name, ErrBadValue)
		}
	}
	b = append(b, "CONNECT\n"...)
	for _, h := range headers {
		b = append(b, h.Name...)
		b = append(b, ':')
		b = append(b, h.Value...)
		b = append(b, '\n')
	}
	return append(b, '\n', 0), nil
}

// Disconnect is the DISCONNECT frame, without a receipt.
var Disconnect = []byte("DISCONNECT\n\n\x00")

// Header is a header of a frame.
type Header struct {
	Name, Value string
}

// Frame is a frame a server sent.
type Frame struct {
	// Command is the frame's command: CONNECTED, ERROR, MESSAGE or
	// RECEIPT.
	Command string
	// Headers are the frame's headers in the order sent, repeated ones
	// included; the values of frames other than CONNECTED are unescaped.
	Headers []Header
	// Body is the frame's body, without its NUL.
	Body []byte
}

// Get returns the value of the first header named name, which is the one
// that counts when a header is repeated.
func (f Frame) Get(name string) (string, bool) {
	for _, h := range f.Headers {
		if h.Name == name {
			return h.Value, true
		}
	}
	return "", false
}

// maxCommand is longer than any command of STOMP.
const maxCommand = 32

// ErrNotSTOMP: the server's bytes are no STOMP frame.
var ErrNotSTOMP = errors.New("not a STOMP server")

// ParseFrame decodes the frame b begins with, after any end-of-line
// heart-beats, and returns it with the number of bytes it took through
// its NUL. It returns io.ErrUnexpectedEOF when b holds only a part of a
// frame (read more and call again), and ErrNotSTOMP, wrapped, as soon as
// b's bytes cannot begin a frame. The Frame's strings and Body are copies.
func ParseFrame(b []byte) (Frame, int, error) {
	i := 0
	for i < len(b) && (b[i] == '\n' || b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n') {
		i++
	}
	if i == len(b)-1 && b[i] == '\r' {
		return Frame{}, 0, io.ErrUnexpectedEOF // a heart-beat's CR, or a command's
	}
	line, next, ok := cutLine(b, i)
	cmd := line
	if !ok {
		cmd = bytes.TrimSuffix(b[i:], []byte{'\r'})
	}
	if err := checkCommand(cmd, ok); err != nil {
		return Frame{}, 0, err
	}
	if !ok {
		return Frame{}, 0, io.ErrUnexpectedEOF
	}
	f := Frame{Command: string(line)}
	for i = next; ; i = next {
		if line, next, ok = cutLine(b, i); !ok {
			return Frame{}, 0, io.ErrUnexpectedEOF
		}
		if len(line) == 0 {
			i = next
			break
		}
		name, value, found := bytes.Cut(line, []byte{':'})
		if !found {
			return Frame{}, 0, fmt.Errorf("%w: header line %q without a colon", ErrNotSTOMP, trim(line))
		}
		h := Header{string(name), string(value)}
		if f.Command != "CONNECTED" {
			h.Value = unescape(h.Value)
		}
		f.Headers = append(f.Headers, h)
	}
	end := -1
	if v, ok := f.Get("content-length"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return Frame{}, 0, fmt.Errorf("%w: content-length %q", ErrNotSTOMP, trim([]byte(v)))
		}
		if len(b)-i <= n {
			return Frame{}, 0, io.ErrUnexpectedEOF
		}
		if b[i+n] != 0 {
			return Frame{}, 0, fmt.Errorf("%w: no NUL after a body of content-length %d", ErrNotSTOMP, n)
		}
		end = i + n
	} else if end = bytes.IndexByte(b[i:], 0); end < 0 {
		return Frame{}, 0, io.ErrUnexpectedEOF
	} else {
		end += i
	}
	f.Body = bytes.Clone(b[i:end])
	return f, end + 1, nil
}

// cutLine returns the line of b that begins at i, without its end of
// line (LF, or CR LF), and the index after it; ok is false when b holds
// no end of line from i on.
func cutLine(b []byte, i int) (line []byte, next int, ok bool) {
	j := bytes.IndexByte(b[i:], '\n')
	if j < 0 {
		return nil, 0, false
	}
	line = b[i : i+j]
	return bytes.TrimSuffix(line, []byte{'\r'}), i + j + 1, true
}

// checkCommand fails for cmd, a command line (complete, or its start so
// far), that no frame begins with: one not of capital letters, or longer
// than any command.
func checkCommand(cmd []byte, complete bool) error {
	if len(cmd) > maxCommand || complete && len(cmd) == 0 {
		return fmt.Errorf("%w: it sent %q where a frame's command goes", ErrNotSTOMP, trim(cmd))
	}
	for _, c := range cmd {
		if c < 'A' || c > 'Z' {
			return fmt.Errorf("%w: it sent %q where a frame's command goes", ErrNotSTOMP, trim(cmd))
		}
	}
	return nil
}

// trim cuts b to what an error message shows of it.
func trim(b []byte) []byte {
	if len(b) > maxCommand {
		return b[:maxCommand]
	}
	return b
}

// unescape decodes the escapes of a header value of STOMP 1.2 (\r, \n,
// \c for a colon, \\); any other backslash is kept as it is.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			sb.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case 'r':
			sb.WriteByte('\r')
		case 'n':
			sb.WriteByte('\n')
		case 'c':
			sb.WriteByte(':')
		case '\\':
			sb.WriteByte('\\')
		default:
			sb.WriteByte('\\')
			continue
		}
		i++
	}
	return sb.String()
}

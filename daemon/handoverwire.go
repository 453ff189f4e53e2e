package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// The upgrade hand-over speaks over a SOCK_SEQPACKET socket pair between the
// running daemon and its successor: one message is one JSON document,
// possibly with open files (SCM_RIGHTS) attached, so that a message and its
// files arrive together and message boundaries need no framing.

// maxHandoverMsg bounds one hand-over message.
const maxHandoverMsg = 1 << 20

// maxHandoverFiles bounds the files of one message (SCM_MAX_FD is 253).
const maxHandoverFiles = 250

// handoverPair returns a connected SOCK_SEQPACKET pair: the running
// daemon's end and its successor's (to be passed to the child process).
func handoverPair() (mine, theirs *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("creating the hand-over socket pair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "handover"), os.NewFile(uintptr(fds[1]), "handover"), nil
}

// handoverConn is one end of the hand-over pair.
type handoverConn struct {
	c *net.UnixConn
}

// newHandoverConn takes over f, an end of a hand-over pair (f is closed;
// the connection holds its own descriptor).
func newHandoverConn(f *os.File) (*handoverConn, error) {
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("opening the hand-over connection: %w", err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, errors.New("opening the hand-over connection: not a unix socket")
	}
	return &handoverConn{c: uc}, nil
}

// send sends v with files attached; files stay open (the caller closes
// its copies).
func (h *handoverConn) send(v any, files []*os.File) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding hand-over message: %w", err)
	}
	if len(b) > maxHandoverMsg || len(files) > maxHandoverFiles {
		return fmt.Errorf("sending hand-over message: %d bytes and %d files, too many", len(b), len(files))
	}
	var oob []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, f := range files {
			fds[i] = int(f.Fd())
		}
		oob = unix.UnixRights(fds...)
	}
	if _, _, err := h.c.WriteMsgUnix(b, oob, nil); err != nil {
		return fmt.Errorf("sending hand-over message: %w", err)
	}
	return nil
}

// recv receives one message into v and returns the files that came with
// it (the caller owns them).
func (h *handoverConn) recv(v any) ([]*os.File, error) {
	buf := make([]byte, maxHandoverMsg)
	oob := make([]byte, unix.CmsgSpace(maxHandoverFiles*4))
	n, oobn, flags, _, err := h.c.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, fmt.Errorf("receiving hand-over message: %w", err)
	}
	var files []*os.File
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return nil, fmt.Errorf("receiving hand-over files: %w", err)
		}
		for _, m := range msgs {
			fds, err := unix.ParseUnixRights(&m)
			if err != nil {
				continue
			}
			for _, fd := range fds {
				unix.CloseOnExec(fd)
				files = append(files, os.NewFile(uintptr(fd), "handed-over"))
			}
		}
	}
	if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
		closeAll(files)
		return nil, errors.New("receiving hand-over message: truncated")
	}
	if n == 0 {
		closeAll(files)
		return nil, errors.New("receiving hand-over message: the other process went away")
	}
	if err := json.Unmarshal(buf[:n], v); err != nil {
		closeAll(files)
		return nil, fmt.Errorf("decoding hand-over message: %w", err)
	}
	return files, nil
}

// Close closes the connection.
func (h *handoverConn) Close() error { return h.c.Close() }

func closeAll(files []*os.File) {
	for _, f := range files {
		if f != nil {
			f.Close()
		}
	}
}

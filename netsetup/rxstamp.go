package netsetup

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The sockets that hear other hosts announce the VIPs ask the kernel for
// the time each message was received (SO_TIMESTAMPNS, the software
// receive timestamp, on CLOCK_REALTIME): a message may wait in the
// socket's queue while the VIPSet sends an announcement of its own, and
// only the time of reception tells which of the two came first on the
// link (see VIPSet.heard). When no socket of the host asked for them
// before, the kernel starts stamping received frames a moment after the
// first one asks (it defers the switch to a work queue); a frame that
// arrives meanwhile is stamped when it is read. The hear sockets open as
// the VIPs are acquired, well before a peer's announcement matters.

// timespecLen is the size of a struct timespec on the 64-bit Linux
// platforms the daemon is built for (two native 64-bit integers).
const timespecLen = 16

// oobStampLen is room for the control messages of one read: a receive
// timestamp and an IPv6 hop limit.
var oobStampLen = unix.CmsgSpace(timespecLen) + unix.CmsgSpace(4)

// enableRxStamps turns SO_TIMESTAMPNS on for the socket of c.
func enableRxStamps(c syscall.RawConn) error {
	var err error
	cerr := c.Control(func(fd uintptr) {
		err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	})
	if cerr != nil {
		return fmt.Errorf("asking for receive timestamps: %w", cerr)
	}
	if err != nil {
		return fmt.Errorf("asking for receive timestamps: %w", err)
	}
	return nil
}

// recvStamped reads one message from the socket of c into b, with its
// control messages into oob, waiting (through the runtime's poller) until
// one is there or the socket is closed.
func recvStamped(c syscall.RawConn, b, oob []byte) (n, oobn int, err error) {
	var rerr error
	err = c.Read(func(fd uintptr) bool {
		for {
			n, oobn, _, _, rerr = unix.Recvmsg(int(fd), b, oob, 0)
			if !errors.Is(rerr, unix.EINTR) {
				return !errors.Is(rerr, unix.EAGAIN)
			}
		}
	})
	if err != nil {
		return 0, 0, err
	}
	return n, oobn, rerr
}

// controlMessages is what parseControl found in the control messages of
// one read: the receive timestamp (zero if none) and the IPv6 hop limit
// (-1 if none).
type controlMessages struct {
	rx       time.Time
	hopLimit int
}

// parseControl reads the receive timestamp and the IPv6 hop limit from
// oob; messages it does not know, and a timestamp of another size than
// timespecLen, are skipped. A malformed buffer gives an error.
func parseControl(oob []byte) (controlMessages, error) {
	cm := controlMessages{hopLimit: -1}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return cm, fmt.Errorf("parsing control messages: %w", err)
	}
	for _, m := range msgs {
		switch {
		case m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS:
			if len(m.Data) != timespecLen {
				// Another platform's layout: no timestamp (the
				// message counts as received when read).
				continue
			}
			sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
			nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
			cm.rx = time.Unix(sec, nsec)
		case m.Header.Level == unix.SOL_IPV6 && m.Header.Type == unix.IPV6_HOPLIMIT:
			if len(m.Data) < 4 {
				return cm, fmt.Errorf("parsing hop limit: %d bytes, want 4", len(m.Data))
			}
			cm.hopLimit = int(int32(binary.NativeEndian.Uint32(m.Data[0:4])))
		}
	}
	return cm, nil
}

package daemon

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// After an upgrade in place the old process finishes the sessions it held
// while the new one answers `rmqlb status`, and only the old one can count
// them. It reports them over a socket pair made for the hand-over: its
// end stays with it, the other is handed over with the listening sockets.
// Every finishingReport it sends one message, the count as 8 bytes little
// endian; it closes its end when its Run returns, and the kernel does when
// it dies, so the new process reads EOF once the old one is done.

// finishingReport is how often the old process reports its sessions.
const finishingReport = time.Second

// finishingPair returns the two ends of a new report channel: this
// process's, as a connection, and the file handed to the new process.
func finishingPair() (net.Conn, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("making the channel of the sessions' report: %w", err)
	}
	mine := os.NewFile(uintptr(fds[0]), "finishing report")
	theirs := os.NewFile(uintptr(fds[1]), "finishing report")
	c, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		theirs.Close()
		return nil, nil, fmt.Errorf("making the channel of the sessions' report: %w", err)
	}
	return c, theirs, nil
}

// finishingSessions counts the sessions this daemon's listeners still
// carry, those of backends a reload removed included.
func (d *Daemon) finishingSessions() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, l := range d.listeners {
		n += sessionsOf(l.l.Snapshot())
	}
	return n
}

// reportFinishing runs from the hand-over of an upgrade until Run
// returns: it sends c the sessions this daemon still finishes, at once and
// every finishingReport, and closes c when it returns. A report the new
// process does not read in time is dropped; one it cannot take at all (it
// closed its end, or exited) ends the reports.
func (d *Daemon) reportFinishing(c net.Conn) {
	defer c.Close()
	t := time.NewTicker(finishingReport)
	defer t.Stop()
	var msg [8]byte
	for {
		binary.LittleEndian.PutUint64(msg[:], uint64(d.finishingSessions()))
		_ = c.SetWriteDeadline(time.Now().Add(finishingReport))
		if _, err := c.Write(msg[:]); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return
		}
		select {
		case <-d.runDone:
			return
		case <-t.C:
		}
	}
}

// followPrevious reads the reports of the process this one took over from
// (pid; reportFinishing) into what `rmqlb status` shows of it, until that
// process closes its end, which means it is done: it is then forgotten. It
// returns then, or once Run has returned. It owns f.
func (d *Daemon) followPrevious(f *os.File, pid int) {
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		d.log.Warn("following the previous process's sessions", zap.Int("pid", pid), zap.Error(err))
		return
	}
	defer c.Close()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-d.runDone:
			c.Close()
		case <-done:
		}
	}()
	var msg [9]byte // one more than a report holds: a longer message is not one
	for {
		n, err := c.Read(msg[:])
		if err != nil {
			if errors.Is(err, io.EOF) {
				d.mu.Lock()
				if p := d.previous; p != nil && p.shown.PID == pid {
					d.previous = nil
				}
				d.mu.Unlock()
			}
			return
		}
		if n != 8 {
			continue
		}
		left := int(min(binary.LittleEndian.Uint64(msg[:8]), math.MaxInt32))
		d.mu.Lock()
		if p := d.previous; p != nil && p.shown.PID == pid {
			p.shown.SessionsLeft = &left
		}
		d.mu.Unlock()
	}
}

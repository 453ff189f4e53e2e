package vrrp

import (
	"fmt"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// openSendSocket opens the socket IPv4Transport sends adverts on, apart
// from the one it receives them on: a raw socket of protocol IPPROTO_RAW,
// which always carries its own IP header and never sees an advert (the
// kernel hands it only packets of IP protocol 255, and a filter that
// drops everything keeps those from queueing on it unread). It is bound
// to ifi, sends multicast out of ifi without looping it back, and has the
// adverts' SO_PRIORITY.
//
// Why apart: every packet sent on a socket frees its buffer when the
// device is done with it, and the socket then reports that it is writable
// to whoever waits on it. The receiving socket is in the Go runtime's
// poller, which waits for that edge too; had the adverts gone out on it,
// each one (also those the advert sender process sends on its copy) would
// wake a thread of the daemon and the runtime's monitor after it, for
// nothing. Nothing waits on this socket: the returned file is not in the
// runtime's poller (it was blocking when wrapped and is non-blocking
// since), so a send that finds the socket's buffer full fails with EAGAIN
// and is counted as failed rather than waited for; only a priority-0
// advert waits, in poll(2) (WriteToWaiting).
func openSendSocket(ifi *net.Interface) (*os.File, syscall.RawConn, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return nil, nil, fmt.Errorf("opening VRRP send socket: %w", err)
	}
	f := os.NewFile(uintptr(fd), "vrrp-send")
	sc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("opening VRRP send socket: %w", err)
	}
	setup := func() error {
		var serr error
		if err := sc.Control(func(fd uintptr) { serr = unix.SetNonblock(int(fd), true) }); err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("making it non-blocking: %w", serr)
		}
		if err := setAdvertPriority(sc); err != nil {
			return err
		}
		if err := noMulticastLoop(sc); err != nil {
			return err
		}
		if err := dropAll(sc); err != nil {
			return err
		}
		return bindSendSocket(sc, ifi)
	}
	if err := setup(); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("opening VRRP send socket on %s: %w", ifi.Name, err)
	}
	return f, sc, nil
}

// bindSendSocket binds the send socket of c to ifi (SO_BINDTODEVICE) and
// makes ifi its multicast interface.
func bindSendSocket(c syscall.RawConn, ifi *net.Interface) error {
	if err := bindToDevice(c, ifi.Name); err != nil {
		return fmt.Errorf("binding to %s: %w", ifi.Name, err)
	}
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptIPMreqn(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(ifi.Index)})
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("setting the multicast interface %s: %w", ifi.Name, serr)
	}
	return nil
}

// noMulticastLoop turns IP_MULTICAST_LOOP off on the socket of c.
func noMulticastLoop(c syscall.RawConn) error {
	if err := setIntOption(c, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 0); err != nil {
		return fmt.Errorf("turning multicast loopback off: %w", err)
	}
	return nil
}

// setIntOption sets the integer socket option level/opt of the socket of
// c to v.
func setIntOption(c syscall.RawConn, level, opt, v int) error {
	var serr error
	if err := c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), level, opt, v) }); err != nil {
		return err
	}
	return serr
}

// dropAll attaches to the socket of c a classic BPF filter that accepts
// nothing, so that no packet ever queues on it.
func dropAll(c syscall.RawConn) error {
	prog := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: 0}}
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_FILTER,
			&unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]})
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("attaching a filter that drops every packet: %w", serr)
	}
	return nil
}

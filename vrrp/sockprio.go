package vrrp

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// advertSocketPriority is the SO_PRIORITY of the socket adverts leave from: 6
// (TC_PRIO_INTERACTIVE), the highest a socket may have without
// CAP_NET_ADMIN, which puts adverts in the first band of the default
// queueing disciplines (pfifo_fast, and the priomap of prio and mqprio
// ones; fq_codel and interfaces without a queue, such as veth, ignore it),
// ahead of the proxied traffic that fills the interface's queue. The
// packets themselves carry DSCP CS6 (tosInternetControl) for the switches
// and routers on the way.
const advertSocketPriority = 6

// setAdvertPriority gives the socket of c advertSocketPriority.
func setAdvertPriority(c syscall.RawConn) error {
	if err := setIntOption(c, unix.SOL_SOCKET, unix.SO_PRIORITY, advertSocketPriority); err != nil {
		return fmt.Errorf("setting SO_PRIORITY of the VRRP socket: %w", err)
	}
	return nil
}

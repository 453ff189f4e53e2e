package healthcheck

import (
	"errors"
	"fmt"
	"syscall"
)

// LocalShortage reports whether err, from creating or connecting a socket,
// is a shortage of this host rather than a failure of the peer: no file
// descriptor (EMFILE, ENFILE: a flood of clients against the proxy) or no
// socket memory (ENOBUFS, ENOMEM). A check that fails so says nothing of
// its backend. EADDRNOTAVAIL is not one: besides no local port (which a
// host's few checks hardly meet) it also means no usable source address
// (an IPv6 address removed or failed), a host that cannot reach the
// broker, which must count as a failure.
func LocalShortage(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM)
}

// Failed returns the result of a check that failed with err: a failure, or,
// when err is a shortage of this host (LocalShortage), an inconclusive
// result whose error says so. Checkers return it for every error, so that
// they all tell the host's shortages from the backend's failures alike.
func Failed(err error) Result {
	if LocalShortage(err) {
		return Result{Err: fmt.Errorf("local shortage: %w", err), Inconclusive: true}
	}
	return Result{Err: err}
}

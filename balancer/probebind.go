package balancer

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// ProbeBind reports the error Run of a listener with cfg's name and bind
// would meet binding its socket now, worded as Run words it (an address
// another socket listens on: a broker's listener on every address at the
// port), or nil when the bind would succeed. It binds a socket made as
// Run makes it and closes it at once, without listen(2): no client can
// connect to it meanwhile. A bind that succeeds now may still fail when
// Run binds later, and the reverse. Safe from any goroutine.
func ProbeBind(cfg Config) error {
	fd, err := bindSocket(cfg.Bind, connOpts{keepAlive: cfg.KeepAlive, userTimeout: cfg.TCPUserTimeout})
	if err != nil {
		return fmt.Errorf("starting listener %q: %w", cfg.Name, err)
	}
	unix.Close(fd)
	return nil
}

package netsetup

import (
	"context"
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// linkUp reports whether a link can carry traffic: administratively up and
// operationally up (IFF_RUNNING, which the kernel sets for oper state UP and
// UNKNOWN, i.e. carrier present and not dormant).
func linkUp(l netlink.Link) bool {
	f := l.Attrs().RawFlags
	return f&unix.IFF_UP != 0 && f&unix.IFF_RUNNING != 0
}

// WatchLink calls fn with the state of interface ifname (true = up and
// running, see linkUp) once at start and then on every change, from a
// netlink link-update subscription in the current network namespace. fn is
// called from WatchLink's goroutine, never concurrently, and only when the
// state differs from the previous call. A missing interface counts as down
// (and is reported up when it appears).
//
// WatchLink returns nil when ctx is done, or an error if the subscription
// cannot be set up or breaks.
func WatchLink(ctx context.Context, ifname string, fn func(up bool)) error {
	ch := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	defer func() {
		// Closing done closes the netlink socket; netlink's receive
		// goroutine then closes ch. Drain ch so that goroutine is never
		// stuck sending to it.
		close(done)
		go func() {
			for range ch {
			}
		}()
	}()
	errc := make(chan error, 1)
	opts := netlink.LinkSubscribeOptions{
		ErrorCallback: func(err error) {
			select {
			case errc <- err:
			default:
			}
		},
	}
	// Subscribe first, then read the current state: a change in between is
	// seen twice rather than missed.
	if err := netlink.LinkSubscribeWithOptions(ch, done, opts); err != nil {
		return fmt.Errorf("subscribing to link updates for %s: %w", ifname, err)
	}
	cur := false
	if l, err := netlink.LinkByName(ifname); err == nil {
		cur = linkUp(l)
	} else if !errors.As(err, new(netlink.LinkNotFoundError)) {
		return fmt.Errorf("reading link %s: %w", ifname, err)
	}
	fn(cur)
	for {
		select {
		case <-ctx.Done():
			return nil
		case u, ok := <-ch:
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				select {
				case err := <-errc:
					return fmt.Errorf("watching link %s: %w", ifname, err)
				default:
					return fmt.Errorf("watching link %s: subscription closed", ifname)
				}
			}
			if u.Link == nil || u.Link.Attrs().Name != ifname {
				continue
			}
			up := linkUp(u.Link)
			if u.Header.Type == unix.RTM_DELLINK {
				up = false
			}
			if up != cur {
				cur = up
				fn(cur)
			}
		}
	}
}

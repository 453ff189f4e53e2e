package vrrp

import (
	"context"
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// WatchLink calls set with the state of interface ifname's link (up means
// administratively up and running, i.e. with carrier) once when it is
// known and then on every change, until ctx is done. A deleted interface
// is down. It returns nil when ctx is done and an error if the netlink
// subscription fails. set is called from WatchLink's goroutine.
//
// The subscription is made in the network namespace of the calling
// thread. Instance.Run calls it itself when it opens the real transport.
func WatchLink(ctx context.Context, ifname string, set func(up bool)) error {
	w, err := subscribeLink(nil, ifname)
	if err != nil {
		return err
	}
	return w.run(ctx, set)
}

// linkWatch is a netlink link subscription, made by subscribeLink and
// consumed by run.
type linkWatch struct {
	ifname string
	ch     chan netlink.LinkUpdate
	done   chan struct{}
	errc   chan error
}

// subscribeLink subscribes to link updates in namespace ns (nil = the
// calling thread's).
func subscribeLink(ns *netns.NsHandle, ifname string) (*linkWatch, error) {
	w := &linkWatch{ifname: ifname, ch: make(chan netlink.LinkUpdate, 16),
		done: make(chan struct{}), errc: make(chan error, 1)}
	err := netlink.LinkSubscribeWithOptions(w.ch, w.done, netlink.LinkSubscribeOptions{
		Namespace:    ns,
		ListExisting: true,
		ErrorCallback: func(err error) {
			select {
			case w.errc <- err:
			default:
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("watching link of %s: %w", ifname, err)
	}
	return w, nil
}

// run reports link states to set until ctx is done, then ends the
// subscription.
func (w *linkWatch) run(ctx context.Context, set func(up bool)) error {
	// The subscription's goroutine closes ch once done is closed; drain ch
	// so that it never blocks on a send.
	defer func() {
		close(w.done)
		for range w.ch {
		}
	}()
	known, last := false, false
	for {
		select {
		case <-ctx.Done():
			return nil
		case u, ok := <-w.ch:
			if !ok {
				select {
				case err := <-w.errc:
					return fmt.Errorf("watching link of %s: %w", w.ifname, err)
				default:
					return fmt.Errorf("watching link of %s: %w", w.ifname, errors.New("netlink subscription closed"))
				}
			}
			a := u.Attrs()
			if a == nil || a.Name != w.ifname {
				continue
			}
			up := u.Header.Type != unix.RTM_DELLINK &&
				a.RawFlags&unix.IFF_UP != 0 && a.RawFlags&unix.IFF_RUNNING != 0
			if !known || up != last {
				known, last = true, up
				set(up)
			}
		}
	}
}

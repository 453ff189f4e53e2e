package netsetup

import (
	"context"
	"fmt"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/rmqlb/rmqlb/internal/clock"
)

// linkUp reports whether a link can carry traffic: administratively up and
// operationally up (IFF_RUNNING, which the kernel sets for oper state UP and
// UNKNOWN, i.e. carrier present and not dormant).
func linkUp(l netlink.Link) bool {
	f := l.Attrs().RawFlags
	return f&unix.IFF_UP != 0 && f&unix.IFF_RUNNING != 0
}

// LinkState is the state of an interface as a LinkWatch reports it.
type LinkState struct {
	// Index is the interface index, 0 while no interface has the name. A
	// new index under the same name means the interface was deleted and
	// created again (a re-created bond, VLAN or veth): sockets bound to
	// the old one no longer send or receive.
	Index int
	// Up is true when the interface is administratively up and running
	// (carrier present); false when it does not exist.
	Up bool
}

// WatchOptions are the optional collaborators of a LinkWatch.
type WatchOptions struct {
	// Clock times the retries after a failed subscription or read. Nil
	// means the real clock.
	Clock clock.Clock
	// OnError is called, from the watch's goroutine, with every error of
	// the watch: of subscribing to netlink, of receiving its events (e.g.
	// ENOBUFS when a burst of link events overflowed its buffer) and of
	// reading the link. After an error of receiving, the watch subscribes
	// again and reads the state afresh, so no change is lost; a failed
	// subscription or read is tried again DefaultWatchRetry later.
	// Nil means errors are not reported.
	OnError func(error)
}

// LinkWatch reports the state of one interface from netlink link events
// in the network namespace it was created in, whatever the namespace of
// the goroutine running it. It survives errors of its subscription (see
// WatchOptions.OnError) and follows the interface when it is deleted and
// created again.
type LinkWatch struct {
	ifname string
	opt    WatchOptions
	ns     netns.NsHandle
	h      *netlink.Handle
	// subscribe opens the subscription; tests wrap it to make it fail.
	subscribe func() (nlSub, error)
}

// NewLinkWatch prepares a watch of interface ifname in the network
// namespace of the calling thread (for a normal process, the process's
// namespace). Run it with Run; it holds a namespace handle and a netlink
// socket until Run returns.
//
// A daemon with CAP_NET_ADMIN but not CAP_SYS_ADMIN cannot enter a
// namespace (setns), not even its own: the watch enters its namespace
// only when the thread that subscribes is in another one.
func NewLinkWatch(ifname string, opt WatchOptions) (*LinkWatch, error) {
	if opt.Clock == nil {
		opt.Clock = clock.Real{}
	}
	// The handle and the namespace are those of one thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ns, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("watching link %s: getting the network namespace: %w", ifname, err)
	}
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("watching link %s: opening netlink: %w", ifname, err)
	}
	w := &LinkWatch{ifname: ifname, opt: opt, ns: ns, h: h}
	w.subscribe = func() (nlSub, error) { return subscribeIn(w.ns, unix.RTNLGRP_LINK) }
	return w, nil
}

// subscribeIn subscribes to the rtnetlink groups in namespace ns, entering
// it (setns: CAP_SYS_ADMIN) only when the calling thread is in another.
func subscribeIn(ns netns.NsHandle, groups ...uint) (nlSub, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cur, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("getting the network namespace: %w", err)
	}
	same := cur.Equal(ns)
	cur.Close()
	if same {
		return nl.Subscribe(unix.NETLINK_ROUTE, groups...)
	}
	return nl.SubscribeAt(ns, netns.None(), unix.NETLINK_ROUTE, groups...)
}

// Run calls fn with the state of the interface once it is read and then
// on every change (of index or of Up), never concurrently, until ctx is
// done; it then releases the watch and returns nil.
func (w *LinkWatch) Run(ctx context.Context, fn func(LinkState)) error {
	defer w.ns.Close()
	defer w.h.Close()
	known, last := false, LinkState{}
	rw := &rtWatch{
		clock:     w.opt.Clock,
		subscribe: w.subscribe,
		retry:     DefaultWatchRetry,
		onError:   w.opt.OnError,
		sync: func() error {
			cur, err := w.read()
			if err != nil {
				return err
			}
			if !known || cur != last {
				known, last = true, cur
				fn(cur)
			}
			return nil
		},
	}
	return rw.run(ctx)
}

// read returns the current state of the interface.
func (w *LinkWatch) read() (LinkState, error) {
	l, err := w.h.LinkByName(w.ifname)
	if err != nil {
		if isLinkGone(err) {
			return LinkState{}, nil
		}
		return LinkState{}, fmt.Errorf("reading link %s: %w", w.ifname, err)
	}
	return LinkState{Index: l.Attrs().Index, Up: linkUp(l)}, nil
}

// WatchLink watches interface ifname in the namespace of the calling
// thread (see NewLinkWatch and LinkWatch.Run) and calls fn with its
// state, once at start and on every change, until ctx is done. A missing
// interface is down (index 0) and reported up when it appears. It returns
// nil when ctx is done, or an error if the watch cannot be set up.
func WatchLink(ctx context.Context, ifname string, opt WatchOptions, fn func(LinkState)) error {
	w, err := NewLinkWatch(ifname, opt)
	if err != nil {
		return err
	}
	return w.Run(ctx, fn)
}

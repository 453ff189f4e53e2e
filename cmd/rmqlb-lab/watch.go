package main

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/rmqlb/rmqlb/integration/netlab"
)

// vipWatch polls every broker host's eth0 for the VIP (netlink, no forks)
// and prints each change of the set of hosts holding it. It also serves
// the current holders to the scenario. Run owns its netlink handles.
type vipWatch struct {
	tl    *timeline
	vip   netip.Addr
	hosts []*netlab.Host

	mu      sync.Mutex
	holders []string
	changed chan struct{} // closed and replaced on every change
	history []vipChange
}

// vipChange is a change of the set of hosts holding the VIP.
type vipChange struct {
	At      time.Time
	Holders []string
}

func newVIPWatch(tl *timeline, vip netip.Addr, hosts []*netlab.Host) *vipWatch {
	return &vipWatch{tl: tl, vip: vip, hosts: hosts, changed: make(chan struct{})}
}

// run polls every 10 ms until ctx ends.
func (w *vipWatch) run(ctx context.Context) error {
	type nh struct {
		name string
		h    *netlink.Handle
		ns   netns.NsHandle
	}
	var hs []nh
	defer func() {
		for _, x := range hs {
			x.h.Close()
			x.ns.Close()
		}
	}()
	for _, h := range w.hosts {
		ns, err := netns.GetFromName(h.NS)
		if err != nil {
			return fmt.Errorf("opening netns of %s: %w", h.Name, err)
		}
		nl, err := netlink.NewHandleAt(ns)
		if err != nil {
			ns.Close()
			return fmt.Errorf("opening netlink in %s: %w", h.Name, err)
		}
		hs = append(hs, nh{h.Name, nl, ns})
	}
	first := true
	for {
		var holders []string
		for _, x := range hs {
			link, err := x.h.LinkByName(netlab.Iface)
			if err != nil {
				continue
			}
			addrs, err := x.h.AddrList(link, netlink.FAMILY_V4)
			if err != nil {
				continue
			}
			for _, a := range addrs {
				if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == w.vip {
					holders = append(holders, x.name)
				}
			}
		}
		w.mu.Lock()
		if first || strings.Join(holders, ",") != strings.Join(w.holders, ",") {
			prev := w.holders
			w.holders = holders
			w.history = append(w.history, vipChange{At: time.Now(), Holders: holders})
			close(w.changed)
			w.changed = make(chan struct{})
			w.mu.Unlock()
			w.tl.Logf("VIP %s: %s", w.vip, describeHolders(prev, holders, first))
		} else {
			w.mu.Unlock()
		}
		first = false
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func describeHolders(prev, now []string, first bool) string {
	switch {
	case len(now) == 0:
		return "on no host"
	case len(now) > 1:
		return "on " + strings.Join(now, " AND ")
	case first || len(prev) == 0:
		return "on " + now[0]
	default:
		return fmt.Sprintf("moved %s -> %s", strings.Join(prev, "+"), now[0])
	}
}

// current returns the hosts holding the VIP now and a channel closed at the
// next change.
func (w *vipWatch) current() ([]string, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.holders...), w.changed
}

// changes returns the changes of the VIP's holders so far, the first
// being the state when the watch started.
func (w *vipWatch) changes() []vipChange {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]vipChange(nil), w.history...)
}

// waitSole waits until exactly host holds the VIP, and returns when that
// became true.
func (w *vipWatch) waitSole(ctx context.Context, host string, timeout time.Duration) (time.Time, error) {
	deadline := time.After(timeout)
	for {
		hs, ch := w.current()
		if len(hs) == 1 && hs[0] == host {
			return time.Now(), nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-deadline:
			return time.Time{}, fmt.Errorf("VIP not on %s alone after %v (on %v)", host, timeout, hs)
		case <-ch:
		}
	}
}

// waitHeldBy waits until host holds the VIP, alone or not.
func (w *vipWatch) waitHeldBy(ctx context.Context, host string, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		hs, ch := w.current()
		for _, h := range hs {
			if h == host {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return fmt.Errorf("VIP not on %s after %v (on %v)", host, timeout, hs)
		case <-ch:
		}
	}
}

// stateWatch polls every daemon's status every 100 ms and prints changes:
// VRRP state and effective priority, and each check's state. Run owns no
// resources beyond its goroutine.
type stateWatch struct {
	tl      *timeline
	daemons []*daemon
	names   []string // backend names

	mu      sync.Mutex
	last    map[string]string // "host/what" -> value
	history []checkChange
}

// checkChange is a change of the state of a backend's check as one
// daemon sees it ("" when its daemon stopped).
type checkChange struct {
	At            time.Time
	Host, Backend string
	State         string
}

func newStateWatch(tl *timeline, daemons []*daemon, backends []string) *stateWatch {
	return &stateWatch{tl: tl, daemons: daemons, names: backends, last: map[string]string{}}
}

func (w *stateWatch) run(ctx context.Context) {
	for {
		for _, d := range w.daemons {
			w.poll(d)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (w *stateWatch) poll(d *daemon) {
	h := d.host.Name
	if !d.running() {
		if _, changed, seen := w.set(h+"/vrrp", "not running"); changed && seen {
			w.tl.Logf("%s: rmqlb process exited", h)
			for _, b := range w.names {
				w.record(h, b, "")
				w.set(h+"/check/"+b, "")
			}
		}
		return
	}
	s, err := d.status()
	if err != nil {
		return // starting or stopping; the process state says more
	}
	state, prio, reason := s.vrrpState()
	if c, changed, _ := w.set(h+"/vrrp", state); changed {
		w.tl.Logf("%s: VRRP %s (%s)", h, c, reason)
	}
	if c, changed, seen := w.set(h+"/prio", fmt.Sprint(prio)); changed && seen {
		w.tl.Logf("%s: effective priority %s", h, c)
	}
	for _, b := range w.names {
		st, why, ok := s.check(b)
		if !ok {
			continue
		}
		c, changed, seen := w.set(h+"/check/"+b, st.String())
		if changed {
			w.record(h, b, st.String())
		}
		if changed && seen {
			w.tl.Logf("%s: check of %s %s (%s)", h, b, c, why)
		}
	}
}

// record appends a change of a check's state to the history.
func (w *stateWatch) record(host, backend, state string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.history = append(w.history, checkChange{At: time.Now(), Host: host, Backend: backend, State: state})
}

// changes returns the check state changes seen so far.
func (w *stateWatch) changes() []checkChange {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]checkChange(nil), w.history...)
}

// set records value under key. It returns "old -> new" (or "new" when the
// key is new), whether the value changed, and whether the key was known.
func (w *stateWatch) set(key, value string) (change string, changed, seen bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	old, seen := w.last[key]
	w.last[key] = value
	if seen && old == value {
		return value, false, true
	}
	if seen {
		return old + " -> " + value, true, true
	}
	return value, true, false
}

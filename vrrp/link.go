package vrrp

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/netsetup"
)

// startLinkWatch starts watching the link of the interface if enabled
// (Run opened the real transport) and returns a channel closed when the
// watch has exited (after ctx is done). The watch is created in the
// calling goroutine's thread, so it watches the namespace the transport
// was opened in; it reports to setLinkState.
func (i *Instance) startLinkWatch(ctx context.Context, enabled bool) <-chan struct{} {
	done := make(chan struct{})
	if !enabled {
		close(done)
		return done
	}
	lw, err := netsetup.NewLinkWatch(i.cfg.Interface, netsetup.WatchOptions{Clock: i.clock, OnError: i.linkWatchError})
	if err != nil {
		i.log.Warn("link state of the interface is not tracked", zap.Error(err))
		close(done)
		return done
	}
	go func() {
		defer close(done)
		lw.Run(ctx, i.setLinkState)
	}()
	return done
}

// setLinkState records the state of the interface as the link watch
// reports it; Run acts on it.
func (i *Instance) setLinkState(s netsetup.LinkState) {
	i.mu.Lock()
	i.linkUp, i.linkIndex = s.Up, s.Index
	i.mu.Unlock()
	i.kick()
}

// linkWatchError counts and logs an error of the link watch (see
// netsetup.WatchOptions.OnError: after a receive error it subscribes again
// and reads the link afresh; a failed subscription or read is tried again
// later).
func (i *Instance) linkWatchError(err error) {
	i.mu.Lock()
	i.counters.LinkWatchErrors++
	i.mu.Unlock()
	i.metrics.inc(func(m *metrics) prometheus.Counter { return m.linkWatchErrors })
	i.log.Warn("watching the interface's link failed; trying again", zap.Error(err))
}

// follow makes the real transport follow the interface to index (the link
// watch's report) if it is bound to another one: the interface was deleted
// and created again. It reports whether the transport is bound to index
// now. Called by Run's goroutine, which is in the transport's namespace.
func (i *Instance) follow(own *IPv4Transport, index int) bool {
	if own == nil || index == 0 || own.Index() == index {
		return true
	}
	changed, err := own.Rebind()
	i.mu.Lock()
	first := !i.rebindFailing
	i.rebindFailing = err != nil
	if changed {
		i.counters.Rebinds++
		i.src = own.Source().Unmap()
		i.m.primary = i.src
	}
	i.mu.Unlock()
	switch {
	case err != nil && first:
		i.log.Warn("interface was re-created; cannot bind the VRRP socket to it yet, retrying", zap.Int("ifindex", index), zap.Error(err))
	case err != nil:
		i.log.Debug("binding the VRRP socket to the re-created interface failed", zap.Error(err))
	case changed:
		i.metrics.inc(func(m *metrics) prometheus.Counter { return m.rebinds })
		i.log.Info("interface was re-created; VRRP socket bound to it", zap.Int("ifindex", own.Index()), zap.Stringer("source", own.Source()))
	}
	return own.Index() == index
}

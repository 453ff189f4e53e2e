package vrrp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"go.uber.org/zap"
)

// notReadyRetry is how often Run tries again to open its sockets on an
// interface that was not ready (ErrInterfaceNotReady).
const notReadyRetry = time.Second

// openTransport opens the real transport on the instance's interface, with
// its current settings. Called by Run's goroutine.
func (i *Instance) openTransport() (*IPv4Transport, error) {
	return NewIPv4Transport(TransportConfig{
		Interface: i.cfg.Interface,
		Source:    i.cfg.UnicastSrc,
		Peers:     i.cfg.UnicastPeers,
		Exclude:   i.cfg.vipAddrs(),
	})
}

// useTransport makes tr the transport the instance sends from: its source
// is the machine's primary address from now on.
func (i *Instance) useTransport(tr Transport) {
	i.mu.Lock()
	i.src, i.dests = tr.Source().Unmap(), tr.Destinations()
	i.m.primary = i.src
	i.notReady = ""
	i.mu.Unlock()
}

// waitingFor records err, an error of openTransport, as why the instance
// waits, and logs it when the reason is new. A not-ready error gives its
// few words; another one (a later attempt out of file descriptors, say)
// is given whole, and the instance waits on in FAULT all the same: it
// has no sockets to leave FAULT with.
func (i *Instance) waitingFor(err error) {
	reason := notReadyReason(err)
	if reason == "" {
		reason = fmt.Sprintf("cannot open the VRRP sockets on interface %s: %v", i.cfg.Interface, err)
	}
	i.mu.Lock()
	was := i.notReady
	i.notReady = reason
	i.mu.Unlock()
	if reason != was {
		i.log.Warn("VRRP instance waits in FAULT for its interface", zap.String("interface", i.cfg.Interface),
			zap.String("reason", reason), zap.Error(err))
	}
}

// awaitInterface runs the machine, in FAULT for the interface that is not
// ready, without a transport: it applies the desired state (priority,
// releases, settings) and the machine's timers as the other loops do, and
// tries to open the sockets every notReadyRetry. It returns the transport
// once they are open (the caller runs the usual loop with it, which takes
// the machine out of FAULT), or nil when ctx is done first.
func (i *Instance) awaitInterface(ctx context.Context, ow *ownerWorker) *IPv4Transport {
	var tr noTransport
	retry := i.clock.NewTimer(notReadyRetry)
	defer retry.Stop()
	timer := i.clock.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		i.armWake(timer)
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C():
			i.step(tr, ow, Tick{})
		case <-i.notify:
			i.applyDesired(tr, ow, nil)
		case <-retry.C():
			t, err := i.openTransport()
			if err == nil {
				i.useTransport(t)
				i.log.Info("interface ready: VRRP sockets opened", zap.String("interface", i.cfg.Interface),
					zap.Stringer("source", t.Source()))
				return t
			}
			i.waitingFor(err)
			i.applyDesired(tr, ow, nil)
			retry.Reset(notReadyRetry)
		}
	}
}

// noTransport is the transport of an instance whose interface is not
// ready: the machine, in FAULT, sends nothing, and nothing is received. It
// takes every change of unicast settings (Reconfigurer): the sockets,
// once they open, are opened with the instance's settings of then.
type noTransport struct{}

var errNoTransport = errors.New("sending VRRP advert: the interface is not ready")

func (noTransport) Source() netip.Addr                     { return netip.Addr{} }
func (noTransport) Destinations() []netip.Addr             { return nil }
func (noTransport) WriteTo([]byte, netip.Addr) error       { return errNoTransport }
func (noTransport) ReadFrom([]byte) (int, RecvInfo, error) { return 0, RecvInfo{}, net.ErrClosed }
func (noTransport) Close() error                           { return nil }
func (noTransport) Reconfigure(TransportConfig) error      { return nil }

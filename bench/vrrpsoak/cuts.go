package vrrpsoak

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/rmqlb/rmqlb/bench/benchstat"
	"github.com/rmqlb/rmqlb/integration/netlab"
)

// cuts cuts the master's (h1's) link n times and returns the client's
// outage each time: a probe on the client connects to the VIP every 10 ms
// (netlab.Probe, reading which host answered), the link of h1 goes down,
// and the outage runs from the first failed connect to the first connect
// a backup answered (h2, or h3 when it took over first: at 10 ms adverts
// their master down intervals are 2 ms apart). After each cut the link
// comes back and h1 preempts; the next cut waits for the client's
// neighbour table to take an owner's gratuitous ARP again (Linux ignores
// a new address for a neighbour within a second of the last: locktime).
func (lb *lab) cuts(ctx context.Context, n int) ([]time.Duration, error) {
	l := lb.l
	h1, h2, client := l.Host("h1"), l.Host("h2"), l.Host("client")
	target := netip.AddrPortFrom(vip, bannerPort)
	var outs []time.Duration
	for i := range n {
		if err := waitSoleHolder(ctx, l, h1, 20*time.Second); err != nil {
			return outs, fmt.Errorf("before cut %d: %w", i+1, err)
		}
		// Let the backups hear a few adverts of the master again, and
		// the client's neighbour locktime pass since h1's announcement.
		if err := benchstat.Sleep(ctx, cutSettle+10*lb.cfg.Interval); err != nil {
			return outs, err
		}
		probe, err := client.StartProbe(target, netlab.ProbeConfig{ReadBanner: true})
		if err != nil {
			return outs, err
		}
		if err := benchstat.Sleep(ctx, 300*time.Millisecond); err != nil {
			probe.Stop()
			return outs, err
		}
		cut := time.Now()
		if err := l.CutLink(h1); err != nil {
			probe.Stop()
			return outs, err
		}
		err = waitHolder(ctx, h2, 10*time.Second)
		if err == nil {
			err = benchstat.Sleep(ctx, 300*time.Millisecond)
		}
		r := probe.Stop()
		if rerr := l.RestoreLink(h1); err == nil {
			err = rerr
		}
		if err != nil {
			return outs, fmt.Errorf("cut %d: %w", i+1, err)
		}
		o, ok := firstBackupAnswer(r, cut, h2.Name, "h3")
		if !ok {
			return outs, fmt.Errorf("cut %d: the client never reached a backup: %s", i+1, r)
		}
		outs = append(outs, o.Duration())
		lb.cfg.Logf("%s: cut %d: outage %v (%s)", lb.impl, i+1, o.Duration(), r)
	}
	if err := waitSoleHolder(ctx, l, h1, 20*time.Second); err != nil {
		return outs, fmt.Errorf("after the last cut: %w", err)
	}
	return outs, nil
}

// cutSettle is the wait before a cut once h1 holds the VIP again: more
// than the client's neighbour locktime (1 s) after h1's announcement.
const cutSettle = 1500 * time.Millisecond

// firstBackupAnswer returns the outage of r after t0 that ended with the
// first answer of any of hosts (netlab.ProbeResult.FailoverOutage), false
// when none answered.
func firstBackupAnswer(r netlab.ProbeResult, t0 time.Time, hosts ...string) (netlab.Outage, bool) {
	var best netlab.Outage
	found := false
	for _, h := range hosts {
		if o, ok := r.FailoverOutage(t0, h); ok && (!found || o.To.Before(best.To)) {
			best, found = o, true
		}
	}
	return best, found
}

// waitHolder waits until h has the VIP.
func waitHolder(ctx context.Context, h *netlab.Host, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := h.HasAddr(vip)
		if err == nil && ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s does not hold the VIP after %v (%v)", h.Name, timeout, err)
		}
		if err := benchstat.Sleep(ctx, 5*time.Millisecond); err != nil {
			return err
		}
	}
}

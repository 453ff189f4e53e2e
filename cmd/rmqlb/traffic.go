package main

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/amqpcheck"
	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/proxyproto"
)

// traffic is the data side of the daemon: the listeners, the health-check
// scheduler that feeds them, and the trackers that turn check results into
// VRRP priority adjustments.
type traffic struct {
	log       *zap.Logger
	listeners []*balancer.Listener
	byName    map[string]*balancer.Listener
	sched     *healthcheck.Scheduler
	checked   int // number of backends with a check

}

// checkKey names a backend in the scheduler.
func checkKey(listener, name string) backend.ID { return backend.ID{Listener: listener, Name: name} }

func newTraffic(cfg *config.Config, log *zap.Logger, reg prometheus.Registerer) (*traffic, error) {
	met, err := healthcheck.NewMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("registering health-check metrics: %w", err)
	}
	t := &traffic{
		log:    log,
		byName: map[string]*balancer.Listener{},
		sched:  healthcheck.NewScheduler(healthcheck.Options{Logger: log, Metrics: met}),
	}
	vips := map[netip.Addr]bool{}
	for _, in := range cfg.VRRPInstances {
		for _, p := range in.VIPs {
			vips[p.Addr()] = true
		}
	}
	for _, lc := range cfg.Listeners {
		bc := balancerConfig(lc)
		if vips[lc.BindAddr.Addr()] {
			// On stop this daemon's VRRP instance hands the VIP over at
			// once: the clients' packets, their FINs and RSTs included,
			// then reach the new master, so these sessions can never
			// finish. Close them at once instead of holding the broker
			// connections for graceful_timeout.
			bc.GracefulTimeout = -1
		}
		l, err := balancer.NewListener(bc, log, reg)
		if err != nil {
			return nil, fmt.Errorf("setting up listener %q: %w", lc.Name, err)
		}
		t.listeners = append(t.listeners, l)
		t.byName[lc.Name] = l
		for _, b := range lc.Backends {
			c, err := newChecker(b.CheckV, lc.ProxyProtocol, b.ProxyProtocol)
			if err != nil {
				return nil, fmt.Errorf("setting up the check of %s: %w", checkKey(lc.Name, b.Name), err)
			}
			if c == nil {
				continue
			}
			if err := t.sched.Add(checkKey(lc.Name, b.Name), checkConfig(b.CheckV), c); err != nil {
				return nil, fmt.Errorf("setting up the check of %s: %w", checkKey(lc.Name, b.Name), err)
			}
			t.checked++
		}
	}
	t.sched.Subscribe(t.forward)
	return t, nil
}

func balancerConfig(lc config.Listener) balancer.Config {
	bc := balancer.Config{
		Name:                   lc.Name,
		Bind:                   lc.BindAddr,
		Policy:                 balancer.Policy(lc.Policy),
		PersistenceTimeout:     lc.PersistenceTimeout,
		PersistenceNetmask:     lc.PersistenceNetmask,
		MaxConn:                lc.MaxConn,
		ConnectTimeout:         lc.ConnectTimeout,
		Retries:                lc.RetriesV,
		ShutdownSessionsOnDown: lc.OnMarkedDown == "shutdown-sessions",
		IdleTimeout:            lc.IdleTimeout,
		KeepAlive:              lc.KeepAlive,
		GracefulTimeout:        lc.GracefulTimeout,
	}
	for _, b := range lc.Backends {
		pp := lc.ProxyProtocol
		if b.ProxyProtocol != "" {
			pp = b.ProxyProtocol
		}
		v, _ := proxyproto.ParseVersion(pp)
		bc.Backends = append(bc.Backends, balancer.BackendConfig{
			Name: b.Name, Address: b.Addr, Weight: b.WeightV, MaxConn: b.MaxConn, ProxyProtocol: v,
			Checked: b.CheckV.Type != "none",
		})
	}
	return bc
}

func checkConfig(c config.Check) healthcheck.CheckConfig {
	onAlarm, _ := healthcheck.ParseAlarmAction(c.OnAlarm)
	return healthcheck.CheckConfig{
		OnAlarm:      onAlarm,
		Interval:     c.Interval,
		FastInterval: c.FastInterval,
		DownInterval: c.DownInterval,
		Timeout:      c.Timeout,
		Rise:         c.Rise,
		Fall:         c.Fall,
		SlowStart:    c.SlowStart,
	}
}

// newChecker builds the checker of one backend; nil for type none.
func newChecker(c config.Check, listenerPP, backendPP string) (healthcheck.Checker, error) {
	switch c.Type {
	case "none":
		return nil, nil
	case "tcp":
		return &healthcheck.TCPCheck{Addr: c.AddrV}, nil
	}
	pp := listenerPP
	if backendPP != "" {
		pp = backendPP
	}
	ac, err := amqpcheck.New(amqpcheck.Config{
		Addr:          c.AddrV,
		Mode:          amqpcheck.Mode(c.Mode),
		VHost:         c.VHost,
		User:          c.User,
		Password:      c.Password,
		ProxyProtocol: pp == "v1" || pp == "v2",
	})
	if err != nil {
		return nil, err
	}
	return ac, nil
}

// forward applies a health event to the listener of the backend. It runs
// on the scheduler's goroutine, one event at a time.
func (t *traffic) forward(e healthcheck.Event) {
	l := t.byName[e.Backend.Listener]
	if l == nil {
		return
	}
	if !e.WeightOnly {
		if err := l.SetBackendState(e.Backend.Name, e.State, e.Reason); err != nil {
			t.log.Warn("setting backend state", zap.Stringer("backend", e.Backend), zap.Error(err))
		}
	}
	if err := l.SetBackendWeightPercent(e.Backend.Name, e.WeightPercent); err != nil {
		t.log.Warn("setting backend weight", zap.Stringer("backend", e.Backend), zap.Error(err))
	}
}

// start binds every listener and runs the listeners and the scheduler
// under goRun. It returns once every listener is bound, or the first
// binding error.
func (t *traffic) start(ctx context.Context, goRun func(string, func(context.Context) error)) error {
	for _, l := range t.listeners {
		goRun("listener "+l.Snapshot().Name, l.Run)
	}
	for _, l := range t.listeners {
		select {
		case <-l.Ready():
		case <-ctx.Done():
			return fmt.Errorf("starting listeners: %w", ctx.Err())
		}
	}
	if t.checked > 0 {
		goRun("health checks", t.sched.Run)
	}
	return nil
}

// waitFirstChecks returns once every checked backend has had its first
// check result, or after limit, or when ctx is done. The daemon starts its
// VRRP instances only then: a host that (re)starts would otherwise preempt
// the VIP back within a few advert intervals while every backend is still
// DOWN for want of a check, and refuse clients until the checks catch up.
func (t *traffic) waitFirstChecks(ctx context.Context, limit time.Duration) {
	if t.checked == 0 {
		return
	}
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		done := 0
		for _, b := range t.sched.Snapshot().Backends {
			if !b.LastCheck.IsZero() {
				done++
			}
		}
		if done >= t.checked {
			return
		}
		if time.Now().After(deadline) {
			t.log.Warn("starting VRRP before every backend was checked", zap.Int("checked", done), zap.Int("backends", t.checked))
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// firstCheckLimit bounds waitFirstChecks: the longest start-up jitter (an
// interval) plus timeout of any check, and a margin.
func firstCheckLimit(cfg *config.Config) time.Duration {
	var limit time.Duration
	for _, l := range cfg.Listeners {
		for _, b := range l.Backends {
			if b.CheckV.Type != "none" {
				limit = max(limit, b.CheckV.Interval+b.CheckV.Timeout)
			}
		}
	}
	return min(limit+250*time.Millisecond, 15*time.Second)
}

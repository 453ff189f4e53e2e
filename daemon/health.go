package daemon

import (
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/amqpcheck"
	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/httpcheck"
	"github.com/rmqlb/rmqlb/mqttcheck"
	"github.com/rmqlb/rmqlb/stompcheck"
	"github.com/rmqlb/rmqlb/streamcheck"
)

// NewChecker builds the checker of b: an AMQP handshake or login
// (amqpcheck), an HTTP request (httpcheck), an MQTT CONNECT (mqttcheck),
// a STOMP CONNECT (stompcheck) or a stream client's opening
// (streamcheck), each with a PROXY protocol LOCAL header when the backend
// is sent PROXY headers, or a TCP connect. It fails for a backend without
// a check.
func NewChecker(b *config.Backend) (healthcheck.Checker, error) {
	var (
		c   healthcheck.Checker
		err error
	)
	switch b.Check.Type {
	case config.CheckTCP:
		return &healthcheck.TCPCheck{Addr: b.Check.Address}, nil
	case config.CheckAMQP:
		c, err = amqpcheck.New(b.Check.AMQPConfig())
	case config.CheckHTTP:
		c, err = httpcheck.New(b.Check.HTTPConfig())
	case config.CheckMQTT:
		c, err = mqttcheck.New(b.Check.MQTTConfig())
	case config.CheckSTOMP:
		c, err = stompcheck.New(b.Check.STOMPConfig())
	case config.CheckStream:
		c, err = streamcheck.New(b.Check.StreamConfig())
	default:
		err = fmt.Errorf("check type %v has no checker", b.Check.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("setting up the check of %s: %w", b.ID, err)
	}
	return c, nil
}

// addCheck schedules the check of b, if it has one. serving adds it UP
// (a backend in service whose check type was none until a reload), else
// it starts DOWN until its first result.
func (d *Daemon) addCheck(b *config.Backend, serving bool) error {
	if b.Check.Type == config.CheckNone {
		return nil
	}
	c, err := d.opt.NewChecker(b)
	if err != nil {
		return err
	}
	add := d.sched.Add
	if serving {
		add = d.sched.AddServing
	}
	if err := add(b.ID, b.Check.Schedule, c); err != nil {
		return fmt.Errorf("setting up the check of %s: %w", b.ID, err)
	}
	return nil
}

// updateCheck replaces the check of b, keeping its state.
func (d *Daemon) updateCheck(b *config.Backend) error {
	c, err := d.opt.NewChecker(b)
	if err != nil {
		return err
	}
	if err := d.sched.Update(b.ID, b.Check.Schedule, c); err != nil {
		return fmt.Errorf("updating the check of %s: %w", b.ID, err)
	}
	return nil
}

// router hands health events to the listener of their backend: the
// healthcheck.Sink of the daemon. Its table follows the listeners a reload
// adds and removes; events of a backend whose listener is gone are
// dropped. It is safe for concurrent use.
type router struct {
	log     *zap.Logger
	forward func(healthcheck.Event)

	mu        sync.Mutex
	listeners map[string]*balancer.Listener
}

func newRouter(log *zap.Logger) *router {
	r := &router{log: log, listeners: map[string]*balancer.Listener{}}
	r.forward = healthcheck.Forward(r)
	return r
}

// handle is the scheduler's subscriber.
func (r *router) handle(e healthcheck.Event) { r.forward(e) }

// setListener routes the backends of listener name to l; nil stops
// routing them.
func (r *router) setListener(name string, l *balancer.Listener) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if l == nil {
		delete(r.listeners, name)
		return
	}
	r.listeners[name] = l
}

// all returns every routed listener.
func (r *router) all() []sessionCloser {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]sessionCloser, 0, len(r.listeners))
	for _, l := range r.listeners {
		out = append(out, l)
	}
	return out
}

// sending reports whether backend id sent bytes to its clients within
// the last d: the scheduler's healthcheck.Options.Traffic.
func (r *router) sending(id backend.ID, d time.Duration) bool {
	l := r.listener(id.Listener)
	return l != nil && l.Sending(id.Name, d)
}

func (r *router) listener(name string) *balancer.Listener {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.listeners[name]
}

// SetBackendState implements healthcheck.Sink.
func (r *router) SetBackendState(id backend.ID, st backend.State, reason string) {
	l := r.listener(id.Listener)
	if l == nil {
		// A listener is routed from its creation to its removal: this is
		// the moment of a reload that removes it or makes it, whose
		// syncListener gives a new one the states of its backends.
		r.log.Debug("backend state not routed: no such listener", zap.Stringer("backend", id),
			zap.Stringer("to", st), zap.String("reason", reason))
		return
	}
	if err := l.SetBackendState(id.Name, st, reason); err != nil {
		r.log.Warn("setting backend state", zap.Stringer("backend", id), zap.Error(err))
	}
}

// SetBackendFull implements healthcheck.Sink: the broker at its
// connection limit.
func (r *router) SetBackendFull(id backend.ID, full bool) {
	l := r.listener(id.Listener)
	if l == nil {
		return
	}
	if err := l.SetBackendFull(id.Name, full); err != nil {
		r.log.Warn("setting backend connection limit", zap.Stringer("backend", id), zap.Error(err))
	}
}

// SetBackendWeight implements healthcheck.Sink: the slow-start share.
func (r *router) SetBackendWeight(id backend.ID, percent int) {
	l := r.listener(id.Listener)
	if l == nil {
		return
	}
	if err := l.SetBackendWeightPercent(id.Name, percent); err != nil {
		r.log.Warn("setting backend weight", zap.Stringer("backend", id), zap.Error(err))
	}
}

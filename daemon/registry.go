package daemon

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// partRegistry registers the collectors of one part (a listener, a VRRP
// unit) on the daemon's registry and remembers them, so that removing the
// part by a reload removes its metrics too. It is safe for concurrent use.
type partRegistry struct {
	reg prometheus.Registerer

	mu   sync.Mutex
	cols []prometheus.Collector
}

func newPartRegistry(reg prometheus.Registerer) *partRegistry { return &partRegistry{reg: reg} }

// Register implements prometheus.Registerer.
func (r *partRegistry) Register(c prometheus.Collector) error {
	if err := r.reg.Register(c); err != nil {
		return err
	}
	r.mu.Lock()
	r.cols = append(r.cols, c)
	r.mu.Unlock()
	return nil
}

// MustRegister implements prometheus.Registerer.
func (r *partRegistry) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// Unregister implements prometheus.Registerer.
func (r *partRegistry) Unregister(c prometheus.Collector) bool {
	r.mu.Lock()
	for i, o := range r.cols {
		if o == c {
			r.cols = append(r.cols[:i:i], r.cols[i+1:]...)
			break
		}
	}
	r.mu.Unlock()
	return r.reg.Unregister(c)
}

// unregisterAll removes every collector the part registered.
func (r *partRegistry) unregisterAll() {
	r.mu.Lock()
	cols := r.cols
	r.cols = nil
	r.mu.Unlock()
	for _, c := range cols {
		r.reg.Unregister(c)
	}
}

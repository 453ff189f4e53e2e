package daemon

import (
	"slices"
	"strings"
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

// Unregister implements prometheus.Registerer. The collector is found by
// its descriptors, as the registry finds it: a registerer that wraps
// collectors (prometheus.WrapRegistererWith) hands a new wrapper of the
// same collector to Unregister, not the one it registered.
func (r *partRegistry) Unregister(c prometheus.Collector) bool {
	id := descsOf(c)
	r.mu.Lock()
	r.cols = slices.DeleteFunc(r.cols, func(o prometheus.Collector) bool { return o == c || descsOf(o) == id })
	r.mu.Unlock()
	return r.reg.Unregister(c)
}

// descsOf returns the descriptors of c, sorted and joined: two
// collectors with the same descriptors are one for a registry.
func descsOf(c prometheus.Collector) string {
	ch := make(chan *prometheus.Desc)
	go func() {
		c.Describe(ch)
		close(ch)
	}()
	var ds []string
	for d := range ch {
		ds = append(ds, d.String())
	}
	slices.Sort(ds)
	return strings.Join(ds, "\n")
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

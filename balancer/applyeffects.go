package balancer

import "slices"

// ApplyEffects is what Apply of a configuration would do now to a
// listener's sessions and clients, worked out without applying it (see
// Listener.ApplyEffects). The zero value is an Apply that touches none.
type ApplyEffects struct {
	// Removed lists the backends the configuration leaves out, in the
	// listener's order, each with its sessions now and whether Apply
	// closes them (Config.ShutdownSessionsOnDown, while Run runs) or
	// keeps them until they end.
	Removed []RemovedEffect
	// KeptClosed counts the sessions of backends an earlier Apply removed
	// and kept that this one closes (it shuts the sessions of removed
	// backends); those of a backend configured again with its name and
	// address come back with it and are not counted.
	KeptClosed int64
	// PersistenceRestarts is set when the persistence table starts afresh
	// (persistence turned off, or a netmask changed), dropping its
	// PersistenceEntries.
	PersistenceRestarts bool
	PersistenceEntries  int
	// OutsideClients counts the client addresses with sessions now that
	// the configuration's client lists refuse, when they differ from the
	// listener's, and OutsideSessions their sessions: Apply keeps them.
	OutsideClients  int
	OutsideSessions int64
}

// RemovedEffect is a backend an Apply removes, with its sessions now.
type RemovedEffect struct {
	Name     string
	Sessions int64
	// Closed is set when Apply closes them at once.
	Closed bool
}

// ApplyEffects returns what Apply(cfg) would do now to the listener's
// sessions and clients, by the rules Apply follows; cfg is not validated
// and nothing changes. Safe for concurrent use.
func (l *Listener) ApplyEffects(cfg Config) ApplyEffects {
	cfg = cfg.withDefaults()
	var e ApplyEffects
	l.mu.Lock()
	shut := cfg.ShutdownSessionsOnDown && l.loops != nil
	keep := make(map[string]bool, len(cfg.Backends))
	takenBack := make(map[*backend]bool)
	for _, bc := range cfg.Backends {
		keep[bc.Name] = true
		if l.backendLocked(bc.Name) != nil {
			continue
		}
		for _, b := range l.kept { // as takeKeptLocked picks it
			if b.active > 0 && !takenBack[b] && b.name == bc.Name && b.addr == bc.Address {
				takenBack[b] = true
				break
			}
		}
	}
	for _, b := range l.pool.backends {
		if !keep[b.name] {
			e.Removed = append(e.Removed, RemovedEffect{Name: b.name, Sessions: int64(b.active), Closed: shut})
		}
	}
	for _, b := range l.kept {
		if shut && !takenBack[b] {
			e.KeptClosed += int64(b.active)
		}
	}
	if l.sticky != nil && !keepsPersistence(l.cfg, cfg) {
		e.PersistenceRestarts, e.PersistenceEntries = true, l.sticky.len()
	}
	was := l.cfg
	l.mu.Unlock()
	if !slices.Equal(was.AllowedClients, cfg.AllowedClients) || !slices.Equal(was.DeniedClients, cfg.DeniedClients) {
		e.OutsideClients, e.OutsideSessions = l.clients.outside(newClientLists(cfg.AllowedClients, cfg.DeniedClients))
	}
	return e
}

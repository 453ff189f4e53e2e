package balancer

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

// TestApplyEffectsPersistence: the persistence table starts afresh when
// persistence goes off or its netmasks change, and not for a new timeout,
// a new limit or netmasks left at their defaults; turning persistence on
// drops nothing. ApplyEffects answers as Apply then does: its table is
// replaced exactly when it said so.
func TestApplyEffectsPersistence(t *testing.T) {
	base := Config{Name: "t", Bind: netip.MustParseAddrPort("127.0.0.1:0"),
		PersistenceTimeout: time.Minute, PersistenceNetmask: 32, PersistenceNetmask6: 128,
		Backends: []BackendConfig{{Name: "a", Address: netip.MustParseAddrPort("127.0.0.2:1"), Weight: 1}}}
	for _, tc := range []struct {
		name string
		next func(c *Config)
		want bool
	}{
		{"unchanged", func(*Config) {}, false},
		{"a new timeout", func(c *Config) { c.PersistenceTimeout = 2 * time.Minute }, false},
		{"off", func(c *Config) { c.PersistenceTimeout = 0 }, true},
		{"a new netmask", func(c *Config) { c.PersistenceNetmask = 24 }, true},
		{"a new IPv6 netmask", func(c *Config) { c.PersistenceNetmask6 = 64 }, true},
		{"more clients", func(c *Config) { c.PersistenceMaxClients = 10 }, false},
		{"the default netmasks left out", func(c *Config) { c.PersistenceNetmask, c.PersistenceNetmask6 = 0, 0 }, false},
	} {
		l, err := NewListener(base, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		next := base
		tc.next(&next)
		e := l.ApplyEffects(next)
		if e.PersistenceRestarts != tc.want || e.PersistenceEntries != 0 {
			t.Errorf("%s: %+v, want a restart %v", tc.name, e, tc.want)
		}
		was := l.sticky
		if err := l.Apply(next); err != nil {
			t.Fatal(err)
		}
		if replaced := l.sticky != was; replaced != tc.want {
			t.Errorf("%s: Apply replaced the table: %v, ApplyEffects said %v", tc.name, replaced, tc.want)
		}
	}
	off := base
	off.PersistenceTimeout = 0
	l, err := NewListener(off, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if e := l.ApplyEffects(base); e.PersistenceRestarts {
		t.Error("persistence turned on: reported as a restart")
	}
}

// TestApplyEffectsRemoved: the backends a configuration leaves out are
// listed in the listener's order, none closed while Run does not run;
// unchanged client lists count no client outside them.
func TestApplyEffectsRemoved(t *testing.T) {
	ap := netip.MustParseAddrPort
	cfg := Config{Name: "t", Bind: ap("127.0.0.1:0"), ShutdownSessionsOnDown: true,
		Backends: []BackendConfig{{Name: "a", Address: ap("127.0.0.2:1"), Weight: 1},
			{Name: "b", Address: ap("127.0.0.3:1"), Weight: 1}, {Name: "c", Address: ap("127.0.0.4:1"), Weight: 1}}}
	l, err := NewListener(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	next := cfg
	next.Backends = cfg.Backends[1:2]
	e := l.ApplyEffects(next)
	want := []RemovedEffect{{Name: "a"}, {Name: "c"}}
	if !slices.Equal(e.Removed, want) || e.KeptClosed != 0 || e.OutsideClients != 0 {
		t.Errorf("%+v, want removed %+v", e, want)
	}
}

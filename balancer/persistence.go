package balancer

import (
	"net/netip"
	"time"
)

// stickyTable implements LVS persistence_timeout semantics: a client key
// (the client address masked by the persistence netmask) maps to a
// backend; the entry lives while the key has sessions and for timeout after
// the last one ends. It is not safe for concurrent use: Listener.mu guards
// it. Time is passed in by the caller (injected clock).
type stickyTable struct {
	timeout time.Duration
	bits    int // IPv4 prefix length
	m       map[netip.Addr]*stickyEntry
}

// stickyEntry is one client key's pin. A session holds a pointer to its
// entry from its first pick to its end, so counts stay right even when the
// entry is re-pinned or its backend is dropped.
type stickyEntry struct {
	key     netip.Addr
	be      *backend // nil after the backend went down
	conns   int
	expires time.Time // valid when conns == 0
}

func newStickyTable(timeout time.Duration, bits int) *stickyTable {
	return &stickyTable{timeout: timeout, bits: bits, m: make(map[netip.Addr]*stickyEntry)}
}

// key masks a client address: IPv4 (also v4-mapped) by bits, IPv6 whole.
func (t *stickyTable) key(a netip.Addr) netip.Addr {
	a = a.Unmap().WithZone("")
	if a.Is4() && t.bits < 32 {
		p, err := a.Prefix(t.bits)
		if err == nil {
			return p.Addr()
		}
	}
	return a
}

// live reports whether e still pins its client at now.
func (e *stickyEntry) live(now time.Time) bool {
	return e.conns > 0 || now.Before(e.expires)
}

// acquire returns the entry for key (creating or reviving it) and counts one
// more session for it. The returned entry's be is the pinned backend or nil.
func (t *stickyTable) acquire(key netip.Addr, now time.Time) *stickyEntry {
	e := t.m[key]
	if e == nil {
		e = &stickyEntry{key: key}
		t.m[key] = e
	} else if !e.live(now) {
		e.be = nil
	}
	e.conns++
	return e
}

// release counts one session of e less; the last one starts the timeout.
func (t *stickyTable) release(e *stickyEntry, now time.Time) {
	if e.conns > 0 {
		e.conns--
	}
	if e.conns == 0 {
		e.expires = now.Add(t.timeout)
	}
}

// forget unpins every client of b (the backend went down).
func (t *stickyTable) forget(b *backend) {
	for _, e := range t.m {
		if e.be == b {
			e.be = nil
		}
	}
}

// sweep deletes expired entries.
func (t *stickyTable) sweep(now time.Time) {
	for k, e := range t.m {
		if !e.live(now) {
			delete(t.m, k)
		}
	}
}

// len returns the number of entries (live or not yet swept).
func (t *stickyTable) len() int { return len(t.m) }

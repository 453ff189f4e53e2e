package balancer

import (
	"net/netip"
	"slices"
	"time"
)

// stickyTable implements LVS persistence_timeout semantics: a client key
// (the client address masked by the persistence netmask) maps to a
// backend; the entry lives while the key has sessions and for timeout after
// the last one ends. It is not safe for concurrent use: Listener.mu guards
// it. Time is passed in by the caller (injected clock).
//
// The entries without sessions are also on the idle list, in the order in
// which they expire: the timeout is the same for all of them, so the order
// in which their last sessions end is the order of their expiries. A sweep
// takes the expired entries from the front of that list and stops at the
// first live one, so that its cost, under Listener.mu, is proportional to
// what expires and not to the size of the table. An entry that gets a
// session again leaves the list.
//
// The table holds at most maxKeys entries (Config.PersistenceMaxClients):
// acquire refuses a new key beyond, and never evicts an entry for it.
type stickyTable struct {
	timeout time.Duration
	bits    int                         // IPv4 prefix length
	bits6   int                         // IPv6 prefix length
	maxKeys int                         // entries at most for new keys; lowered, it leaves those above it
	m       map[netip.Addr]*stickyEntry // nil once retired
	idle    stickyList
}

// stickyEntry is one client key's pin. A session holds a pointer to its
// entry from its first pick to its end, so counts stay right even when the
// entry is re-pinned, its backend is dropped or its table is replaced.
type stickyEntry struct {
	key     netip.Addr
	be      *backend     // nil after the backend went down
	t       *stickyTable // the table the entry belongs to
	conns   int
	expires time.Time // valid when conns == 0

	// prev and next link the entry in t.idle while conns == 0.
	prev, next *stickyEntry
}

// stickyList is an intrusive doubly linked list of entries, ordered by
// expiry, oldest first.
type stickyList struct {
	head, tail *stickyEntry
}

func (l *stickyList) pushBack(e *stickyEntry) {
	e.prev, e.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = e
	} else {
		l.head = e
	}
	l.tail = e
}

// insertBefore links e before at, or at the back if at is nil.
func (l *stickyList) insertBefore(e, at *stickyEntry) {
	if at == nil {
		l.pushBack(e)
		return
	}
	e.prev, e.next = at.prev, at
	if at.prev != nil {
		at.prev.next = e
	} else {
		l.head = e
	}
	at.prev = e
}

func (l *stickyList) remove(e *stickyEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		l.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		l.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func newStickyTable(timeout time.Duration, bits, bits6, maxKeys int) *stickyTable {
	return &stickyTable{timeout: timeout, bits: bits, bits6: bits6, maxKeys: maxKeys, m: make(map[netip.Addr]*stickyEntry)}
}

// noPin is the entry of the sessions whose client key the table had no
// room for: it pins nothing, and no table counts its sessions. It is
// never written.
var noPin stickyEntry

// full reports whether the table has no room for a new key at now, once
// the expired entries are gone.
func (t *stickyTable) full(now time.Time) bool {
	if len(t.m) < t.maxKeys {
		return false
	}
	t.sweep(now)
	return len(t.m) >= t.maxKeys
}

// key masks a client address: IPv4 (also v4-mapped) by bits, IPv6 by
// bits6 (its zone dropped).
func (t *stickyTable) key(a netip.Addr) netip.Addr {
	a = a.Unmap().WithZone("")
	if bits := t.keyBits(a); bits < a.BitLen() {
		if p, err := a.Prefix(bits); err == nil {
			return p.Addr()
		}
	}
	return a
}

// keyBits returns the prefix length of key's addresses.
func (t *stickyTable) keyBits(key netip.Addr) int {
	if key.Is4() {
		return t.bits
	}
	return t.bits6
}

// live reports whether e still pins its client at now.
func (e *stickyEntry) live(now time.Time) bool {
	return e.conns > 0 || now.Before(e.expires)
}

// acquire returns the entry for key (creating or reviving it) and counts one
// more session for it. The returned entry's be is the pinned backend or nil.
// For a new key while the table is full it returns &noPin instead.
func (t *stickyTable) acquire(key netip.Addr, now time.Time) *stickyEntry {
	e := t.m[key]
	switch {
	case e == nil:
		if t.full(now) {
			return &noPin
		}
		e = &stickyEntry{key: key, t: t}
		t.m[key] = e
	case e.conns == 0:
		t.idle.remove(e)
		if !e.live(now) {
			e.be = nil
		}
	}
	e.conns++
	return e
}

// release counts one session of e less; the last one starts the timeout and
// puts e at the back of the idle list. e's table may have been retired
// since the session acquired e (Apply replaced it): only the count changes
// then.
func (t *stickyTable) release(e *stickyEntry, now time.Time) {
	if e.conns == 0 {
		return
	}
	e.conns--
	if e.conns > 0 {
		return
	}
	e.expires = now.Add(t.timeout)
	if t.m != nil {
		t.idle.pushBack(e)
	}
}

// setTimeout changes the timeout of the entries released from now on. A
// shorter one also brings forward the expiry of the idle entries that
// would outlive it, so that none lasts beyond now plus the new timeout and
// the idle list stays in the order of expiry; it walks only those entries.
func (t *stickyTable) setTimeout(d time.Duration, now time.Time) {
	if d < t.timeout {
		limit := now.Add(d)
		for e := t.idle.tail; e != nil && e.expires.After(limit); e = e.prev {
			e.expires = limit
		}
	}
	t.timeout = d
}

// addIdle adds entries without sessions (AddPins) for keys the table does
// not hold, each expiring at its expires, at most now plus the timeout, as
// many as there is room for; it returns those it added. It merges them into
// the idle list in the order of expiry: one walk of the list, whatever the
// number of entries.
func (t *stickyTable) addIdle(es []*stickyEntry, now time.Time) []*stickyEntry {
	t.sweep(now)
	es = es[:max(0, min(len(es), t.maxKeys-len(t.m)))]
	limit := now.Add(t.timeout)
	for _, e := range es {
		e.t, e.conns = t, 0
		if e.expires.After(limit) {
			e.expires = limit
		}
		t.m[e.key] = e
	}
	slices.SortStableFunc(es, func(a, b *stickyEntry) int { return a.expires.Compare(b.expires) })
	at := t.idle.head
	for _, e := range es {
		for at != nil && !at.expires.After(e.expires) {
			at = at.next
		}
		t.idle.insertBefore(e, at)
	}
	return es
}

// forget unpins every client of b (the backend went down).
func (t *stickyTable) forget(b *backend) {
	for _, e := range t.m {
		if e.be == b {
			e.be = nil
		}
	}
}

// sweep deletes the expired entries, from the front of the idle list; it
// returns how many.
func (t *stickyTable) sweep(now time.Time) int {
	n := 0
	for e := t.idle.head; e != nil && !e.live(now); e = t.idle.head {
		t.idle.remove(e)
		delete(t.m, e.key)
		n++
	}
	return n
}

// retire empties a table that Apply replaced or dropped: the entries its
// sessions still hold keep counting them, and nothing else.
func (t *stickyTable) retire() {
	t.m = nil
	t.idle = stickyList{}
}

// len returns the number of entries (live or not yet swept).
func (t *stickyTable) len() int { return len(t.m) }

// keepsPersistence reports whether a listener configured with prev (its
// defaults applied) keeps its persistence table when Apply applies next
// (its defaults applied): persistence stays on with the same netmasks.
func keepsPersistence(prev, next Config) bool {
	return prev.PersistenceTimeout > 0 && next.PersistenceTimeout > 0 &&
		prev.PersistenceNetmask == next.PersistenceNetmask && prev.PersistenceNetmask6 == next.PersistenceNetmask6
}

package balancer

import (
	"cmp"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/rmqlb/rmqlb/internal/logcount"
)

// BusiestClientsListed is how many client addresses a Snapshot lists in
// BusiestClients.
const BusiestClientsListed = 5

// clientTable counts the sessions of each client address, for
// Config.MaxConnPerClient and for the busiest clients of a Snapshot. The
// listener's loops share it; its mutex is held for one map update per
// accepted and per ended session, and for a pass over the map per
// Snapshot. The zero value is not usable: see newClientTable.
type clientTable struct {
	mu sync.Mutex
	// n holds the sessions of each client address with at least one
	// (the key unmapped and unzoned: see clientKey).
	n map[netip.Addr]int32
	// refusedLog counts the clients refused for the limit, logged at
	// most every logcount.Every, so that a client that reconnects in a
	// loop cannot flood the log.
	refusedLog logcount.Counter
}

func newClientTable() *clientTable {
	return &clientTable{n: make(map[netip.Addr]int32)}
}

// clientKey is the key of a client address: an IPv4-mapped IPv6 address
// counts as its IPv4 address (a dual-stack listener sees IPv4 clients that
// way), and a zone does not make another client.
func clientKey(a netip.Addr) netip.Addr { return a.Unmap().WithZone("") }

// add counts a session of client a, unless limit > 0 and a already holds
// limit sessions: then it counts nothing and returns false. held is the
// number of a's sessions, this one included when it was counted.
func (t *clientTable) add(a netip.Addr, limit int64) (held int64, ok bool) {
	k := clientKey(a)
	t.mu.Lock()
	defer t.mu.Unlock()
	n := int64(t.n[k])
	if limit > 0 && n >= limit {
		return n, false
	}
	t.n[k] = int32(n + 1)
	return n + 1, true
}

// done gives back a session of client a that add counted.
func (t *clientTable) done(a netip.Addr) {
	k := clientKey(a)
	t.mu.Lock()
	defer t.mu.Unlock()
	switch n := t.n[k]; {
	case n > 1:
		t.n[k] = n - 1
	case n == 1:
		delete(t.n, k)
	}
}

// refused counts a client refused for the limit at now, and returns how
// many to log (those since the last log, this one included) when it is
// time to log them.
func (t *clientTable) refused(now time.Time) (n int, log bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.refusedLog.Count(now)
}

// ClientSnapshot is one client address and the sessions it holds.
type ClientSnapshot struct {
	Address  netip.Addr `json:"address"`
	Sessions int64      `json:"sessions"`
	// NotAllowed: the listener's Config.AllowedClients leaves the
	// address out now, or its Config.DeniedClients holds it; its sessions
	// are those a change of the lists kept.
	NotAllowed bool `json:"not_allowed,omitempty"`
}

// outside counts the client addresses of the table that lists refuse,
// and their sessions.
func (t *clientTable) outside(lists *clientLists) (clients int, sessions int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for a, n := range t.n {
		if !lists.allows(a) {
			clients++
			sessions += int64(n)
		}
	}
	return clients, sessions
}

// summaryInPlace is how many clients summary picks the busiest of while
// it holds the table's lock; for more it copies the table and sorts it
// without the lock, so that accepting clients does not wait for a long
// listing.
const summaryInPlace = 16

// clientSummary is what a Snapshot tells of the clients.
type clientSummary struct {
	clients int // addresses holding sessions
	atLimit int // of them, those holding the limit or more (0 without a limit)
	// busiest: the k holding the most sessions, most first (ties by
	// address), each marked NotAllowed when the lists refuse it.
	busiest []ClientSnapshot
	// outside: how many addresses the lists refuse (0 without lists),
	// sessions a change of the lists kept; busiestOutside the k of them
	// holding the most, in the same order.
	outside        int
	busiestOutside []ClientSnapshot
}

// summary sums the table up for k clients listed, limit sessions per
// client (0: none) and lists (nil: every client is served), in one pass
// over the table.
func (t *clientTable) summary(k int, limit int64, lists *clientLists) clientSummary {
	if k > summaryInPlace {
		return t.sorted(k, limit, lists)
	}
	var s clientSummary
	busiest, outside := topClients{k: k}, topClients{k: k}
	t.mu.Lock()
	defer t.mu.Unlock()
	s.clients = len(t.n)
	for a, n := range t.n {
		if limit > 0 && int64(n) >= limit {
			s.atLimit++
		}
		c := ClientSnapshot{Address: a, Sessions: int64(n), NotAllowed: !lists.allows(a)}
		busiest.offer(c)
		if c.NotAllowed {
			s.outside++
			outside.offer(c)
		}
	}
	s.busiest, s.busiestOutside = busiest.list, outside.list
	return s
}

// sorted is summary for a large k: the table copied under its lock,
// sorted without it.
func (t *clientTable) sorted(k int, limit int64, lists *clientLists) clientSummary {
	t.mu.Lock()
	all := make([]ClientSnapshot, 0, len(t.n))
	for a, n := range t.n {
		all = append(all, ClientSnapshot{Address: a, Sessions: int64(n)})
	}
	t.mu.Unlock()
	s := clientSummary{clients: len(all)}
	var outside []ClientSnapshot
	for i := range all {
		c := &all[i]
		if limit > 0 && c.Sessions >= limit {
			s.atLimit++
		}
		if c.NotAllowed = !lists.allows(c.Address); c.NotAllowed {
			outside = append(outside, *c)
		}
	}
	slices.SortFunc(all, busier)
	slices.SortFunc(outside, busier)
	s.busiest = all[:min(k, len(all)):min(k, len(all))]
	s.outside, s.busiestOutside = len(outside), outside[:min(k, len(outside)):min(k, len(outside))]
	return s
}

// topClients keeps the k clients with the most sessions of those
// offered, most first (ties by address).
type topClients struct {
	k    int
	list []ClientSnapshot
}

func (b *topClients) offer(c ClientSnapshot) {
	i, _ := slices.BinarySearchFunc(b.list, c, busier)
	if i >= b.k {
		return
	}
	if len(b.list) == b.k {
		b.list = b.list[:b.k-1]
	}
	b.list = slices.Insert(b.list, i, c)
}

// busier orders clients by sessions, most first, then by address.
func busier(a, b ClientSnapshot) int {
	if c := cmp.Compare(b.Sessions, a.Sessions); c != 0 {
		return c
	}
	return a.Address.Compare(b.Address)
}

// Clients returns the client addresses with a session now, most sessions
// first (ties by address, each marked when AllowedClients leaves it
// out or DeniedClients holds it), at most k of them (k <= 0: none), with how
// many there are and how many hold Config.MaxConnPerClient sessions, and
// that limit (0: none). Safe for concurrent use; it waits for no event
// loop.
func (l *Listener) Clients(k int) (list []ClientSnapshot, clients, atLimit int, limit int64) {
	p := l.params.Load()
	s := l.clients.summary(max(k, 0), p.maxConnClient, p.lists)
	return s.busiest, s.clients, s.atLimit, p.maxConnClient
}

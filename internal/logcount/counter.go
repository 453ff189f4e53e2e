package logcount

import (
	"sync"
	"time"
)

// Every is how often at most a Counter's events are logged.
const Every = 10 * time.Second

// Counter counts events that are logged at most every Every, the first at
// once. The zero value is ready; it is not safe for concurrent use: its
// owner serialises the calls.
type Counter struct {
	n      int       // since logged
	logged time.Time // zero: never
}

// Count counts one event at now, and returns how many to log (those since
// the last log, this one included) when it is time to log them.
func (c *Counter) Count(now time.Time) (n int, log bool) { return c.Add(now, 1) }

// Add counts k events at now (a batch; k may be 0), and returns how many
// to log, as Count does.
func (c *Counter) Add(now time.Time, k int) (n int, log bool) {
	c.n += k
	if now.Sub(c.logged) < Every { // never logged: a long while
		return 0, false
	}
	n, c.n, c.logged = c.n, 0, now
	return n, true
}

// SyncCounter is a Counter safe for concurrent use: for events counted
// from several goroutines. The zero value is ready.
type SyncCounter struct {
	mu sync.Mutex
	c  Counter
}

// Count is Counter.Count under the SyncCounter's lock.
func (c *SyncCounter) Count(now time.Time) (n int, log bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.c.Count(now)
}

package balancer

import (
	"runtime"
	"sync"
)

// Processors lends Go processors (GOMAXPROCS) to the event loops of the
// listeners that use it, so that a loop can wait for events without giving
// its processor back to the scheduler (see loop.wait).
//
// Why: an epoll_wait made through the runtime's blocking-syscall path
// hands the loop's processor to the scheduler while it blocks when the
// program has no idle one (every loop blocked in epoll_wait holds one):
// the scheduler's monitor thread then polls every 20 us, retakes the
// processor, wakes a spare thread that finds nothing to do and sleeps
// again, and takes a processor back when epoll_wait returns. Measured per
// proxied connection (connect, 1-byte echo, close), that was about 1.3
// voluntary context switches and 1.5 nanosleep and futex calls more than a
// loop that keeps its processor (bench/README.md has the figures). A loop
// that keeps its processor takes it from the rest of the program, so a
// Processors raises GOMAXPROCS by one for every loop while the loop runs,
// and lowers it again when the loop stops: the daemon's other goroutines
// (VRRP, checks, control) keep the processors they had.
//
// A daemon makes one Processors and gives it to every listener
// (UseProcessors). GOMAXPROCS is process-wide; changes are relative to its
// value at the time, so that two users in one process (tests) compose.
// Setting GOMAXPROCS turns off the runtime's own updates of it (from the
// cgroup's CPU limit). The methods are safe for concurrent use.
type Processors struct {
	mu   sync.Mutex
	lent int // processors added for loops that run
}

// NewProcessors returns a Processors that has lent nothing.
func NewProcessors() *Processors { return &Processors{} }

// Lent returns the number of processors lent to loops that run.
func (p *Processors) Lent() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lent
}

// Own returns the processors that are not lent: GOMAXPROCS less the
// processors lent to loops. It is the default number of loops of a
// listener.
func (p *Processors) Own() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return max(runtime.GOMAXPROCS(0)-p.lent, 1)
}

// lend adds n processors (n < 0 gives them back).
func (p *Processors) lend(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lent += n
	runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0)+n, 1))
}

package vrrp

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// fakeClock is a Clock whose time moves only by Advance.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*fakeTimer
	changed chan struct{} // closed and replaced on every timer change
}

func newFakeClock(now time.Time) *fakeClock {
	return &fakeClock{now: now, changed: make(chan struct{})}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	t := &fakeTimer{c: c, ch: make(chan time.Time, 1)}
	c.mu.Lock()
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	t.Reset(d)
	return t
}

// Advance moves time forward by d and fires the timers due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for _, t := range c.timers {
		t.fireLocked()
	}
}

// notifyLocked wakes waitArmed.
func (c *fakeClock) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// waitArmed waits (in real time, bounded) until a timer is armed to fire at
// at, i.e. the code under test went back to waiting.
func (c *fakeClock) waitArmed(t *testing.T, at time.Time) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		c.mu.Lock()
		for _, tm := range c.timers {
			if tm.active && tm.at.Equal(at) {
				c.mu.Unlock()
				return
			}
		}
		ch := c.changed
		var armed []time.Time
		for _, tm := range c.timers {
			if tm.active {
				armed = append(armed, tm.at)
			}
		}
		c.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("no timer armed at %v (armed: %v)", at, armed)
		}
	}
}

type fakeTimer struct {
	c      *fakeClock
	ch     chan time.Time
	at     time.Time
	active bool
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.active
	t.active = false
	t.drain()
	t.c.notifyLocked()
	return was
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.active
	t.drain()
	t.at = t.c.now.Add(d)
	t.active = true
	t.fireLocked()
	t.c.notifyLocked()
	return was
}

func (t *fakeTimer) drain() {
	select {
	case <-t.ch:
	default:
	}
}

func (t *fakeTimer) fireLocked() {
	if t.active && !t.at.After(t.c.now) {
		t.active = false
		select {
		case t.ch <- t.c.now:
		default:
		}
	}
}

// sentAdvert is one advert a fakeTransport sent.
type sentAdvert struct {
	dst netip.Addr
	b   []byte
}

// fakeTransport is a Transport that records what is sent and delivers what
// a test injects.
type fakeTransport struct {
	src       netip.Addr
	dests     []netip.Addr
	sent      chan sentAdvert
	in        chan received
	closeOnce sync.Once
	closed    chan struct{}
}

func newFakeTransport(src netip.Addr, dests ...netip.Addr) *fakeTransport {
	if len(dests) == 0 {
		dests = []netip.Addr{MulticastIPv4}
	}
	return &fakeTransport{src: src, dests: dests, sent: make(chan sentAdvert, 100),
		in: make(chan received), closed: make(chan struct{})}
}

func (f *fakeTransport) Source() netip.Addr         { return f.src }
func (f *fakeTransport) Destinations() []netip.Addr { return f.dests }

func (f *fakeTransport) WriteTo(b []byte, dst netip.Addr) error {
	select {
	case <-f.closed:
		return net.ErrClosed
	default:
	}
	f.sent <- sentAdvert{dst: dst, b: append([]byte(nil), b...)}
	return nil
}

func (f *fakeTransport) ReadFrom(b []byte) (int, RecvInfo, error) {
	select {
	case r := <-f.in:
		return copy(b, r.b), r.info, nil
	case <-f.closed:
		return 0, RecvInfo{}, net.ErrClosed
	}
}

func (f *fakeTransport) Close() error {
	f.closeOnce.Do(func() { close(f.closed) })
	return nil
}

// inject delivers a packet as if received (blocks until Run reads it).
func (f *fakeTransport) inject(t *testing.T, b []byte, src, dst netip.Addr, ttl int) {
	t.Helper()
	select {
	case f.in <- received{b: b, info: RecvInfo{Src: src, Dst: dst, TTL: ttl}}:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not read the injected packet")
	}
}

// nextSent returns the next advert sent, parsed.
func (f *fakeTransport) nextSent(t *testing.T) *Packet {
	t.Helper()
	select {
	case s := <-f.sent:
		p, err := Parse(s.b, f.src, s.dst)
		if err != nil {
			t.Fatalf("parsing sent advert: %v", err)
		}
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("no advert sent")
		return nil
	}
}

// noneSent fails if an advert is waiting.
func (f *fakeTransport) noneSent(t *testing.T) {
	t.Helper()
	select {
	case s := <-f.sent:
		t.Fatalf("unexpected advert sent: %x", s.b)
	default:
	}
}

// fakeOwner records Acquire/Release calls.
type fakeOwner struct {
	calls chan string
	block chan struct{} // if non-nil, calls block until ctx is done
}

func newFakeOwner() *fakeOwner { return &fakeOwner{calls: make(chan string, 100)} }

func (o *fakeOwner) Acquire(ctx context.Context) error { return o.call(ctx, "acquire") }
func (o *fakeOwner) Release(ctx context.Context) error { return o.call(ctx, "release") }

func (o *fakeOwner) call(ctx context.Context, what string) error {
	o.calls <- what
	if o.block != nil {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

func (o *fakeOwner) next(t *testing.T) string {
	t.Helper()
	select {
	case c := <-o.calls:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no owner call")
		return ""
	}
}

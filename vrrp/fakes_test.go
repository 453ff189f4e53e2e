package vrrp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

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
	failMu    sync.Mutex
	failTo    map[netip.Addr]error // sends to these fail so (failSends)
}

// failSends makes the sends to dst fail with err (nil: succeed again).
func (f *fakeTransport) failSends(dst netip.Addr, err error) {
	f.failMu.Lock()
	defer f.failMu.Unlock()
	if f.failTo == nil {
		f.failTo = map[netip.Addr]error{}
	}
	f.failTo[dst] = err
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
	f.failMu.Lock()
	err := f.failTo[dst]
	f.failMu.Unlock()
	if err != nil {
		return fmt.Errorf("sending VRRP advert to %v: %w", dst, err)
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
	// block, if non-nil, makes calls block until ctx is done; each then
	// sends the context's error on block (which needs room for it).
	block chan error
}

func newFakeOwner() *fakeOwner { return &fakeOwner{calls: make(chan string, 100)} }

func (o *fakeOwner) Acquire(ctx context.Context) error { return o.call(ctx, "acquire") }
func (o *fakeOwner) Release(ctx context.Context) error { return o.call(ctx, "release") }

func (o *fakeOwner) call(ctx context.Context, what string) error {
	o.calls <- what
	if o.block != nil {
		<-ctx.Done()
		o.block <- ctx.Err()
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

// registered is a report function that Run registered with a fake owner
// (ReportFaults, ReportAnnouncements); the test reports through it.
type registered[T any] struct {
	mu     sync.Mutex
	report func(T)
}

func (r *registered[T]) set(report func(T)) {
	r.mu.Lock()
	r.report = report
	r.mu.Unlock()
}

func (r *registered[T]) call(t *testing.T, v T) {
	t.Helper()
	r.mu.Lock()
	report := r.report
	r.mu.Unlock()
	if report == nil {
		t.Fatal("Run did not register with the owner")
	}
	report(v)
}

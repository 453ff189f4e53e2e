package netsetup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// linkStates runs a LinkWatch and collects what it reports.
type linkStates struct {
	states chan LinkState
	cancel context.CancelFunc
	done   chan error
}

func startLinkWatch(t *testing.T, w *LinkWatch) *linkStates {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ls := &linkStates{states: make(chan LinkState, 64), cancel: cancel, done: make(chan error, 1)}
	go func() { ls.done <- w.Run(ctx, func(s LinkState) { ls.states <- s }) }()
	t.Cleanup(ls.stop(t))
	return ls
}

func newLinkWatch(t *testing.T, ifname string) (*LinkWatch, chan error) {
	t.Helper()
	errs := make(chan error, 64)
	w, err := NewLinkWatch(ifname, WatchOptions{OnError: func(err error) { errs <- err }})
	if err != nil {
		t.Fatal(err)
	}
	return w, errs
}

// stop returns a function that cancels the watch and checks Run returned
// nil, once.
func (ls *linkStates) stop(t *testing.T) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			ls.cancel()
			select {
			case err := <-ls.done:
				if err != nil {
					t.Errorf("LinkWatch.Run returned %v, want nil", err)
				}
			case <-time.After(5 * time.Second):
				t.Error("LinkWatch.Run did not return after cancel")
			}
		})
	}
}

// expect waits for a report satisfying ok, skipping others (the kernel may
// report a link before its carrier settles); it returns that report.
func (ls *linkStates) expect(t *testing.T, what string, ok func(LinkState) bool) LinkState {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case s := <-ls.states:
			if ok(s) {
				return s
			}
		case <-timeout:
			t.Fatalf("LinkWatch did not report %s", what)
			return LinkState{}
		}
	}
}

func TestWatchLinkNetns(t *testing.T) {
	l := setupLab(t)
	if l == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	states := make(chan LinkState, 16)
	done := make(chan error, 1)
	go func() { done <- WatchLink(ctx, l.IfA, WatchOptions{}, func(s LinkState) { states <- s }) }()
	first := true
	index := 0
	expect := func(want bool) {
		t.Helper()
		select {
		case got := <-states:
			if first {
				index, first = got.Index, false
			}
			if got.Up != want || got.Index != index || index == 0 {
				t.Fatalf("WatchLink reported %+v, want up=%v on index %d", got, want, index)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("WatchLink reported nothing, want up=%v", want)
		}
	}
	expect(true) // initial state
	// Cutting the peer takes the carrier of our end away.
	run(t, "ip", "-n", l.NSB, "link", "set", l.IfB, "down")
	expect(false)
	run(t, "ip", "-n", l.NSB, "link", "set", l.IfB, "up")
	expect(true)
	// Our end administratively down, and up again.
	run(t, "ip", "link", "set", l.IfA, "down")
	expect(false)
	run(t, "ip", "link", "set", l.IfA, "up")
	expect(true)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("WatchLink returned %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WatchLink did not return after cancel")
	}
}

// TestLinkWatchRecreatedNetns deletes the watched interface and creates it
// again under the same name: the watch reports it gone, then back with a
// new index.
func TestLinkWatchRecreatedNetns(t *testing.T) {
	l := setupLab(t)
	if l == nil {
		return
	}
	name := "rmqlbrecr0"
	addVeth(t, name, "rmqlbrecr1")
	w, _ := newLinkWatch(t, name)
	ls := startLinkWatch(t, w)
	old := ls.expect(t, "up", func(s LinkState) bool { return s.Up && s.Index != 0 })
	run(t, "ip", "link", "del", name)
	ls.expect(t, "gone", func(s LinkState) bool { return s == LinkState{} })
	addVeth(t, name, "rmqlbrecr1")
	s := ls.expect(t, "up again", func(s LinkState) bool { return s.Up })
	if s.Index == old.Index || s.Index == 0 {
		t.Fatalf("re-created interface reported with index %d, old %d", s.Index, old.Index)
	}
}

// gatedSub holds back its first Receive until gate is closed (or it is
// closed), so that a burst of events fills its small buffer and the kernel
// drops some.
type gatedSub struct {
	nlSub
	gate      <-chan struct{}
	once      sync.Once
	closed    chan struct{}
	closeOnce sync.Once
}

func (g *gatedSub) Receive() ([]syscall.NetlinkMessage, *unix.SockaddrNetlink, error) {
	g.once.Do(func() {
		select {
		case <-g.gate:
		case <-g.closed:
		}
	})
	return g.nlSub.Receive()
}

func (g *gatedSub) Close() {
	g.closeOnce.Do(func() { close(g.closed) })
	g.nlSub.Close()
}

// TestLinkWatchResubscribesNetns overflows the link subscription with a
// real burst of link events: the kernel reports ENOBUFS, the watch
// subscribes again, reads the state afresh and goes on reporting changes.
func TestLinkWatchResubscribesNetns(t *testing.T) {
	l := setupLab(t)
	if l == nil {
		return
	}
	w, errs := newLinkWatch(t, l.IfA)
	gate := make(chan struct{})
	subscribe := w.subscribe
	var subscriptions atomic.Int32
	w.subscribe = func() (nlSub, error) {
		s, err := subscribe()
		if err != nil {
			return nil, err
		}
		if subscriptions.Add(1) > 1 {
			return s, nil
		}
		// The smallest receive buffer the kernel allows.
		if err := s.(interface{ SetReceiveBufferSize(int, bool) error }).SetReceiveBufferSize(1, true); err != nil {
			s.Close()
			return nil, err
		}
		return &gatedSub{nlSub: s, gate: gate, closed: make(chan struct{})}, nil
	}
	ls := startLinkWatch(t, w)
	ls.expect(t, "up", func(s LinkState) bool { return s.Up })

	// 50 veth pairs in one go, then let the watch read.
	var batch strings.Builder
	for i := range 50 {
		fmt.Fprintf(&batch, "link add rmqlbburst%da type veth peer name rmqlbburst%db\n", i, i)
	}
	file := filepath.Join(t.TempDir(), "burst")
	if err := os.WriteFile(file, []byte(batch.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, "ip", "-batch", file)
	close(gate)
	select {
	case err := <-errs:
		if !errors.Is(err, unix.ENOBUFS) {
			t.Fatalf("subscription error %v, want ENOBUFS", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no subscription error after the burst; the test proves nothing")
	}
	// Subscribed again: a change is still reported.
	run(t, "ip", "-n", l.NSB, "link", "set", l.IfB, "down")
	ls.expect(t, "down after the burst", func(s LinkState) bool { return !s.Up })
	run(t, "ip", "-n", l.NSB, "link", "set", l.IfB, "up")
	ls.expect(t, "up after the burst", func(s LinkState) bool { return s.Up })
	if n := subscriptions.Load(); n != 2 {
		t.Errorf("%d subscriptions, want 2", n)
	}
}

package sendproc

import (
	"errors"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rmqlb/rmqlb/internal/uring"
	"github.com/rmqlb/rmqlb/vrrp"
	"github.com/rmqlb/rmqlb/vrrp/sendwire"
)

func packetsOf(ads []vrrp.RawAdvert) []sendwire.Packet {
	var ps []sendwire.Packet
	for _, a := range ads {
		ps = append(ps, sendwire.Packet{Dst: a.Dst, Data: a.Packet})
	}
	return ps
}

// ringFixture is a ringQueue and a schedule with one instance sending on
// a raw socket of rawPair, driven by the test as serveRing would.
type ringFixture struct {
	t     *testing.T
	k     *ringQueue
	sc    schedule
	epoch time.Time
	seq   uint64
	wakes int // returns from the ring's wait
}

func newRingFixture(t *testing.T, raw *rawPair, tag byte, interval time.Duration) *ringFixture {
	t.Helper()
	var mono unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono); err != nil {
		t.Fatal(err)
	}
	f := &ringFixture{t: t, epoch: time.Now()}
	k, err := openRing(mono.Nano())
	if err != nil {
		t.Skipf("the kernel's queue is not available here: %v", err)
	}
	f.k = k
	t.Cleanup(func() {
		k.close()
		for _, fd := range f.sc.closeAll() {
			unix.Close(fd)
		}
	})
	fd := -1
	if err := raw.conn.Control(func(s uintptr) { fd, err = unix.Dup(int(s)) }); err != nil || fd < 0 {
		t.Fatalf("duplicating the raw socket: %v", err)
	}
	m := startMsg(1, interval, interval, time.Second)
	m.Packets = append(m.Packets[:0], packetsOf(loopbackAdvert(tag))...)
	f.sc.start(f.now(), m, fd)
	if err := k.startTimer(f.sc.find(1)); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *ringFixture) now() int64 { return int64(time.Since(f.epoch)) }

// testWake is the user data of wakeAt's read.
const testWake = 0xffff

// wakeAt makes the ring's wait return at at (the fixture's time): a
// read of a one-off timer of its own, with a completion.
func (f *ringFixture) wakeAt(at int64) {
	f.t.Helper()
	tfd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_CLOEXEC)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { unix.Close(tfd) })
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(f.k.monoEpoch + at)}
	if err := unix.TimerfdSettime(tfd, unix.TFD_TIMER_ABSTIME, &spec, nil); err != nil {
		f.t.Fatal(err)
	}
	buf := make([]byte, 8)
	f.t.Cleanup(func() { runtime.KeepAlive(buf) })
	sqe, err := f.k.r.Next()
	if err != nil {
		f.t.Fatal(err)
	}
	uring.PrepRead(sqe, tfd, buf)
	sqe.UserData = testWake
	if err := f.k.flush(); err != nil {
		f.t.Fatal(err)
	}
}

// waitWake waits in the ring for wakeAt's timer; other completions fail
// the test.
func (f *ringFixture) waitWake() {
	f.t.Helper()
	for {
		if err := f.k.r.Wait(); err != nil && !errors.Is(err, unix.EINTR) {
			f.t.Fatal(err)
		}
		woken := false
		f.k.r.Completions(func(c uring.CQE) {
			if c.UserData == testWake {
				woken = true
				return
			}
			f.t.Errorf("completion %+v", c)
		})
		if woken {
			return
		}
	}
}

// step queues what is due, submits it, waits in the ring once and handles
// the completions as serveRing does; it returns those of markers.
func (f *ringFixture) step() (markers int) {
	f.t.Helper()
	if err := f.sc.plan(f.now(), &f.seq, f.k.queue, func(*sendwire.Message) {}, new(sendwire.Message)); err != nil {
		f.t.Fatal(err)
	}
	if err := f.k.flush(); err != nil {
		f.t.Fatal(err)
	}
	if err := f.k.r.Wait(); err != nil && !errors.Is(err, unix.EINTR) {
		f.t.Fatal(err)
	}
	f.wakes++
	f.k.r.Completions(func(c uring.CQE) {
		kind, id, seq := splitUserData(c.UserData)
		e := f.sc.find(id)
		switch {
		case kind == udMarker && c.Res == 0:
			e.chainDone(seq, f.k.sinceTick(e))
			markers++
		case kind == udSend:
			e.failedSend(seq)
		default:
			f.t.Errorf("completion %+v (kind %d)", c, kind)
		}
	})
	return markers
}

// TestRingQueueSends: adverts queued in the kernel go out on their ticks,
// each counted, with the process's thread back in user space once per
// chain (about every 125 ms at 10 ms adverts), not once per advert.
func TestRingQueueSends(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	raw := newRawPair(t)
	stop := make(chan struct{})
	defer close(stop)
	got := raw.count(0xd1, stop)
	f := newRingFixture(t, raw, 0xd1, 10*time.Millisecond)
	e := f.sc.find(1)
	chains := 0
	for chains < 3 {
		chains += f.step()
	}
	waitFor(t, "the adverts to arrive", func() bool { return got.Load() >= int64(e.sent) })
	t.Logf("%d adverts in %d chains, %d returns from the wait, %d received; send delays %v", e.sent, chains, f.wakes, got.Load(), e.delays)
	if e.sent < 3*10 || e.failed != 0 {
		t.Fatalf("sent %d, failed %d in 3 chains, want at least 30 and none", e.sent, e.failed)
	}
	if f.wakes > chains+2 {
		t.Fatalf("%d returns from the wait for %d chains of %d adverts, want one per chain", f.wakes, chains, e.sent)
	}
	if len(e.delays) != chains {
		t.Fatalf("%d send delays for %d chains", len(e.delays), chains)
	}
}

// TestRingQueueForget: once forget returned, no advert of the chain it
// took out goes out; those that went out before are counted, and the
// next chain keeps to the grid.
func TestRingQueueForget(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	raw := newRawPair(t)
	stop := make(chan struct{})
	defer close(stop)
	got := raw.count(0xd2, stop)
	f := newRingFixture(t, raw, 0xd2, 10*time.Millisecond)
	e := f.sc.find(1)
	if err := f.sc.plan(f.now(), &f.seq, f.k.queue, func(*sendwire.Message) {}, new(sendwire.Message)); err != nil {
		t.Fatal(err)
	}
	n, grid := e.chain.n, e.chain.first
	// The ring runs a chain while its thread waits in it: wait there
	// for a timer of the test's, 3.5 ticks in.
	f.wakeAt(grid + 5*e.interval/2)
	f.waitWake()
	if got.Load() < 3 {
		waitFor(t, "3 adverts", func() bool { return got.Load() >= 3 })
	}
	if err := f.k.forget(e, f.now(), false, func(c uring.CQE) {
		if kind, _, _ := splitUserData(c.UserData); kind != udRead || c.Res != -int32(unix.ECANCELED) {
			t.Errorf("completion %+v", c)
		}
	}); err != nil {
		t.Fatal(err)
	}
	sentAt := f.now()
	time.Sleep(5 * time.Millisecond) // a packet sent before forget returned may still be on its way
	before := got.Load()
	// Ten ticks in the ring, where a chain left in it would go on.
	f.wakeAt(sentAt + 10*e.interval)
	f.waitWake()
	time.Sleep(5 * time.Millisecond)
	if after := got.Load(); after != before {
		t.Fatalf("%d adverts after forget returned", after-before)
	}
	if e.chain.active || int64(e.sent) < before-1 || int64(e.sent) > before+1 || int64(e.sent) >= n {
		t.Fatalf("after forget: chain %+v, %d counted sent, %d received of a chain of %d", e.chain, e.sent, before, n)
	}
	if e.next <= sentAt-e.interval || (e.next-grid)%e.interval != 0 {
		t.Fatalf("next advert at %v, not the grid's next tick after %v", time.Duration(e.next), time.Duration(sentAt))
	}
}

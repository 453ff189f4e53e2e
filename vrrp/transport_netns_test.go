package vrrp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"golang.org/x/sys/unix"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/rmqlb/rmqlb/netsetup"
)

// testNetns is a pair of network namespaces joined through a bridge in a
// third one (sw, with one port per host), created by the test and deleted
// in t.Cleanup.
type testNetns struct {
	ns     [2]string
	ifname [2]string
	addr   [2]netip.Addr
	sw     string
	port   [2]string
}

func newTestNetns(t *testing.T) *testNetns {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2 (ip)")
	}
	suf := fmt.Sprintf("%d%04d", os.Getpid()%100000, rand.IntN(10000))
	n := &testNetns{
		ns:     [2]string{"rmqlbvra" + suf, "rmqlbvrb" + suf},
		ifname: [2]string{"va" + suf, "vb" + suf},
		addr:   [2]netip.Addr{netip.MustParseAddr("10.99.7.1"), netip.MustParseAddr("10.99.7.2")},
	}
	for _, ns := range n.ns {
		run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	}
	// The two hosts meet on a bridge in a namespace of its own, as on a
	// switch: a host whose link goes down takes only its own port down,
	// while a direct veth pair would also drop the carrier of the peer.
	sw := "rmqlbvrs" + suf
	n.sw, n.port = sw, [2]string{"sa" + suf, "sb" + suf}
	run(t, "ip", "netns", "add", sw)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", sw).Run() })
	run(t, "ip", "-n", sw, "link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0", "mcast_snooping", "0")
	run(t, "ip", "-n", sw, "link", "set", "br0", "up")
	for i, port := range n.port {
		run(t, "ip", "-n", sw, "link", "add", port, "type", "veth", "peer", "name", n.ifname[i], "netns", n.ns[i])
		run(t, "ip", "-n", sw, "link", "set", port, "master", "br0")
		run(t, "ip", "-n", sw, "link", "set", port, "up")
	}
	for i := range 2 {
		run(t, "ip", "-n", n.ns[i], "link", "set", "lo", "up")
		run(t, "ip", "-n", n.ns[i], "addr", "add", n.addr[i].String()+"/24", "dev", n.ifname[i])
		run(t, "ip", "-n", n.ns[i], "link", "set", n.ifname[i], "up")
	}
	// The kernel brings links up asynchronously: a packet sent before
	// both ends are up is lost.
	for i := range 2 {
		waitLinkUp(t, n.ns[i], n.ifname[i])
	}
	return n
}

// waitLinkUp waits (up to 5 s) until ifname in namespace ns is
// operationally up.
func waitLinkUp(t *testing.T, ns, ifname string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, err := exec.Command("ip", "-n", ns, "-o", "link", "show", ifname).CombinedOutput()
		if err == nil && strings.Contains(string(out), "state UP") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s in %s not up after 5 s: %s %v", ifname, ns, out, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// in runs f on a thread switched to namespace i; sockets f opens stay in it.
func (n *testNetns) in(t *testing.T, i int, f func()) {
	t.Helper()
	done := make(chan struct{})
	var failure string
	go func() {
		defer close(done)
		runtime.LockOSThread()
		// The thread is not unlocked if switching back fails, so the
		// runtime throws it away instead of reusing it.
		orig, err := netns.Get()
		if err != nil {
			failure = err.Error()
			return
		}
		defer orig.Close()
		h, err := netns.GetFromName(n.ns[i])
		if err != nil {
			failure = err.Error()
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			failure = err.Error()
			return
		}
		f()
		if err := netns.Set(orig); err != nil {
			failure = err.Error()
			return
		}
		runtime.UnlockOSThread()
	}()
	<-done
	if failure != "" {
		t.Fatalf("switching to namespace %s: %s", n.ns[i], failure)
	}
}

func (n *testNetns) transport(t *testing.T, i int, cfg TransportConfig) *IPv4Transport {
	t.Helper()
	cfg.Interface = n.ifname[i]
	var tr *IPv4Transport
	var err error
	n.in(t, i, func() { tr, err = NewIPv4Transport(cfg) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// readOne reads one packet with a deadline; ok is false on timeout.
func readOne(t *testing.T, tr *IPv4Transport, wait time.Duration) ([]byte, RecvInfo, bool) {
	t.Helper()
	tr.pc.SetReadDeadline(time.Now().Add(wait))
	b := make([]byte, 1500)
	n, ri, err := tr.ReadFrom(b)
	if err != nil {
		if strings.Contains(err.Error(), "timeout") {
			return nil, RecvInfo{}, false
		}
		t.Fatal(err)
	}
	return b[:n], ri, true
}

func TestIPv4TransportNetns(t *testing.T) {
	n := newTestNetns(t)
	a := n.transport(t, 0, TransportConfig{})
	b := n.transport(t, 1, TransportConfig{})
	if a.Source() != n.addr[0] || b.Source() != n.addr[1] {
		t.Fatalf("sources %v %v", a.Source(), b.Source())
	}
	if d := a.Destinations(); len(d) != 1 || d[0] != MulticastIPv4 {
		t.Fatalf("destinations %v", d)
	}

	p := Packet{Version: 3, VRID: 9, Priority: 150, AdvertInterval: 100 * time.Millisecond,
		Addrs: []netip.Addr{netip.MustParseAddr("10.99.7.100")}}
	msg, err := p.Marshal(a.Source(), MulticastIPv4, ChecksumPseudoHeader)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("multicast", func(t *testing.T) {
		if err := a.WriteTo(msg, MulticastIPv4); err != nil {
			t.Fatal(err)
		}
		got, ri, ok := readOne(t, b, 2*time.Second)
		if !ok {
			t.Fatal("multicast advert not received")
		}
		if !bytes.Equal(got, msg) || ri.Src != n.addr[0] || ri.Dst != MulticastIPv4 || ri.TTL != 255 {
			t.Fatalf("received %x %+v, want %x from %v TTL 255", got, ri, msg, n.addr[0])
		}
		if err := CheckTTL(ri.TTL); err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(got, ri.Src, ri.Dst); err != nil {
			t.Fatal(err)
		}
		// Our own multicast is not looped back to us.
		if got, ri, ok := readOne(t, a, 300*time.Millisecond); ok {
			t.Fatalf("sender received %x %+v", got, ri)
		}
	})

	// Sending and receiving an advert allocate nothing, and the socket
	// has the adverts' SO_PRIORITY.
	t.Run("no allocation", func(t *testing.T) {
		b.pc.SetReadDeadline(time.Now().Add(30 * time.Second))
		buf := make([]byte, 1500)
		allocs := testing.AllocsPerRun(100, func() {
			if err := a.WriteTo(msg, MulticastIPv4); err != nil {
				t.Fatal(err)
			}
			if _, _, err := b.ReadFrom(buf); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("sending and receiving an advert allocate %v times", allocs)
		}
		var prio int
		var gerr error
		if err := a.sendConn().Control(func(fd uintptr) {
			prio, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PRIORITY)
		}); err != nil || gerr != nil {
			t.Fatal(err, gerr)
		}
		if prio != advertSocketPriority {
			t.Errorf("SO_PRIORITY %d, want %d", prio, advertSocketPriority)
		}
	})

	// Sending, by WriteTo or on the send socket as the advert sender
	// process does, wakes nothing that waits on the receiving socket:
	// the runtime's poller waits for it to turn writable too, edge
	// triggered, and each advert sent on it would be such an edge.
	t.Run("sending wakes no receiver", func(t *testing.T) {
		ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(ep)
		rfd, err := a.rawFD()
		if err != nil {
			t.Fatal(err)
		}
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(rfd)}
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, rfd, &ev); err != nil {
			t.Fatal(err)
		}
		evs := make([]unix.EpollEvent, 4)
		if n, err := unix.EpollWait(ep, evs, 0); err != nil || n != 1 || evs[0].Events&unix.EPOLLOUT == 0 {
			t.Fatalf("first wait: %d events %+v, %v; want the registration's EPOLLOUT", n, evs[:max(n, 0)], err)
		}
		pkt := a.appendPacket(nil, msg, MulticastIPv4)
		sa := &unix.SockaddrInet4{Addr: MulticastIPv4.As4()}
		for range 5 {
			if err := a.WriteTo(msg, MulticastIPv4); err != nil {
				t.Fatal(err)
			}
			var serr error
			if err := a.sendConn().Control(func(fd uintptr) { serr = unix.Sendto(int(fd), pkt, 0, sa) }); err != nil || serr != nil {
				t.Fatal(err, serr)
			}
		}
		for range 10 {
			if _, _, ok := readOne(t, b, 2*time.Second); !ok {
				t.Fatal("advert not received")
			}
		}
		n, err := unix.EpollWait(ep, evs, 100)
		if err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("10 adverts sent woke a waiter of the receiving socket: %+v", evs[:n])
		}
	})

	t.Run("unicast", func(t *testing.T) {
		ua := n.transport(t, 0, TransportConfig{Source: n.addr[0], Peers: []netip.Addr{n.addr[1]}})
		ub := n.transport(t, 1, TransportConfig{Source: n.addr[1], Peers: []netip.Addr{n.addr[0]}})
		if d := ua.Destinations(); len(d) != 1 || d[0] != n.addr[1] {
			t.Fatalf("destinations %v", d)
		}
		umsg, err := p.Marshal(ua.Source(), n.addr[1], ChecksumRFC9568)
		if err != nil {
			t.Fatal(err)
		}
		if err := ua.WriteTo(umsg, n.addr[1]); err != nil {
			t.Fatal(err)
		}
		got, ri, ok := readOne(t, ub, 2*time.Second)
		if !ok {
			t.Fatal("unicast advert not received")
		}
		if !bytes.Equal(got, umsg) || ri.Src != n.addr[0] || ri.Dst != n.addr[1] || ri.TTL != 255 {
			t.Fatalf("received %x %+v", got, ri)
		}
		q, err := Parse(got, ri.Src, ri.Dst)
		if err != nil || q.ChecksumMode != ChecksumRFC9568 {
			t.Fatalf("Parse = %+v, %v", q, err)
		}
		if got, ri, ok := readOne(t, ua, 300*time.Millisecond); ok {
			t.Fatalf("sender received %x %+v", got, ri)
		}
	})
}

// TestInstancesNetns runs two Instances over real transports: the higher
// priority becomes MASTER, and takes over at once when the other stops.
func TestInstancesNetns(t *testing.T) {
	n := newTestNetns(t)
	type node struct {
		inst  *Instance
		owner *fakeOwner
		stop  context.CancelFunc
		done  chan error
	}
	start := func(i int, prio uint8) *node {
		cfg := testConfig(func(c *Config) {
			c.Interface = n.ifname[i]
			c.Priority = prio
			// 200 ms keeps a loaded CI machine from missing 3 adverts.
			c.AdvertInterval = 200 * time.Millisecond
			c.VIPs = []netip.Prefix{netip.MustParsePrefix("10.99.7.100/24")}
		})
		nd := &node{owner: newFakeOwner(), done: make(chan error, 1)}
		tr := n.transport(t, i, TransportConfig{Exclude: cfg.vipAddrs()})
		inst, err := NewInstance(cfg, Options{Transport: tr, Owner: nd.owner})
		if err != nil {
			t.Fatal(err)
		}
		nd.inst = inst
		ctx, cancel := context.WithCancel(context.Background())
		nd.stop = cancel
		go func() { nd.done <- inst.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-nd.done })
		return nd
	}
	waitState := func(nd *node, s State) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); nd.inst.Snapshot().State != s; {
			if time.Now().After(deadline) {
				t.Fatalf("%s: state %v, want %v", nd.inst.Snapshot().Name, nd.inst.Snapshot().State, s)
			}
			time.Sleep(10 * time.Millisecond) // polling real time; the protocol runs on it
		}
	}
	hi := start(0, 150)
	waitState(hi, StateMaster)
	lo := start(1, 100)
	waitState(lo, StateBackup)
	// The backup hears the master and stays backup for a while.
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		s := lo.inst.Snapshot()
		if s.State != StateBackup {
			t.Fatalf("backup became %v: %+v", s.State, s)
		}
	}
	s := lo.inst.Snapshot()
	if s.Master == nil || s.Master.Addr != n.addr[0] || s.Master.Priority != 150 || s.Counters.AdvertsReceived == 0 {
		t.Fatalf("backup snapshot %+v", s)
	}
	if d := s.Counters.Dropped; len(d) != 0 {
		t.Fatalf("backup dropped %v", d)
	}
	// The master stops: priority 0, the backup takes over.
	hi.stop()
	if err := <-hi.done; err != nil {
		t.Fatal(err)
	}
	hi.done <- nil // for Cleanup
	waitState(lo, StateMaster)
	if r := lo.inst.Snapshot().Reason; !strings.Contains(r, "priority 0") {
		t.Fatalf("takeover reason %q", r)
	}
}

// TestWatchLinkNetns checks the link watch an Instance uses: created on a
// thread in the host's namespace, it watches that namespace while it runs
// on any thread.
func TestWatchLinkNetns(t *testing.T) {
	n := newTestNetns(t)
	var w *netsetup.LinkWatch
	var err error
	n.in(t, 0, func() { w, err = netsetup.NewLinkWatch(n.ifname[0], netsetup.WatchOptions{}) })
	if err != nil {
		t.Fatal(err)
	}
	states := make(chan bool, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, func(s netsetup.LinkState) { states <- s.Up }) }()
	// next waits for want to be reported; the kernel may report the link
	// before its carrier settles (linkwatch runs asynchronously).
	next := func(want bool) {
		t.Helper()
		timeout := time.After(5 * time.Second)
		for {
			select {
			case got := <-states:
				if got == want {
					return
				}
			case <-timeout:
				t.Fatalf("link up = %v not reported", want)
			}
		}
	}
	next(true)
	// Cutting the switch side of our link takes our carrier away.
	run(t, "ip", "-n", n.sw, "link", "set", n.port[0], "down")
	next(false)
	run(t, "ip", "-n", n.sw, "link", "set", n.port[0], "up")
	next(true)
	run(t, "ip", "-n", n.ns[0], "link", "set", n.ifname[0], "down")
	next(false)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// goIn runs f in a new goroutine locked to a thread in namespace i; the
// thread is never unlocked, so the runtime discards it when f returns.
func (n *testNetns) goIn(t *testing.T, i int, f func()) {
	t.Helper()
	h, err := netns.GetFromName(n.ns[i])
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer h.Close()
		runtime.LockOSThread()
		if err := netns.Set(h); err != nil {
			panic(err) // the test cannot go on; should never happen
		}
		f()
	}()
}

// realNode is an Instance run as the daemon runs it: real transport and
// link watch, in its host's namespace.
type realNode struct {
	inst  *Instance
	owner *fakeOwner
	done  chan error
}

// startRealPair runs two such Instances, priority 150 on host 0 and 100 on
// host 1, until the test ends.
// startRealPair starts two instances on the real transport, with the
// real-time priority rt (0: off).
func startRealPair(t *testing.T, n *testNetns, rt int) [2]*realNode {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var nodes [2]*realNode
	for i, prio := range []uint8{150, 100} {
		cfg := testConfig(func(c *Config) {
			c.Interface = n.ifname[i]
			c.Priority = prio
			// 200 ms keeps a loaded CI machine from missing 3 adverts.
			c.AdvertInterval = 200 * time.Millisecond
			c.VIPs = []netip.Prefix{netip.MustParsePrefix("10.99.7.100/24")}
		})
		nd := &realNode{owner: newFakeOwner(), done: make(chan error, 1)}
		inst, err := NewInstance(cfg, Options{Owner: nd.owner, RealTimePriority: rt})
		if err != nil {
			t.Fatal(err)
		}
		nd.inst = inst
		n.goIn(t, i, func() { nd.done <- inst.Run(ctx) })
		nodes[i] = nd
	}
	t.Cleanup(func() {
		cancel()
		for _, nd := range nodes {
			if err := <-nd.done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	})
	return nodes
}

// waitStates waits until the two nodes are in states a and b.
func waitStates(t *testing.T, nodes [2]*realNode, what string, a, b State) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) { // polling real time; the protocol runs on it
		sa, sb := nodes[0].inst.Snapshot(), nodes[1].inst.Snapshot()
		if sa.State == a && sb.State == b {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: states %v/%v, want %v/%v", what, sa.State, sb.State, a, b)
		}
	}
}

// TestInstanceRealTransportLinkCutNetns runs two Instances as the daemon
// does (Options.Transport nil: real transport and link watching): cutting
// the master's link moves the VIP, restoring it preempts back.
func TestInstanceRealTransportLinkCutNetns(t *testing.T) {
	forEachLoop(t, testInstanceRealTransportLinkCut)
}

// forEachLoop runs f with each event loop of Instance: the goroutine
// (real-time priority 0) and the real-time thread.
func forEachLoop(t *testing.T, f func(t *testing.T, rt int)) {
	for _, rt := range []int{0, 10} {
		t.Run(fmt.Sprintf("rt=%d", rt), func(t *testing.T) { f(t, rt) })
	}
}

// checkRealTime checks how the loops of nodes are scheduled.
func checkRealTime(t *testing.T, nodes [2]*realNode, rt int) {
	t.Helper()
	want := ""
	if rt > 0 {
		want = fmt.Sprintf("SCHED_FIFO priority %d", rt)
	}
	for _, nd := range nodes {
		if got := nd.inst.Snapshot().RealTime; got != want {
			t.Errorf("%s: RealTime %q, want %q", nd.inst.Snapshot().Name, got, want)
		}
	}
}

func testInstanceRealTransportLinkCut(t *testing.T, rt int) {
	n := newTestNetns(t)
	nodes := startRealPair(t, n, rt)
	waitStates(t, nodes, "start", StateMaster, StateBackup)
	checkRealTime(t, nodes, rt)
	if s := nodes[0].inst.Snapshot(); s.Source != n.addr[0] || len(s.Destinations) != 1 || s.Destinations[0] != MulticastIPv4 {
		t.Fatalf("snapshot %+v", s)
	}
	run(t, "ip", "-n", n.ns[0], "link", "set", n.ifname[0], "down")
	waitStates(t, nodes, "master link cut", StateFault, StateMaster)
	if r := nodes[0].inst.Snapshot().Reason; !strings.Contains(r, "link down") {
		t.Fatalf("reason %q", r)
	}
	run(t, "ip", "-n", n.ns[0], "link", "set", n.ifname[0], "up")
	waitStates(t, nodes, "link restored, preempt", StateMaster, StateBackup)
	if d := nodes[1].inst.Snapshot().Counters.Dropped; len(d) != 0 {
		t.Fatalf("backup dropped %v", d)
	}
}

// recreate deletes host i's interface (and its switch port) and creates
// it again with the same name and address, as when a bond, VLAN or veth
// is re-created; the new interface has a new index.
func (n *testNetns) recreate(t *testing.T, i int) {
	t.Helper()
	n.deleteLink(t, i)
	n.createLink(t, i)
	n.addAddr(t, i)
}

// deleteLink deletes host i's interface with its switch port.
func (n *testNetns) deleteLink(t *testing.T, i int) {
	t.Helper()
	run(t, "ip", "-n", n.sw, "link", "del", n.port[i])
}

// createLink creates host i's interface and its switch port, both up,
// the interface without an address (see addAddr).
func (n *testNetns) createLink(t *testing.T, i int) {
	t.Helper()
	run(t, "ip", "-n", n.sw, "link", "add", n.port[i], "type", "veth", "peer", "name", n.ifname[i], "netns", n.ns[i])
	run(t, "ip", "-n", n.sw, "link", "set", n.port[i], "master", "br0")
	run(t, "ip", "-n", n.sw, "link", "set", n.port[i], "up")
	run(t, "ip", "-n", n.ns[i], "link", "set", n.ifname[i], "up")
}

// addAddr gives host i's interface its address.
func (n *testNetns) addAddr(t *testing.T, i int) {
	t.Helper()
	run(t, "ip", "-n", n.ns[i], "addr", "add", n.addr[i].String()+"/24", "dev", n.ifname[i])
}

// TestInstanceFollowsRecreatedInterfaceNetns deletes and re-creates the
// interface of a running Instance with the same name and address. The
// backup's socket must follow it and hear the master again (not become a
// second master); the master's must follow it so that the backup hears
// it and hands the VIP back.
func TestInstanceFollowsRecreatedInterfaceNetns(t *testing.T) {
	forEachLoop(t, testInstanceFollowsRecreatedInterface)
}

func testInstanceFollowsRecreatedInterface(t *testing.T, rt int) {
	n := newTestNetns(t)
	nodes := startRealPair(t, n, rt)
	waitStates(t, nodes, "start", StateMaster, StateBackup)

	// The backup's interface.
	before := nodes[1].inst.Snapshot()
	n.recreate(t, 1)
	waitStates(t, nodes, "backup interface re-created", StateMaster, StateBackup)
	// Back in BACKUP after the link came up: it must keep hearing the
	// master for longer than a master down interval (about 0.7 s).
	heard := uint64(0)
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) { // polling real time
		s := nodes[1].inst.Snapshot()
		if s.State == StateMaster {
			t.Fatalf("backup became MASTER after its interface was re-created: %s", s.Reason)
		}
		heard = s.Counters.AdvertsReceived
	}
	s := nodes[1].inst.Snapshot()
	if s.State != StateBackup || s.Counters.Rebinds != 1 || heard <= before.Counters.AdvertsReceived+5 || s.Source != n.addr[1] {
		t.Fatalf("backup after re-creation: state %v, rebinds %d, adverts received %d (before %d), source %v",
			s.State, s.Counters.Rebinds, heard, before.Counters.AdvertsReceived, s.Source)
	}

	// The master's interface: the backup takes over while it is gone,
	// and hands back once the master is heard on its new interface.
	n.recreate(t, 0)
	waitStates(t, nodes, "master interface re-created, preempt back", StateMaster, StateBackup)
	if s := nodes[0].inst.Snapshot(); s.Counters.Rebinds != 1 {
		t.Fatalf("master after re-creation: rebinds %d", s.Counters.Rebinds)
	}
	// It stays so: the backup hears the master's adverts.
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) { // polling real time
		if sa, sb := nodes[0].inst.Snapshot().State, nodes[1].inst.Snapshot().State; sa != StateMaster || sb != StateBackup {
			t.Fatalf("after the master's re-creation: states %v/%v, want MASTER/BACKUP", sa, sb)
		}
	}
}

// TestRealTimeLoopSetupFailsCleanly: when the real-time loop cannot start
// (here: the namespace to enter is no namespace) it says so with
// errRealTimeSetup, on which Run runs the ordinary loop, and leaves no
// eventfd behind for kick to write to.
func TestRealTimeLoopSetupFailsCleanly(t *testing.T) {
	n := newTestNetns(t)
	tr := n.transport(t, 0, TransportConfig{})
	inst, err := NewInstance(testConfig(func(c *Config) { c.Interface = n.ifname[0] }), Options{Transport: tr, RealTimePriority: 10})
	if err != nil {
		t.Fatal(err)
	}
	notNetns, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer notNetns.Close()
	err = inst.runRealTime(context.Background(), tr, nil, notNetns)
	if !errors.Is(err, errRealTimeSetup) {
		t.Fatalf("runRealTime = %v, want errRealTimeSetup", err)
	}
	inst.wakeMu.Lock()
	fd := inst.wakeFD
	inst.wakeMu.Unlock()
	if fd != -1 {
		t.Errorf("wakeFD %d left behind", fd)
	}
}

// TestLeavePollerNetns: after leavePoller the receiving socket is in no
// epoll instance of the process (the runtime's poller included), and the
// same socket still receives: the real-time loop's ppoll and read see the
// next advert.
func TestLeavePollerNetns(t *testing.T) {
	n := newTestNetns(t)
	a := n.transport(t, 0, TransportConfig{})
	b := n.transport(t, 1, TransportConfig{})
	fd, err := b.rawFD()
	if err != nil {
		t.Fatal(err)
	}
	ino := inode(t, fd)
	if !inEpoll(t, ino) {
		t.Fatal("the receiving socket is in no epoll instance before leavePoller: the check cannot see it")
	}
	if fd, err = b.leavePoller(); err != nil {
		t.Fatal(err)
	}
	if fd2, err := b.leavePoller(); err != nil || fd2 != fd {
		t.Fatalf("second leavePoller: %d, %v; want %d", fd2, err, fd)
	}
	if fd2, err := b.rawFD(); err != nil || fd2 != fd {
		t.Fatalf("rawFD after leavePoller: %d, %v; want %d", fd2, err, fd)
	}
	if inode(t, fd) != ino {
		t.Fatal("leavePoller changed the socket")
	}
	if inEpoll(t, ino) {
		t.Fatal("the receiving socket is still in an epoll instance")
	}
	msg := testAdvert(t, a.Source(), MulticastIPv4, ChecksumPseudoHeader)
	if err := a.WriteTo(msg, MulticastIPv4); err != nil {
		t.Fatal(err)
	}
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	ts := unix.NsecToTimespec(int64(2 * time.Second))
	if n, err := unix.Ppoll(fds, &ts, nil); err != nil || n != 1 {
		t.Fatalf("ppoll = %d, %v: advert not received", n, err)
	}
	buf := make([]byte, 1500)
	m, err := unix.Read(fd, buf)
	if err != nil {
		t.Fatal(err)
	}
	got, ri, err := unwrapIPv4(buf, m)
	if err != nil || !bytes.Equal(buf[:got], msg) || ri.Src != n.addr[0] {
		t.Fatalf("received %x %+v %v, want %x from %v", buf[:got], ri, err, msg, n.addr[0])
	}
	if _, err := unix.Read(fd, buf); err != unix.EAGAIN {
		t.Fatalf("read of an empty socket = %v, want EAGAIN (it must not block)", err)
	}
}

// inode returns the inode number of descriptor fd.
func inode(t *testing.T, fd int) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// inEpoll reports whether the file of inode ino is registered in an
// epoll instance of this process (from the instances' fdinfo).
func inEpoll(t *testing.T, ino uint64) bool {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("ino:%x ", ino)
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err != nil || l != "anon_inode:[eventpoll]" {
			continue
		}
		b, err := os.ReadFile("/proc/self/fdinfo/" + e.Name())
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "tfd:") && strings.Contains(line+" ", want) {
				return true
			}
		}
	}
	return false
}

// TestSendSocketQueuesNothingNetns: the send socket, of protocol
// IPPROTO_RAW, is handed packets of IP protocol 255 by the kernel; none
// queues on it (no reader would ever free them), while the receiving
// socket still gets the adverts that follow them.
func TestSendSocketQueuesNothingNetns(t *testing.T) {
	n := newTestNetns(t)
	a := n.transport(t, 0, TransportConfig{Source: n.addr[0], Peers: []netip.Addr{n.addr[1]}})
	b := n.transport(t, 1, TransportConfig{Source: n.addr[1], Peers: []netip.Addr{n.addr[0]}})
	msg := testAdvert(t, a.Source(), n.addr[1], ChecksumRFC9568)
	proto255 := a.appendPacket(nil, msg, n.addr[1])
	proto255[9] = unix.IPPROTO_RAW
	sa := &unix.SockaddrInet4{Addr: n.addr[1].As4()}
	for range 5 {
		var serr error
		if err := a.sendConn().Control(func(fd uintptr) { serr = unix.Sendto(int(fd), proto255, 0, sa) }); err != nil || serr != nil {
			t.Fatal(err, serr)
		}
	}
	// The advert goes the same way after them: once it is read, they
	// have arrived.
	if err := a.WriteTo(msg, n.addr[1]); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := readOne(t, b, 2*time.Second); !ok {
		t.Fatal("advert not received")
	}
	queued, ierr := -1, error(nil)
	if err := b.sendConn().Control(func(fd uintptr) { queued, ierr = unix.IoctlGetInt(int(fd), unix.SIOCINQ) }); err != nil || ierr != nil {
		t.Fatal(err, ierr)
	}
	if queued != 0 {
		t.Errorf("%d bytes queued on the send socket, want 0", queued)
	}
}

// TestUnicastHearsNoGroupNetns: a transport in unicast mode does not
// receive the group's multicast, also when another socket of the host
// joined 224.0.0.18 on the same interface.
func TestUnicastHearsNoGroupNetns(t *testing.T) {
	n := newTestNetns(t)
	a := n.transport(t, 0, TransportConfig{})
	group := n.transport(t, 1, TransportConfig{})
	uni := n.transport(t, 1, TransportConfig{Source: n.addr[1], Peers: []netip.Addr{n.addr[0]}})
	msg := testAdvert(t, a.Source(), MulticastIPv4, ChecksumPseudoHeader)
	// Sent again until the group's member hears one (a first packet on
	// links just brought up may be lost): the unicast transport must
	// hear none of them.
	heard := false
	for deadline := time.Now().Add(3 * time.Second); !heard && time.Now().Before(deadline); {
		if err := a.WriteTo(msg, MulticastIPv4); err != nil {
			t.Fatal(err)
		}
		_, _, heard = readOne(t, group, 200*time.Millisecond)
	}
	if !heard {
		t.Fatal("the group's member did not receive the advert")
	}
	if got, ri, ok := readOne(t, uni, 300*time.Millisecond); ok {
		t.Fatalf("the unicast transport received the group's advert %x %+v", got, ri)
	}
}

// testAdvert is an advert of VRID 9 from src to dst, checksummed by mode.
func testAdvert(t *testing.T, src, dst netip.Addr, mode ChecksumMode) []byte {
	t.Helper()
	p := Packet{Version: 3, VRID: 9, Priority: 150, AdvertInterval: 100 * time.Millisecond,
		Addrs: []netip.Addr{netip.MustParseAddr("10.99.7.100")}}
	msg, err := p.Marshal(src, dst, mode)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// rawFD returns the receiving socket's descriptor; it stays valid until
// Close or leavePoller.
func (t *IPv4Transport) rawFD() (int, error) {
	fd := -1
	if err := t.recvConn().Control(func(f uintptr) { fd = int(f) }); err != nil {
		return -1, fmt.Errorf("getting the VRRP socket: %w", err)
	}
	return fd, nil
}

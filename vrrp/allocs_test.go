package vrrp

import (
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rmqlb/rmqlb/internal/clock"
)

// discardTransport sends nowhere and allocates nothing.
type discardTransport struct {
	src  netip.Addr
	sent int
}

func (d *discardTransport) Source() netip.Addr         { return d.src }
func (d *discardTransport) Destinations() []netip.Addr { return []netip.Addr{MulticastIPv4} }
func (d *discardTransport) WriteTo([]byte, netip.Addr) error {
	d.sent++
	return nil
}
func (d *discardTransport) ReadFrom([]byte) (int, RecvInfo, error) { select {} }
func (d *discardTransport) Close() error                           { return nil }

// TestAdvertAllocatesNothing: a MASTER sending an advert (the machine's
// step, the metrics, the marshaling, the transport call) and a BACKUP
// hearing one (parsing, the step) allocate nothing; at 10 ms adverts
// every allocation here would be 100 a second for the GC to collect.
func TestAdvertAllocatesNothing(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cfg := testConfig(func(c *Config) {
		c.AdvertInterval = 10 * time.Millisecond
		c.VIPs = append(c.VIPs, netip.MustParsePrefix("10.0.0.101/24"))
	})
	master := &discardTransport{src: netip.MustParseAddr("10.0.0.2")}
	mi, err := NewInstance(cfg, Options{Transport: master, Clock: clk, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	mi.src, mi.dests = master.src, master.Destinations()
	mi.m.primary = mi.src
	mi.m.Step(clk.Now(), Startup{Adopt: Adoption{State: StateMaster}})
	if mi.m.State() != StateMaster {
		t.Fatalf("state %v", mi.m.State())
	}
	mi.step(master, nil, Tick{}) // grows the buffers
	if n := testing.AllocsPerRun(100, func() {
		clk.Advance(cfg.AdvertInterval)
		mi.step(master, nil, Tick{})
	}); n != 0 {
		t.Errorf("sending an advert allocates %v times", n)
	}
	if master.sent < 100 {
		t.Fatalf("%d adverts sent", master.sent)
	}

	// The advert the master sends, as a backup receives it.
	msg, err := mi.tx.Marshal(master.src, MulticastIPv4, cfg.Checksum)
	if err != nil {
		t.Fatal(err)
	}
	backup := &discardTransport{src: netip.MustParseAddr("10.0.0.3")}
	bcfg := cfg
	bcfg.Priority = cfg.Priority - 10
	bi, err := NewInstance(bcfg, Options{Transport: backup, Clock: clk, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	bi.src, bi.dests = backup.src, backup.Destinations()
	bi.m.primary = bi.src
	bi.m.Step(clk.Now(), Startup{})
	r := received{b: msg, info: RecvInfo{Src: master.src, Dst: MulticastIPv4, TTL: TTL}}
	bi.receive(backup, nil, r)
	if n := testing.AllocsPerRun(100, func() {
		clk.Advance(cfg.AdvertInterval)
		bi.receive(backup, nil, r)
	}); n != 0 {
		t.Errorf("receiving an advert allocates %v times", n)
	}
	if s := bi.Snapshot(); s.State != StateBackup || s.Master == nil || s.Master.Addr != master.src || s.Counters.AdvertsReceived < 100 {
		t.Errorf("backup: state %v, master %+v, counters %+v", s.State, s.Master, s.Counters)
	}
}

// rawDiscardTransport is a discardTransport an AdvertSender can use.
type rawDiscardTransport struct{ discardTransport }

func (r *rawDiscardTransport) sendConn() syscall.RawConn { return nil }
func (r *rawDiscardTransport) appendPacket(b, payload []byte, dst netip.Addr) []byte {
	return appendIPv4(b, r.src, dst, payload)
}

// TestSenderTickAllocatesNothing: a MASTER whose adverts an AdvertSender
// sends checks at every periodic advert that the sender's packets are
// current and tells it the loop is alive, without allocating.
func TestSenderTickAllocatesNothing(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cfg := testConfig(func(c *Config) { c.AdvertInterval = 10 * time.Millisecond })
	tr := &rawDiscardTransport{discardTransport{src: netip.MustParseAddr("10.0.0.2")}}
	snd := &fakeSender{log: &eventLog{}}
	snd.sending.Store(true)
	mi, err := NewInstance(cfg, Options{Transport: tr, Clock: clk, Registerer: prometheus.NewRegistry(), Sender: snd})
	if err != nil {
		t.Fatal(err)
	}
	mi.src, mi.dests = tr.src, tr.Destinations()
	mi.m.primary = mi.src
	mi.m.Step(clk.Now(), Startup{Adopt: Adoption{State: StateMaster}})
	mi.step(tr, nil, Tick{}) // starts the sender, grows the buffers
	clk.Advance(cfg.AdvertInterval)
	mi.step(tr, nil, Tick{})
	if n := testing.AllocsPerRun(100, func() {
		clk.Advance(cfg.AdvertInterval)
		mi.step(tr, nil, Tick{})
	}); n != 0 {
		t.Errorf("a periodic advert with a sender allocates %v times", n)
	}
	if tr.sent != 0 {
		t.Errorf("the instance sent %d adverts itself while the sender sends", tr.sent)
	}
	if n := snd.alive.Load(); n < 100 {
		t.Errorf("Alive called %d times in 100 adverts", n)
	}
	if got := snd.log.take(); len(got) != 1 || !strings.HasPrefix(got[0], "start ") {
		t.Errorf("sender told %q, want one start", got)
	}
}

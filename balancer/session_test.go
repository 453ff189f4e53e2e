package balancer

import (
	"net/netip"
	"testing"
	"unsafe"
)

// TestSessionSize guards the idle cost of a session: its struct is what an
// idle proxied connection costs in the loop's session pool (the pool holds
// structs, not allocations, so every byte counts), and 256 bytes is what it
// was when the idle cost in bench/README.md was measured.
func TestSessionSize(t *testing.T) {
	const limit = 256
	if n := unsafe.Sizeof(session{}); n > limit {
		t.Errorf("session is %d bytes, more than %d", n, limit)
	} else {
		t.Logf("session is %d bytes (limit %d), %d to a pool chunk", n, limit, poolChunkLen)
	}
}

// TestSessionPool: sessions come zeroed with their index, an index finds
// its session, a session put back is reused (no allocation per session),
// and the pool grows by chunks.
func TestSessionPool(t *testing.T) {
	var p sessionPool
	n := poolChunkLen + 3
	got := make([]*session, n)
	for i := range got {
		s := p.get()
		if s.idx != uint32(i) || s.next != nil || s.lp != nil {
			t.Fatalf("session %d: idx %d, next %p, lp %p", i, s.idx, s.next, s.lp)
		}
		if p.at(s.idx) != s {
			t.Fatalf("at(%d) is not the session got", s.idx)
		}
		s.state, s.tidx, s.client = stateClosed, 7, netip.MustParseAddrPort("192.0.2.1:5672")
		got[i] = s
	}
	if len(p.chunks) != 2 {
		t.Errorf("%d chunks for %d sessions, want 2", len(p.chunks), n)
	}
	if p.at(uint32(2*poolChunkLen)) != nil {
		t.Error("an index past the last chunk found a session")
	}
	p.put(got[5])
	s := p.get()
	if s != got[5] || s.idx != 5 || s.state != 0 || s.tidx != -1 || s.client.IsValid() {
		t.Errorf("reused session: %p (want %p), idx %d, state %d, tidx %d, client %v",
			s, got[5], s.idx, s.state, s.tidx, s.client)
	}
	if allocs := testing.AllocsPerRun(100, func() { p.put(p.get()) }); allocs != 0 {
		t.Errorf("get and put allocate %v times", allocs)
	}
}

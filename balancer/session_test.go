package balancer

import (
	"testing"
	"unsafe"
)

// TestSessionSize guards the idle cost of a session: its struct is what an
// idle proxied connection costs in the heap, so it must stay within the
// allocator's 352-byte size class (the one it had when the idle cost of
// 0.6-0.8 KiB per connection in bench/README.md was measured).
func TestSessionSize(t *testing.T) {
	const sizeClass = 352
	if n := unsafe.Sizeof(session{}); n > sizeClass {
		t.Errorf("session is %d bytes, more than the %d-byte size class", n, sizeClass)
	} else {
		t.Logf("session is %d bytes (size class %d)", n, sizeClass)
	}
}

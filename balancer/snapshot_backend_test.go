package balancer

import "testing"

// TestSnapshotBackend: a backend found by its name, none for another.
func TestSnapshotBackend(t *testing.T) {
	s := Snapshot{Backends: []BackendSnapshot{{Name: "rmq1", Weight: 1}, {Name: "rmq2", Weight: 2}}}
	if b, ok := s.Backend("rmq2"); !ok || b.Weight != 2 {
		t.Errorf("Backend(rmq2) = %+v, %v", b, ok)
	}
	if b, ok := s.Backend("rmq3"); ok {
		t.Errorf("Backend(rmq3) = %+v, found", b)
	}
}

package vrrpsoak

import "testing"

// TestKeepalivedTransitions: state lines are counted, and a log without
// any is an error, not zero transitions.
func TestKeepalivedTransitions(t *testing.T) {
	log := "Starting VRRP child process, pid=12\n" +
		"(VI_1) Entering BACKUP STATE (init)\n" +
		"(VI_1) received lower priority (50) advert from 10.77.0.3 - discarding\n" +
		"(VI_1) Entering MASTER STATE\n"
	if n, err := keepalivedTransitions(log); err != nil || n != 2 {
		t.Errorf("keepalivedTransitions = %d, %v; want 2", n, err)
	}
	if n, err := keepalivedTransitions("Starting VRRP child process, pid=12\n"); err == nil {
		t.Errorf("a log without state lines: %d transitions, no error", n)
	}
}

package control

import (
	"github.com/rmqlb/rmqlb/notify"
	"github.com/rmqlb/rmqlb/vrrp"
)

// VRRPAnswer is the daemon's answer to `vrrp release|ready NAME`: the
// instance's snapshot once it has applied the request.
type VRRPAnswer struct {
	vrrp.Snapshot
	// StateFileNote is BackendAdmin's.
	StateFileNote string `json:"state_file_note,omitempty"`
}

// VRRPAllAnswer is the daemon's answer to `vrrp release-all|ready-all`:
// the snapshots of every instance, in file order, once each has applied
// the request.
type VRRPAllAnswer struct {
	Instances []vrrp.Snapshot `json:"instances"`
	// StateFileNote is BackendAdmin's.
	StateFileNote string `json:"state_file_note,omitempty"`
}

// HookTest is the daemon's answer to `notify NAME STATE`: the outcome
// and output of the test run of instance Instance's hook.
type HookTest struct {
	Instance string `json:"instance"`
	notify.TestRun
}

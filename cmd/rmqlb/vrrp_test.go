package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/vrrp"
)

// TestVRRPCommands runs `rmqlb vrrp release|ready` against a control
// socket whose handler records the requests: the flags and arguments reach
// the daemon as the vrrp command, and the answer is told in one line.
func TestVRRPCommands(t *testing.T) {
	f := newFakeDaemon(t, func(req control.Request) (any, error) {
		if all, ok := strings.CutSuffix(req.Args[0], "-all"); ok {
			out := []vrrp.Snapshot{{Name: "vip", State: vrrp.StateMaster, EffectivePriority: 150}, {Name: "mgmt", State: vrrp.StateBackup, EffectivePriority: 100}}
			if all == "release" {
				for i := range out {
					out[i].Released, out[i].EffectivePriority = true, 0
				}
			}
			return control.VRRPAllAnswer{Instances: out}, nil
		}
		if req.Args[1] != "vip" && req.Args[1] != "unsaved" {
			return nil, errors.New("no such instance")
		}
		s := vrrp.Snapshot{Name: req.Args[1], State: vrrp.StateMaster, EffectivePriority: 150}
		if req.Args[0] == "release" {
			s.Released, s.EffectivePriority = true, 0
			if len(req.Args) == 3 {
				s.ReleasedUntil = time.Date(2030, 1, 2, 3, 4, 5, 0, time.Local)
			}
		}
		a := control.VRRPAnswer{Snapshot: s}
		if s.Name == "unsaved" {
			a.StateFileNote = "not kept across a restart: writing the state file /var/lib/rmqlb/state.json: read-only file system: this change lasts until the daemon stops"
		}
		return a, nil
	})
	sock := f.sock
	runCLICases(t, f, []cliCase{
		{[]string{"vrrp", "release", "--socket", sock, "vip"}, 0, []string{"vrrp", "release", "vip"},
			"vip: released until `rmqlb vrrp ready vip`; MASTER, advertising priority 0", ""},
		{[]string{"vrrp", "release", "--socket", sock, "vip", "--for", "90m"}, 0, []string{"vrrp", "release", "vip", "1h30m0s"},
			"vip: released until 2030-01-02 03:04:05; MASTER", ""},
		{[]string{"vrrp", "release", "--for", "5m", "--socket", sock, "vip"}, 0, []string{"vrrp", "release", "vip", "5m0s"}, "released until 2030", ""},
		{[]string{"vrrp", "ready", "--socket", sock, "vip"}, 0, []string{"vrrp", "ready", "vip"}, "vip: ready, MASTER with priority 150", ""},
		{[]string{"vrrp", "release", "--socket", sock, "unsaved"}, 0, []string{"vrrp", "release", "unsaved"}, "unsaved: released until",
			"rmqlb vrrp release: warning: not kept across a restart: writing the state file /var/lib/rmqlb/state.json: read-only file system: this change lasts until the daemon stops\n"},
		{[]string{"vrrp", "ready", "--socket", sock, "other"}, 1, []string{"vrrp", "ready", "other"}, "", "rmqlb vrrp ready: no such instance"},
		{[]string{"vrrp", "ready", "--socket", sock, "vip", "--for", "5m"}, 2, nil, "", "--for belongs to release"},
		{[]string{"vrrp", "release", "--socket", sock}, 2, nil, "", "usage:"},
		{[]string{"vrrp", "release", "--socket", sock, "a", "b"}, 2, nil, "", "usage:"},
		{[]string{"vrrp", "release", "--socket", sock, "vip", "--for", "-1m"}, 2, nil, "", "usage:"},
		{[]string{"vrrp", "release", "--socket", sock, "vip", "--for", "0s"}, 2, nil, "", "--for must be a positive duration"},
		{[]string{"vrrp", "flap", "vip"}, 2, nil, "", "usage:"},
		{[]string{"vrrp", "release", "--all", "--socket", sock}, 0, []string{"vrrp", "release-all"},
			"vip: released until `rmqlb vrrp ready vip`; MASTER, advertising priority 0: the best backup takes over and this host keeps the VIPs until it has announced them (watch `rmqlb status`)\nmgmt: released until `rmqlb vrrp ready mgmt`; BACKUP", ""},
		{[]string{"vrrp", "release", "--socket", sock, "--all", "--for", "1h"}, 0, []string{"vrrp", "release-all", "1h0m0s"}, "mgmt: released", ""},
		{[]string{"vrrp", "ready", "--all", "--socket", sock}, 0, []string{"vrrp", "ready-all"}, "vip: ready, MASTER with priority 150\nmgmt: ready, BACKUP with priority 100\n", ""},
		{[]string{"vrrp", "release", "--all", "--socket", sock, "vip"}, 2, nil, "", "usage:"},
		{[]string{"vrrp", "ready", "--all", "--socket", sock, "--for", "5m"}, 2, nil, "", "--for belongs to release"},
		{[]string{"vrrp"}, 2, nil, "", "usage:"},
	})
}

package control

import (
	"bytes"
	"testing"
	"time"
)

// TestUpgradePrint: the answer to rmqlb upgrade, for a person.
func TestUpgradePrint(t *testing.T) {
	for _, c := range []struct {
		u    Upgrade
		want string
	}{
		{Upgrade{Binary: "/usr/sbin/rmqlb", OldPID: 100, NewPID: 200, NewVersion: "1.2.0", Took: 183456 * time.Microsecond,
			Listeners: []string{"amqp", "mgmt"}, VRRP: []UpgradeVRRP{{Name: "vip", State: "MASTER"}, {Name: "vip2", State: "BACKUP", Released: true}, {Name: "vip3", State: "INIT"}},
			Sessions: 12, GracefulTimeout: 10 * time.Second},
			`upgraded: pid 200 (/usr/sbin/rmqlb) took over from pid 100 in 183ms
version: 1.2.0
listeners handed over: amqp, mgmt
vrrp vip: MASTER, carried on without a transition
vrrp vip2: BACKUP, released, carried on without a transition
vrrp vip3: started afresh by pid 200 (it was neither MASTER nor BACKUP)
pid 100 finishes its 12 sessions (at most 10s), then exits
`},
		{Upgrade{Binary: "/opt/rmqlb", OldPID: 1, NewPID: 2, Took: time.Millisecond,
			ConfigChange: &ConfigChange{Modified: time.Date(2026, 12, 4, 11, 0, 0, 0, time.UTC)}},
			`upgraded: pid 2 (/opt/rmqlb) took over from pid 1 in 1ms
config: the file changed 2026-12-04T11:00:00Z and was not loaded by pid 1: pid 2 runs it as it is now
pid 1 had no sessions left and exits
`},
		{Upgrade{Binary: "/opt/rmqlb", OldPID: 1, NewPID: 2, Took: time.Millisecond,
			ConfigChange: &ConfigChange{File: "/etc/rmqlb/allowed.lst", Field: "listeners[0].allowed_clients_file", Modified: time.Date(2026, 12, 4, 11, 0, 0, 0, time.UTC)}},
			`upgraded: pid 2 (/opt/rmqlb) took over from pid 1 in 1ms
config: /etc/rmqlb/allowed.lst (listeners[0].allowed_clients_file) changed 2026-12-04T11:00:00Z and was not loaded by pid 1: pid 2 runs it as it is now
pid 1 had no sessions left and exits
`},
		{Upgrade{Binary: "/opt/rmqlb", OldPID: 1, NewPID: 2, Took: time.Millisecond, Sessions: 2000, GracefulTimeout: time.Minute, CloseSpread: 50 * time.Second},
			`upgraded: pid 2 (/opt/rmqlb) took over from pid 1 in 1ms
pid 1 finishes its 2000 sessions (at most 1m0s, closing those left evenly over the last 50s), then exits
`},
		{Upgrade{Binary: "/opt/rmqlb", OldPID: 1, NewPID: 2, Took: time.Millisecond},
			`upgraded: pid 2 (/opt/rmqlb) took over from pid 1 in 1ms
pid 1 had no sessions left and exits
`},
		{Upgrade{Binary: "/opt/rmqlb", OldPID: 1, NewPID: 2, Took: time.Millisecond,
			VRRP: []UpgradeVRRP{{Name: "a", State: "MASTER", Fate: FateCarried}, {Name: "b", State: "BACKUP", Fate: FateAfresh},
				{Name: "c", State: "MASTER", Fate: FateRemoved}, {Name: "d", State: "FAULT", Fate: FateCarried}}},
			`upgraded: pid 2 (/opt/rmqlb) took over from pid 1 in 1ms
vrrp a: MASTER, carried on without a transition
vrrp b: started afresh by pid 2 (its interface, VRID or version changed in the file; it was BACKUP)
vrrp c: stopped, no longer in the file (it was MASTER, and handed its VIPs over)
vrrp d: started afresh by pid 2 (it was neither MASTER nor BACKUP)
pid 1 had no sessions left and exits
`},
	} {
		var b bytes.Buffer
		c.u.Print(&b)
		if b.String() != c.want {
			t.Errorf("got\n%s\nwant\n%s", b.String(), c.want)
		}
	}
}

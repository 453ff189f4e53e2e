package control

import (
	"bytes"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/netsetup"
	"github.com/rmqlb/rmqlb/vrrp"
)

// TestAssessExitCodes is the table of `rmqlb status`'s exit codes 0 and 1
// (2, for a daemon that does not answer, is the command's): each rule of
// Assess turns a healthy status degraded, and the states that are not
// faults leave it healthy.
func TestAssessExitCodes(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(*Status)
		code   int
		reason string // the only reason, when code is 1
	}{
		{"healthy", func(*Status) {}, ExitHealthy, ""},
		{"reload refused as a whole", func(s *Status) { s.Reload.Error = "line 3: listeners[0].bind: bad" },
			ExitDegraded, "last reload refused as a whole: line 3: listeners[0].bind: bad"},
		{"reload refused in part", func(s *Status) { s.Reload.Refused = []string{"listener mgmt: address in use"} },
			ExitDegraded, "last reload refused: listener mgmt: address in use"},
		{"reload needing a restart", func(s *Status) {
			s.Reload.Pending = []string{"line 7: vrrp_instances[0].interface: changed from eth0 to eth2: needs a restart"}
		}, ExitHealthy, ""},
		{"VRRP FAULT", func(s *Status) {
			s.VRRP[0].State, s.VRRP[0].Reason = vrrp.StateFault, "link down"
			s.VRRP[0].Addresses.VIPs[0].Present, s.VRRP[0].Addresses.VIPs[0].Owned = false, false // released
		},
			ExitDegraded, "VRRP rabbitmq FAULT: link down"},
		{"owner fault", func(s *Status) { s.VRRP[0].OwnerFault = "adding VIP: EPERM" },
			ExitDegraded, "VRRP rabbitmq owner fault: adding VIP: EPERM"},
		{"VIP-set fault", func(s *Status) { s.VRRP[0].Addresses.Fault = "putting back VIP: ENODEV" },
			ExitDegraded, "VIPs of rabbitmq fault: putting back VIP: ENODEV"},
		{"VIP-set fault that is the owner fault", func(s *Status) {
			s.VRRP[0].OwnerFault, s.VRRP[0].Addresses.Fault = "EPERM", "EPERM"
		}, ExitDegraded, "VRRP rabbitmq owner fault: EPERM"},
		{"VIP absent while MASTER", func(s *Status) { s.VRRP[0].Addresses.VIPs[0].Present = false },
			ExitDegraded, "VIP 10.77.0.100/24 absent from eth0 while MASTER (rabbitmq)"},
		{"VIP missing from the VIP set while MASTER", func(s *Status) { s.VRRP[0].Addresses.VIPs = nil },
			ExitDegraded, "VIP 10.77.0.100/24 absent from eth0 while MASTER (rabbitmq)"},
		{"VIP absent while BACKUP", func(s *Status) {
			s.VRRP[0].State = vrrp.StateBackup
			s.VRRP[0].Addresses.VIPs[0].Present = false
		}, ExitHealthy, ""},
		{"VRRP INIT", func(s *Status) { s.VRRP[0].State = vrrp.StateInit }, ExitHealthy, ""},
		{"starting, in a bounded step", func(s *Status) {
			s.Started = s.Now.Add(-2 * time.Second)
			s.Starting = &Starting{Step: "waiting for the first health checks before VRRP", Until: s.Now.Add(3 * time.Second)}
		}, ExitDegraded, "starting for 2s: waiting for the first health checks before VRRP, for at most 3s more"},
		{"stopping, in a bounded step, not listening", func(s *Status) {
			s.Stopping = &Stopping{Since: s.Now.Add(-time.Second), Step: "finishing the listeners' sessions", Until: s.Now.Add(9 * time.Second)}
			s.Listeners[0].Listening = false
		}, ExitDegraded, "stopping for 1s: finishing the listeners' sessions, for at most 9s more"},
		{"stopping, past the bound", func(s *Status) {
			s.Stopping = &Stopping{Since: s.Now.Add(-11 * time.Second), Step: "finishing the listeners' sessions", Until: s.Now.Add(-time.Second)}
		}, ExitDegraded, "stopping for 11s: finishing the listeners' sessions, for at most 0s more"},
		{"stopping, in a step without a bound", func(s *Status) {
			s.Stopping = &Stopping{Since: s.Now, Step: "stopping the VRRP instances"}
		}, ExitDegraded, "stopping for 0s: stopping the VRRP instances"},
		{"starting, in a step without a bound", func(s *Status) {
			s.Started = s.Now.Add(-2 * time.Second)
			s.Starting = &Starting{Step: "waiting for the VRRP instances to open their sockets"}
		}, ExitDegraded, "starting for 2s: waiting for the VRRP instances to open their sockets"},
		{"backend DOWN", func(s *Status) {
			s.Listeners[0].Backends[1].State = backend.Down
			s.Checks[1].Reason = "3 consecutive failures: connection refused"
			s.Checks[1].LastError = "connection refused"
		}, ExitDegraded, "backend amqp/rmq2 DOWN (3 consecutive failures: connection refused)"},
		{"backend DOWN, failing since for another reason", func(s *Status) {
			s.Listeners[0].Backends[1].State = backend.Down
			s.Checks[1].Reason = "3 consecutive failures: connection refused"
			s.Checks[1].LastError = "403 ACCESS_REFUSED"
		}, ExitDegraded, "backend amqp/rmq2 DOWN (3 consecutive failures: connection refused [last failure: 403 ACCESS_REFUSED])"},
		{"VRRP instance that flaps", func(s *Status) {
			in := &s.VRRP[0]
			in.RecentTransitions = changesTo(vrrp.StateMaster, s.Now.Add(-20*time.Minute), s.Now.Add(-9*time.Minute), s.Now.Add(-6*time.Minute), s.Now.Add(-4*time.Minute), s.Now.Add(-time.Minute), s.Now.Add(-30*time.Second))
		}, ExitDegraded, "VRRP rabbitmq flaps: it changed state 5 times in the last 10m0s, the last 30s ago (to MASTER: master 10.77.0.1 silent for master down interval): each change moves the VIPs, and their clients reconnect; see why on each host of the group (rmqlb status --verbose lists each change with its reason)"},
		{"released, MASTER with no other router taking over", func(s *Status) {
			in := &s.VRRP[0]
			in.AdvertInterval, in.Released, in.ReleasedSince = time.Second, true, s.Now.Add(-6*time.Second)
		}, ExitDegraded, "VRRP rabbitmq released 6s ago but MASTER for 6s: no other router has taken over (does rmqlb or keepalived with VRID 1 run on the other hosts, not released there too, and do this host's adverts reach them?); this host keeps the VIPs and serves their clients until one does: do not stop this host's broker yet"},
		{"released, MASTER at long advert intervals", func(s *Status) {
			in := &s.VRRP[0]
			in.AdvertInterval, in.Released, in.ReleasedSince = 3*time.Second, true, s.Now.Add(-11*time.Second)
		}, ExitHealthy, ""},
		{"released, MASTER for less than five seconds", func(s *Status) {
			in := &s.VRRP[0]
			in.AdvertInterval, in.Released, in.ReleasedSince = time.Second, true, s.Now.Add(-4*time.Second)
		}, ExitHealthy, ""},
		{"released long ago, MASTER again as the last resort", func(s *Status) {
			in := &s.VRRP[0]
			in.AdvertInterval, in.Released, in.ReleasedSince, in.Since = time.Second, true, s.Now.Add(-time.Hour), s.Now.Add(-2*time.Second)
		}, ExitHealthy, ""},
		{"released long ago, MASTER again as the last resort for a while", func(s *Status) {
			in := &s.VRRP[0]
			in.AdvertInterval, in.Released, in.ReleasedSince, in.Since = time.Second, true, s.Now.Add(-time.Hour), s.Now.Add(-10*time.Second)
		}, ExitDegraded, "VRRP rabbitmq released 1h0m0s ago but MASTER for 10s: no other router has taken over (does rmqlb or keepalived with VRID 1 run on the other hosts, not released there too, and do this host's adverts reach them?); this host keeps the VIPs and serves their clients until one does: do not stop this host's broker yet"},
		{"released and BACKUP", func(s *Status) {
			in := &s.VRRP[0]
			in.State, in.Released, in.ReleasedSince = vrrp.StateBackup, true, s.Now.Add(-time.Hour)
			in.Addresses.VIPs[0].Present, in.Addresses.VIPs[0].Owned = false, false
		}, ExitHealthy, ""},
		{"VRRP instance that changed state four times", func(s *Status) {
			s.VRRP[0].RecentTransitions = changesTo(vrrp.StateMaster, s.Now.Add(-10*time.Minute), s.Now.Add(-6*time.Minute), s.Now.Add(-4*time.Minute), s.Now.Add(-time.Minute), s.Now.Add(-30*time.Second))
		}, ExitHealthy, ""},
		{"backend that flaps", func(s *Status) {
			s.Checks[1].RecentDowns = []time.Time{s.Now.Add(-20 * time.Minute), s.Now.Add(-9 * time.Minute), s.Now.Add(-4 * time.Minute), s.Now.Add(-2 * time.Minute)}
			s.Checks[1].LastError = "waiting for Connection.Start: timeout"
		}, ExitDegraded, "backend amqp/rmq2 flaps: its checks took it DOWN 3 times in the last 10m0s, the last 2m0s ago (last failure: waiting for Connection.Start: timeout): each DOWN closes its sessions (unless on_marked_down keeps them) and its clients reconnect; find why its checks fail (rmqlb status --verbose lists its latest changes)"},
		{"backend that flaps more often than the status keeps", func(s *Status) {
			for i := range healthcheck.RecentDownsKept {
				s.Checks[1].RecentDowns = append(s.Checks[1].RecentDowns, s.Now.Add(time.Duration(i-healthcheck.RecentDownsKept)*time.Minute))
			}
			s.Checks[1].LastError = "EOF"
		}, ExitDegraded, "backend amqp/rmq2 flaps: its checks took it DOWN 8 or more times in the last 10m0s, the last 1m0s ago (last failure: EOF): each DOWN closes its sessions (unless on_marked_down keeps them) and its clients reconnect; find why its checks fail (rmqlb status --verbose lists its latest changes)"},
		{"backend that flapped more than ten minutes ago", func(s *Status) {
			s.Checks[1].RecentDowns = []time.Time{s.Now.Add(-11 * time.Minute), s.Now.Add(-10 * time.Minute), s.Now.Add(-4 * time.Minute), s.Now.Add(-2 * time.Minute)}
		}, ExitHealthy, ""},
		{"backend that flaps, in DRAIN", func(s *Status) {
			s.Listeners[0].Backends[1].State = backend.Drain
			s.Checks[1].RecentDowns = []time.Time{s.Now.Add(-3 * time.Minute), s.Now.Add(-2 * time.Minute), s.Now.Add(-time.Minute)}
			s.Checks[1].LastError = "EOF"
		}, ExitDegraded, "backend amqp/rmq2 flaps: its checks took it DOWN 3 times in the last 10m0s, the last 1m0s ago (last failure: EOF): each DOWN closes its sessions (unless on_marked_down keeps them) and its clients reconnect; find why its checks fail (rmqlb status --verbose lists its latest changes)"},
		{"backend that flaps, in MAINT", func(s *Status) {
			s.Listeners[0].Backends[1].State = backend.Maint
			s.Checks[1].RecentDowns = []time.Time{s.Now.Add(-3 * time.Minute), s.Now.Add(-2 * time.Minute), s.Now.Add(-time.Minute)}
		}, ExitHealthy, ""},
		{"backend that flaps, DOWN now", func(s *Status) {
			s.Listeners[0].Backends[1].State = backend.Down
			s.Checks[1].Reason = "3 consecutive failures: connection refused"
			s.Checks[1].LastError = "connection refused"
			s.Checks[1].RecentDowns = []time.Time{s.Now.Add(-3 * time.Minute), s.Now.Add(-2 * time.Minute), s.Now.Add(-time.Second)}
		}, ExitDegraded, "backend amqp/rmq2 DOWN (3 consecutive failures: connection refused; its checks took it DOWN 3 times in the last 10m0s: it flaps)"},
		{"backend DOWN twice", func(s *Status) {
			s.Checks[1].RecentDowns = []time.Time{s.Now.Add(-3 * time.Minute), s.Now.Add(-time.Second)}
		}, ExitHealthy, ""},
		{"unchecked backend DOWN", func(s *Status) {
			s.Listeners[0].Backends[1].State, s.Listeners[0].Backends[1].LastChangeReason = backend.Down, "test"
			s.Checks = nil
		}, ExitDegraded, "backend amqp/rmq2 DOWN (test)"},
		{"backend DEGRADED", func(s *Status) {
			s.Listeners[0].Backends[0].State = backend.Degraded
			s.Checks[0].Reason = "memory alarm"
		}, ExitDegraded, "backend amqp/rmq1 DEGRADED (memory alarm)"},
		{"backend DRAIN", func(s *Status) { s.Listeners[0].Backends[0].State = backend.Drain }, ExitHealthy, ""},
		{"backend MAINT", func(s *Status) { s.Listeners[0].Backends[0].State = backend.Maint }, ExitHealthy, ""},
		{"every backend DRAIN or MAINT", func(s *Status) {
			for i := range s.Listeners[0].Backends {
				s.Listeners[0].Backends[i].State = backend.Drain
			}
			s.Listeners[0].Backends[0].State = backend.Maint
		}, ExitDegraded, "listener amqp: every backend is DRAIN, MAINT or at weight 0, no client can be served"},
		{"every backend at weight 0", func(s *Status) {
			for i := range s.Listeners[0].Backends {
				s.Listeners[0].Backends[i].Weight = 0
			}
		}, ExitDegraded, "listener amqp: every backend is DRAIN, MAINT or at weight 0, no client can be served"},
		{"one backend up at weight 0, one DRAIN", func(s *Status) {
			s.Listeners[0].Backends = s.Listeners[0].Backends[:2]
			s.Listeners[0].Backends[0].Weight = 0
			s.Listeners[0].Backends[1].State = backend.Drain
		}, ExitDegraded, "listener amqp: every backend is DRAIN, MAINT or at weight 0, no client can be served"},
		{"some backends at weight 0", func(s *Status) { s.Listeners[0].Backends[0].Weight = 0 }, ExitHealthy, ""},
		{"VIP left on a BACKUP", func(s *Status) {
			s.VRRP[0].State = vrrp.StateBackup
			s.VRRP[0].Addresses.VIPs[0].Owned = true
		}, ExitDegraded, "VIP 10.77.0.100/24 still on eth0 while BACKUP (rabbitmq): releasing it again"},
		{"VIP added by another program on a BACKUP", func(s *Status) {
			s.VRRP[0].State = vrrp.StateBackup
			s.VRRP[0].Addresses.VIPs[0].Owned, s.VRRP[0].Addresses.VIPs[0].Marked = false, false
		}, ExitDegraded, "VIP 10.77.0.100/24 on eth0 while BACKUP (rabbitmq), added by another program: it answers ARP beside the master; remove it"},
		{"VIP with rmqlb's marker left on a BACKUP", func(s *Status) {
			s.VRRP[0].State = vrrp.StateBackup
			s.VRRP[0].Addresses.VIPs[0].Owned = false
		}, ExitDegraded, "VIP 10.77.0.100/24 on eth0 while BACKUP (rabbitmq), with rmqlb's marker but not added by this daemon (left by an earlier run?): it answers ARP beside the master; remove it"},
		{"VIP that cannot be marked on a BACKUP", func(s *Status) {
			s.VRRP[0].State = vrrp.StateBackup
			v := &s.VRRP[0].Addresses.VIPs[0]
			v.Owned, v.Marked, v.Marker = false, false, netsetup.MarkerBookkeeping
		}, ExitDegraded, "VIP 10.77.0.100/24 on eth0 while BACKUP (rabbitmq), which this kernel cannot mark (left by an earlier run of rmqlb, or added by another program): it answers ARP beside the master; remove it"},
		{"addresses not readable on a MASTER", func(s *Status) {
			s.VRRP[0].Addresses.Error = "reading addresses of eth0: too many open files"
			s.VRRP[0].Addresses.VIPs[0].Present = false
		}, ExitDegraded, "VIPs of rabbitmq unknown: reading addresses of eth0: too many open files"},
		{"VIP still on a BACKUP that just left MASTER", func(s *Status) {
			s.VRRP[0].State = vrrp.StateBackup
			s.VRRP[0].Addresses.VIPs[0].Owned = true
			s.VRRP[0].Since = s.Now.Add(-time.Second)
		}, ExitHealthy, ""},
		{"VIP kept by a BACKUP handing it over", func(s *Status) {
			s.VRRP[0].State = vrrp.StateBackup
			s.VRRP[0].Addresses.VIPs[0].Owned = true
			s.VRRP[0].Handover = &vrrp.Handover{}
		}, ExitHealthy, ""},
		{"adverts of our VRID refused", func(s *Status) {
			s.VRRP[0].Refused = &vrrp.RefusedAdvert{From: netip.MustParseAddr("10.77.0.2"), Priority: 100,
				Reason: vrrp.DropAuth, At: s.Now.Add(-1500 * time.Millisecond), Count: 40}
		}, ExitDegraded, "VRRP rabbitmq: adverts of VRID 1 from 10.77.0.2 (priority 100) dropped, its authentication (auth_type, auth_pass) differs, the last 2s ago: that router is MASTER unheard by this one (split brain if both hold the VIPs)"},
		{"adverts of our VRID with other VIPs, sharing one", func(s *Status) {
			s.VRRP[0].Differing = &vrrp.DifferingAddrs{From: netip.MustParseAddr("10.77.0.2"), Priority: 100,
				Addrs: []netip.Addr{netip.MustParseAddr("10.77.0.100"), netip.MustParseAddr("10.77.0.101")},
				Since: s.Now.Add(-time.Minute), At: s.Now.Add(-1500 * time.Millisecond), Count: 60}
		}, ExitDegraded, "VRRP rabbitmq: adverts of VRID 1 from 10.77.0.2 (priority 100) list the VIPs 10.77.0.100, 10.77.0.101, this host's virtual_ipaddress 10.77.0.100, the last 2s ago: accepted, as they share 10.77.0.100; make the lists agree on every host of the group (a reload that changes them not made everywhere yet?): a host that takes over holds only the VIPs of its own list"},
		{"adverts with other VIPs, no longer heard", func(s *Status) {
			s.VRRP[0].Differing = &vrrp.DifferingAddrs{From: netip.MustParseAddr("10.77.0.2"), Priority: 100,
				Addrs: []netip.Addr{netip.MustParseAddr("10.77.0.100")}, Since: s.Now.Add(-time.Minute), At: s.Now.Add(-10 * time.Second), Count: 50}
		}, ExitHealthy, ""},
		{"a VIP announced by another host", func(s *Status) {
			s.VRRP[0].Conflict = &vrrp.VIPConflict{Addr: s.VRRP[0].Addresses.VIPs[0].Prefix.Addr(), At: s.Now.Add(-9 * time.Minute), Count: 2}
			s.VRRP[0].Addresses.VIPs[0].LastPeerMAC = "02:00:00:00:00:09"
		}, ExitDegraded, "VIP 10.77.0.100 of rabbitmq announced by the host with MAC 02:00:00:00:00:09 while this host is MASTER, the last 9m0s ago (2 since start): it holds the address too, and the clients that hear it send their packets there; remove the address there"},
		{"a VIP announced by another host, long ago", func(s *Status) {
			s.VRRP[0].Conflict = &vrrp.VIPConflict{Addr: s.VRRP[0].Addresses.VIPs[0].Prefix.Addr(), At: s.Now.Add(-10 * time.Minute), Count: 2}
		}, ExitHealthy, ""},
		{"a lower-priority master that gave way", func(s *Status) {
			s.VRRP[0].LowerMaster = &vrrp.LowerMasterHeard{From: netip.MustParseAddr("10.77.0.2"), Priority: 100,
				At: s.Now.Add(-2 * time.Second), Since: s.Now.Add(-5 * time.Second), Count: 2}
		}, ExitHealthy, ""},
		{"a lower-priority master that keeps on", func(s *Status) {
			s.VRRP[0].LowerMaster = &vrrp.LowerMasterHeard{From: netip.MustParseAddr("10.77.0.2"), Priority: 100,
				At: s.Now.Add(-2 * time.Second), Since: s.Now.Add(-32 * time.Second), Count: 9}
		}, ExitDegraded, "VRRP rabbitmq: 10.77.0.2 (priority 100) has advertised as MASTER beside this MASTER for 30s, the last 2s ago, despite its answers: it does not hear this host (a firewall that drops VRRP on input there, a link that carries one way), and both hold the VIPs (split brain)"},
		{"a lower-priority master that kept on, and stopped", func(s *Status) {
			s.VRRP[0].LowerMaster = &vrrp.LowerMasterHeard{From: netip.MustParseAddr("10.77.0.2"), Priority: 100,
				At: s.Now.Add(-12 * time.Second), Since: s.Now.Add(-42 * time.Second), Count: 9}
		}, ExitHealthy, ""},
		{"adverts that cannot be sent", func(s *Status) {
			s.VRRP[0].SendFailing = &vrrp.SendFailure{Dst: netip.MustParseAddr("10.77.0.2"), Error: "sending VRRP advert to 10.77.0.2: no route to host",
				Since: s.Now.Add(-30 * time.Second), At: s.Now.Add(-time.Second), Failed: 300}
		}, ExitDegraded, "VRRP rabbitmq: adverts to 10.77.0.2 cannot be sent (sending VRRP advert to 10.77.0.2: no route to host), 300 failed since 30s ago, the last 1s ago: the routers there do not hear this one, and a BACKUP among them takes over beside a MASTER here (split brain); check the route and the firewall (IP protocol 112) to them"},
		{"adverts that could not be sent, long ago", func(s *Status) {
			s.VRRP[0].State = vrrp.StateBackup
			s.VRRP[0].Addresses.VIPs[0].Present, s.VRRP[0].Addresses.VIPs[0].Owned = false, false
			s.VRRP[0].SendFailing = &vrrp.SendFailure{Dst: netip.MustParseAddr("10.77.0.2"), Error: "sending VRRP advert to 10.77.0.2: no route to host",
				Since: s.Now.Add(-time.Minute), At: s.Now.Add(-10 * time.Second), Failed: 50}
		}, ExitHealthy, ""},
		{"adverts of our VRID refused, long ago", func(s *Status) {
			s.VRRP[0].Refused = &vrrp.RefusedAdvert{From: netip.MustParseAddr("10.77.0.2"), Priority: 100,
				Reason: vrrp.DropAuth, At: s.Now.Add(-10 * time.Second), Count: 40}
		}, ExitHealthy, ""},
		{"adverts refused within three of the refused router's long intervals", func(s *Status) {
			s.VRRP[0].AdvertInterval = time.Second
			s.VRRP[0].Refused = &vrrp.RefusedAdvert{From: netip.MustParseAddr("10.77.0.2"), Priority: 100, AdvertInterval: 20 * time.Second,
				Reason: vrrp.DropIntervalMismatch, At: s.Now.Add(-25 * time.Second), Count: 3}
		}, ExitDegraded, "VRRP rabbitmq: adverts of VRID 1 from 10.77.0.2 (priority 100) dropped, its advert_interval differs (VRRPv2 requires the same), the last 25s ago: that router is MASTER unheard by this one (split brain if both hold the VIPs)"},
		{"adverts refused more than three of either interval ago", func(s *Status) {
			s.VRRP[0].AdvertInterval = time.Second
			s.VRRP[0].Refused = &vrrp.RefusedAdvert{From: netip.MustParseAddr("10.77.0.2"), Priority: 100, AdvertInterval: 5 * time.Second,
				Reason: vrrp.DropIntervalMismatch, At: s.Now.Add(-16 * time.Second), Count: 3}
		}, ExitHealthy, ""},
		{"adverts refused within three long intervals", func(s *Status) {
			s.VRRP[0].AdvertInterval = 5 * time.Second
			s.VRRP[0].Refused = &vrrp.RefusedAdvert{From: netip.MustParseAddr("10.77.0.2"), Priority: 100,
				Reason: vrrp.DropNotPeer, At: s.Now.Add(-14 * time.Second), Count: 1}
		}, ExitDegraded, "VRRP rabbitmq: adverts of VRID 1 from 10.77.0.2 (priority 100) dropped, it is not among the allowed or unicast peers, the last 14s ago: that router is MASTER unheard by this one (split brain if both hold the VIPs)"},
		{"checks inconclusive", func(s *Status) {
			s.Checks[0].InconclusiveSince = s.Now.Add(-4 * time.Second)
			s.Checks[0].LastInconclusive = "local shortage: dialing: socket: too many open files"
		}, ExitDegraded, "checks of amqp/rmq1 cannot be made on this host for 4s (local shortage: dialing: socket: too many open files): its state UP is kept, not known"},
		{"listener not listening", func(s *Status) { s.Listeners[0].Listening = false },
			ExitDegraded, "listener amqp not listening on 10.77.0.100:5672"},
		{"nothing configured", func(s *Status) { s.VRRP, s.Listeners, s.Checks, s.Reload = nil, nil, nil, nil }, ExitHealthy, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := healthyFixture()
			c.change(&s)
			v := Assess(s)
			if v.ExitCode() != c.code {
				t.Fatalf("exit code %d, want %d; reasons %q", v.ExitCode(), c.code, v.Reasons)
			}
			if v.Reasons == nil {
				t.Error("Reasons is nil")
			}
			if c.code == ExitHealthy {
				if v.Degraded || len(v.Reasons) != 0 || v.Line() != v.Summary {
					t.Errorf("healthy verdict %+v, line %q", v, v.Line())
				}
				return
			}
			if !v.Degraded || !slices.Equal(v.Reasons, []string{c.reason}) {
				t.Errorf("reasons %q, want [%q]", v.Reasons, c.reason)
			}
			if want := "DEGRADED: " + c.reason; v.Line() != want {
				t.Errorf("line %q, want %q", v.Line(), want)
			}
		})
	}
}

// TestVerdictOf: the daemon's verdict, reached on its own clock, stands
// over the client's Assess of the same status (whose times travelled as
// wall-clock readings); a status without one is assessed.
func TestVerdictOf(t *testing.T) {
	s := healthyFixture()
	s.VRRP[0].Refused = &vrrp.RefusedAdvert{From: netip.MustParseAddr("10.77.0.2"), Priority: 100,
		Reason: vrrp.DropAuth, At: s.Now.Add(-time.Second), Count: 1}
	s.Verdict = Verdict{Summary: "MASTER of 10.77.0.100 (rabbitmq); 3/3 backends up", Reasons: []string{}}
	if v := VerdictOf(s); v.Degraded || v.Summary != s.Verdict.Summary {
		t.Errorf("with the daemon's verdict: %+v, want it", v)
	}
	s.Verdict = Verdict{}
	if v := VerdictOf(s); !v.Degraded {
		t.Errorf("without the daemon's verdict: %+v, want Assess's (degraded)", v)
	}
}

// TestAssessSummary: the state in one line, for one and several
// instances and listeners.
func TestAssessSummary(t *testing.T) {
	s := healthyFixture()
	if got, want := Assess(s).Summary, "MASTER of 10.77.0.100 (rabbitmq); 3/3 backends up"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	full := fullFixture()
	if got, want := Assess(full).Summary, "BACKUP (rabbitmq), master 10.77.0.1 priority 150; MASTER of 10.77.0.101, fd00:77::101 (mgmt, released); "+
		"amqp 1/3 backends up (1 DRAIN), mgmt 0/0 backends up"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	s.VRRP[0].State, s.VRRP[0].Master = vrrp.StateBackup, nil
	s.Listeners[0].Backends[0].State = backend.Maint
	if got, want := Assess(s).Summary, "BACKUP (rabbitmq), no master heard; 2/3 backends up (1 MAINT)"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	s.Starting = &Starting{Step: "starting the listeners"}
	if got, want := Assess(s).Summary, "starting; BACKUP (rabbitmq), no master heard; 2/3 backends up (1 MAINT)"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	s.Starting, s.Stopping = nil, &Stopping{Since: s.Now, Step: "stopping the VRRP instances"}
	if got, want := Assess(s).Summary, "stopping; BACKUP (rabbitmq), no master heard; 2/3 backends up (1 MAINT)"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	if got, want := Assess(Status{}).Summary, "no VRRP instance, no listener"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
}

// TestAssessLineBound: the verdict line names three reasons and counts
// the rest; Reasons keeps them all.
func TestAssessLineBound(t *testing.T) {
	s := healthyFixture()
	for i := range s.Listeners[0].Backends {
		s.Listeners[0].Backends[i].State = backend.Down
	}
	s.Listeners[0].Listening = false
	v := Assess(s)
	if len(v.Reasons) != 5 {
		t.Fatalf("reasons %q, want 5", v.Reasons)
	}
	if l := v.Line(); !strings.HasSuffix(l, "; and 2 more") || strings.Contains(l, "backend amqp/rmq2") {
		t.Errorf("line %q", l)
	}
}

// TestAssessSummaryWeightZero: a backend UP at weight 0 takes no new
// connections, so the summary does not count it up but names it beside
// the operator's states; every backend at weight 0 reads "0/3 backends
// up", not "3/3", under the reason that no client can be served.
func TestAssessSummaryWeightZero(t *testing.T) {
	s := healthyFixture()
	bs := s.Listeners[0].Backends
	bs[0].Weight, bs[0].WeightOverride = 0, true
	if v := Assess(s); v.Degraded || v.Summary != "MASTER of 10.77.0.100 (rabbitmq); 2/3 backends up (1 at weight 0)" {
		t.Errorf("one backend at weight 0: %+v", v)
	}
	bs[1].State = backend.Drain
	for i := range bs {
		bs[i].Weight = 0
	}
	v := Assess(s)
	if want := "MASTER of 10.77.0.100 (rabbitmq); 0/3 backends up (1 DRAIN, 2 at weight 0)"; v.Summary != want {
		t.Errorf("summary %q, want %q", v.Summary, want)
	}
	if !v.Degraded || len(v.Reasons) != 1 || !strings.Contains(v.Reasons[0], "no client can be served") {
		t.Errorf("every backend at weight 0 or DRAIN: reasons %q", v.Reasons)
	}
}

// TestAssessBackendLoopsBack: a backend whose address turned out to be
// the listener's own is named as a reason (exit 1), is not counted up
// whatever its check says, and the table shows it as LOOP.
func TestAssessBackendLoopsBack(t *testing.T) {
	s := healthyFixture()
	s.Listeners[0].Backends[1].LoopsBack = true
	v := Assess(s)
	if want := "MASTER of 10.77.0.100 (rabbitmq); 2/3 backends up (1 looping back)"; v.Summary != want {
		t.Errorf("summary %q, want %q", v.Summary, want)
	}
	want := "backend amqp/rmq2: its address 10.77.0.2:5672 is this host's own, where listener amqp listens (bind 10.77.0.100:5672): not used, as the proxy would connect to itself; give it a broker's address and reload"
	if !v.Degraded || len(v.Reasons) != 1 || v.Reasons[0] != want {
		t.Errorf("reasons %q, want [%q]", v.Reasons, want)
	}
	s.Verdict = v
	var b bytes.Buffer
	if err := Format(&b, s, FormatOptions{}); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`rmq2 +10\.77\.0\.2:5672 +LOOP .*its address is this listener's own: not used until a reload`).MatchString(b.String()) {
		t.Errorf("status table lacks the LOOP row:\n%s", b.String())
	}
}

// TestAssessNoBackendServes: when no backend of a listener serves and at
// least one of them is out by a fault (DOWN, looping back) rather than by
// the operator, the listener's reason comes first and names each backend
// with its state: the reasons of the backends that follow do not say that
// new clients are closed at once. Where one backend still serves, or a
// backup takes the clients, there is no such reason.
func TestAssessNoBackendServes(t *testing.T) {
	down := func(s *Status, i int) {
		s.Listeners[0].Backends[i].State = backend.Down
		s.Checks[i].Reason = "3 consecutive failures: connection refused"
	}
	for _, tc := range []struct {
		name   string
		change func(*Status)
		want   []string // the reasons' prefixes, in order
	}{
		{"every backend DOWN", func(s *Status) {
			for i := range s.Listeners[0].Backends {
				down(s, i)
			}
		}, []string{"listener amqp: no backend serves (rmq1 DOWN, rmq2 DOWN, rmq3 DOWN): new clients are closed at once",
			"backend amqp/rmq1 DOWN", "backend amqp/rmq2 DOWN", "backend amqp/rmq3 DOWN"}},
		{"one DRAIN, one MAINT, one DOWN", func(s *Status) {
			s.Listeners[0].Backends[0].State = backend.Drain
			s.Listeners[0].Backends[1].State = backend.Maint
			down(s, 2)
		}, []string{"listener amqp: no backend serves (rmq1 DRAIN, rmq2 MAINT, rmq3 DOWN): new clients are closed at once",
			"backend amqp/rmq3 DOWN"}},
		{"one at weight 0, one looping back, one DOWN", func(s *Status) {
			s.Listeners[0].Backends[0].Weight = 0
			s.Listeners[0].Backends[1].LoopsBack = true
			down(s, 2)
		}, []string{"listener amqp: no backend serves (rmq1 at weight 0, rmq2 LOOP, rmq3 DOWN): new clients are closed at once",
			"backend amqp/rmq2: its address", "backend amqp/rmq3 DOWN"}},
		{"two DOWN, one DRAIN at weight 0", func(s *Status) {
			down(s, 0)
			down(s, 1)
			s.Listeners[0].Backends[2].State, s.Listeners[0].Backends[2].Weight = backend.Drain, 0
		}, []string{"listener amqp: no backend serves (rmq1 DOWN, rmq2 DOWN, rmq3 DRAIN): new clients are closed at once",
			"backend amqp/rmq1 DOWN", "backend amqp/rmq2 DOWN"}},
		{"two DOWN, one DEGRADED serves", func(s *Status) {
			down(s, 0)
			down(s, 1)
			s.Listeners[0].Backends[2].State = backend.Degraded
			s.Checks[2].Reason = "memory alarm"
		}, []string{"backend amqp/rmq1 DOWN", "backend amqp/rmq2 DOWN", "backend amqp/rmq3 DEGRADED"}},
		{"active backends DOWN, a backup serves", func(s *Status) {
			down(s, 0)
			down(s, 1)
			s.Listeners[0].Backends[2].Backup = true
		}, []string{"listener amqp: no active backend serves: new clients go to backup rmq3", "backend amqp/rmq1 DOWN", "backend amqp/rmq2 DOWN"}},
	} {
		s := healthyFixture()
		tc.change(&s)
		v := Assess(s)
		ok := v.Degraded && len(v.Reasons) == len(tc.want)
		for i := 0; ok && i < len(tc.want); i++ {
			ok = strings.HasPrefix(v.Reasons[i], tc.want[i])
		}
		if !ok {
			t.Errorf("%s: reasons\n%q\nwant them to start with\n%q", tc.name, v.Reasons, tc.want)
		}
	}
}

// TestAssessOpenFiles: nine tenths of the open-files limit in use is a
// reason (exit 1); below it, or unknown, is not.
func TestAssessOpenFiles(t *testing.T) {
	for _, tc := range []struct {
		files *OpenFiles
		want  string
	}{
		{nil, ""},
		{&OpenFiles{Open: 17999, Limit: 20000}, ""},
		{&OpenFiles{Open: 18000, Limit: 20000}, "18000 open files of the limit 20000: once they run out new clients are refused (fd_limit) and checks cannot be made; raise LimitNOFILE or lower maxconn"},
		{&OpenFiles{Open: 20000, Limit: 20000}, "20000 open files of the limit 20000"},
	} {
		s := healthyFixture()
		s.OpenFiles = tc.files
		v := Assess(s)
		switch {
		case tc.want == "" && v.Degraded:
			t.Errorf("%+v: degraded %q, want healthy", tc.files, v.Reasons)
		case tc.want != "" && (len(v.Reasons) != 1 || !strings.HasPrefix(v.Reasons[0], tc.want)):
			t.Errorf("%+v: reasons %q, want one starting %q", tc.files, v.Reasons, tc.want)
		}
	}
}

// TestFormatBackupBackend: a backup backend is named as one in the status
// table, and counts as any backend in the verdict.
func TestFormatBackupBackend(t *testing.T) {
	s := healthyFixture()
	s.Listeners[0].Backends[1].Backup = true
	s.Verdict = Assess(s)
	if s.Verdict.Degraded {
		t.Errorf("a healthy backup degrades the verdict: %q", s.Verdict.Reasons)
	}
	var b bytes.Buffer
	if err := Format(&b, s, FormatOptions{}); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^ *rmq2 \(backup\) +10\.77\.0\.2:5672 +UP`).MatchString(b.String()) {
		t.Errorf("status table lacks the backup row:\n%s", b.String())
	}
	if strings.Contains(b.String(), "rmq1 (backup)") {
		t.Errorf("an active backend shown as a backup:\n%s", b.String())
	}
}

// TestAssessServingFromBackup: while no active backend serves, the
// verdict names the backups that take the new clients: the first serving
// one, or each with all_backups; none while an active one serves.
func TestAssessServingFromBackup(t *testing.T) {
	for _, tc := range []struct {
		name    string
		backups []int
		down    []int
		all     bool
		want    string
	}{
		{name: "actives serve", backups: []int{2}, down: []int{0}},
		{name: "actives down", backups: []int{2}, down: []int{0, 1}, want: "listener amqp: no active backend serves: new clients go to backup rmq3"},
		{name: "first serving backup", backups: []int{1, 2}, down: []int{0}, want: "go to backup rmq2"},
		{name: "first backup down too", backups: []int{1, 2}, down: []int{0, 1}, want: "go to backup rmq3"},
		{name: "all_backups", backups: []int{1, 2}, down: []int{0}, all: true, want: "go to backup rmq2, rmq3"},
		{name: "every backend down", backups: []int{2}, down: []int{0, 1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := healthyFixture()
			l := &s.Listeners[0]
			l.AllBackups = tc.all
			for _, i := range tc.backups {
				l.Backends[i].Backup = true
			}
			for _, i := range tc.down {
				l.Backends[i].State = backend.Down
			}
			var got string
			for _, r := range Assess(s).Reasons {
				if strings.Contains(r, "no active backend serves") {
					got = r
				}
			}
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("reason %q, want one with %q", got, tc.want)
			}
		})
	}
}

// TestAssessMaxconn: a backend at its maxconn is counted in the summary
// and shown FULL; the verdict is degraded only once no new client can be
// placed (the listener at its own maxconn, or every backend that serves
// at its), and names the backup that takes the clients the full active
// backends leave.
func TestAssessMaxconn(t *testing.T) {
	for _, tc := range []struct {
		name         string
		full         []int
		down, drain  []int
		backups      []int
		listenerMax  int64
		wantSummary  string
		wantReasons  []string
		wantDegraded bool
	}{
		{name: "one full", full: []int{0}, wantSummary: "3/3 backends up (1 at maxconn)"},
		{name: "every one full", full: []int{0, 1, 2}, wantSummary: "3/3 backends up (3 at maxconn)", wantDegraded: true,
			wantReasons: []string{"listener amqp: every backend that serves is at its maxconn (rmq1 (5), rmq2 (1), rmq3 (2)): new clients are refused until a session ends; raise the backends' maxconn or add a broker"}},
		{name: "the others down or drained", full: []int{0}, down: []int{1}, drain: []int{2}, wantSummary: "1/3 backends up (1 DRAIN, 1 at maxconn)", wantDegraded: true,
			wantReasons: []string{"listener amqp: every backend that serves is at its maxconn (rmq1 (5))", "backend amqp/rmq2 DOWN"}},
		{name: "listener at its maxconn", listenerMax: 10, wantSummary: "3/3 backends up", wantDegraded: true,
			wantReasons: []string{"listener amqp holds 10 clients, its maxconn: new clients are refused until one leaves; raise maxconn (and LimitNOFILE)"}},
		{name: "listener below its maxconn", listenerMax: 11, wantSummary: "3/3 backends up"},
		{name: "actives full, backup takes", full: []int{0, 1}, backups: []int{2}, wantSummary: "3/3 backends up (2 at maxconn)", wantDegraded: true,
			wantReasons: []string{"listener amqp: every active backend that serves is at its maxconn: new clients go to backup rmq3"}},
		{name: "actives full and down, backup takes", full: []int{0}, down: []int{1}, backups: []int{2}, wantSummary: "2/3 backends up (1 at maxconn)", wantDegraded: true,
			wantReasons: []string{"listener amqp: every active backend that serves is at its maxconn: new clients go to backup rmq3", "backend amqp/rmq2 DOWN"}},
		{name: "backup full too", full: []int{0, 1, 2}, backups: []int{2}, wantSummary: "3/3 backends up (3 at maxconn)", wantDegraded: true,
			wantReasons: []string{"listener amqp: every backend that serves is at its maxconn (rmq1 (5), rmq2 (1), rmq3 (2))"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := healthyFixture()
			l := &s.Listeners[0]
			l.MaxConn = tc.listenerMax
			bs := l.Backends
			bs[1].Active = 1
			for _, i := range tc.full {
				bs[i].MaxConn, bs[i].Full = bs[i].Active, true
			}
			for _, i := range tc.down {
				bs[i].State, bs[i].Full = backend.Down, false
			}
			for _, i := range tc.drain {
				bs[i].State, bs[i].Full = backend.Drain, false
			}
			for _, i := range tc.backups {
				bs[i].Backup = true
			}
			v := Assess(s)
			if want := "MASTER of 10.77.0.100 (rabbitmq); " + tc.wantSummary; v.Summary != want {
				t.Errorf("summary %q, want %q", v.Summary, want)
			}
			if v.Degraded != tc.wantDegraded || len(v.Reasons) != len(tc.wantReasons) {
				t.Fatalf("degraded %v, reasons %q; want %v and %d reasons", v.Degraded, v.Reasons, tc.wantDegraded, len(tc.wantReasons))
			}
			for i, want := range tc.wantReasons {
				if !strings.HasPrefix(v.Reasons[i], want) {
					t.Errorf("reason %d %q, want it to start %q", i, v.Reasons[i], want)
				}
			}
			s.Verdict = v
			var b bytes.Buffer
			if err := Format(&b, s, FormatOptions{}); err != nil {
				t.Fatal(err)
			}
			for _, i := range tc.full {
				if !bs[i].Full {
					continue
				}
				re := regexp.MustCompile(fmt.Sprintf(`(?m)^%s\b.* %d/%d FULL `, bs[i].Name, bs[i].Active, bs[i].Active))
				if !re.MatchString(b.String()) {
					t.Errorf("status table lacks %s at %d/%d FULL:\n%s", bs[i].Name, bs[i].Active, bs[i].Active, b.String())
				}
			}
		})
	}
}

// TestAssessClientsAtLimit: a client address that holds its listener's
// maxconn_per_client makes the status degraded, naming it (those listed
// among the busiest, and how many more); a client below the limit, or no
// limit, does not.
func TestAssessClientsAtLimit(t *testing.T) {
	cs := func(a string, n int64) balancer.ClientSnapshot {
		return balancer.ClientSnapshot{Address: netip.MustParseAddr(a), Sessions: n}
	}
	const tail = "new connections from there are refused until one ends (4 refused so far); " +
		"find the application that opens them (a connection leak?) with rmqlb sessions --client ADDRESS amqp (rmqlb clients lists every address), or raise maxconn_per_client"
	for _, tc := range []struct {
		name    string
		limit   int64
		atLimit int
		busiest []balancer.ClientSnapshot
		want    string // the one reason; "" for none
	}{
		{"below the limit", 50, 0, []balancer.ClientSnapshot{cs("10.1.0.7", 49)}, ""},
		{"no limit", 0, 0, []balancer.ClientSnapshot{cs("10.1.0.7", 5000)}, ""},
		{"one at it", 50, 1, []balancer.ClientSnapshot{cs("10.1.0.7", 50), cs("10.1.0.8", 3)},
			"listener amqp: client 10.1.0.7 holds 50 connections (maxconn_per_client: 50): " + tail},
		{"above it after a reload lowered it", 50, 1, []balancer.ClientSnapshot{cs("10.1.0.7", 80)},
			"listener amqp: client 10.1.0.7 holds 80 connections (maxconn_per_client: 50): " + tail},
		{"two at it", 50, 2, []balancer.ClientSnapshot{cs("10.1.0.7", 50), cs("fd00::8", 50), cs("10.1.0.9", 1)},
			"listener amqp: clients 10.1.0.7 (50), fd00::8 (50) are at maxconn_per_client (50): " + tail},
		{"more at it than listed", 2, 7, []balancer.ClientSnapshot{cs("10.1.0.1", 2), cs("10.1.0.2", 2), cs("10.1.0.3", 2), cs("10.1.0.4", 2), cs("10.1.0.5", 2)},
			"listener amqp: clients 10.1.0.1 (2), 10.1.0.2 (2), 10.1.0.3 (2), 10.1.0.4 (2), 10.1.0.5 (2) and 2 more are at maxconn_per_client (2): " + tail},
		{"none listed", 2, 3, nil, "listener amqp: 3 clients are at maxconn_per_client (2): " + tail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := healthyFixture()
			l := &s.Listeners[0]
			l.MaxConnPerClient, l.ClientsAtLimit, l.BusiestClients, l.RefusedPerClient = tc.limit, tc.atLimit, tc.busiest, 4
			v := Assess(s)
			var want []string
			if tc.want != "" {
				want = []string{tc.want}
			}
			if v.Degraded != (tc.want != "") || !slices.Equal(v.Reasons, want) {
				t.Errorf("degraded %v, reasons %q; want %q", v.Degraded, v.Reasons, want)
			}
		})
	}
}

// TestAssessOddCluster: a backend in service whose broker names another
// cluster than at least two other backends of its listener agree on is a
// reason (a node reset, or never joined); not when the names do not
// agree (each node names a cluster of its own until the cluster is
// named), not for a backend already DOWN (its own reason says why), and
// not for one whose check does not tell.
func TestAssessOddCluster(t *testing.T) {
	const odd = `backend amqp/rmq3 in another cluster: its broker names cluster "rabbit@h3" where 2 other backends of listener amqp name "prod" (reset, or never joined?): its clients find none of the cluster's queues and messages; set check: {cluster: prod} to take it out`
	for _, tc := range []struct {
		name     string
		clusters [3]string
		change   func(*Status)
		want     []string
	}{
		{"one cluster", [3]string{"prod", "prod", "prod"}, nil, nil},
		{"one broker reset", [3]string{"prod", "prod", "rabbit@h3"}, nil, []string{odd}},
		{"one broker reset, DEGRADED by its refused login", [3]string{"prod", "prod", "rabbit@h3"}, func(s *Status) {
			s.Listeners[0].Backends[2].State = backend.Degraded
			s.Checks[2].Reason = "login refused"
		}, []string{odd, "backend amqp/rmq3 DEGRADED (login refused)"}},
		{"the reset broker DOWN already", [3]string{"prod", "prod", "rabbit@h3"}, func(s *Status) {
			s.Listeners[0].Backends[2].State = backend.Down
			s.Checks[2].Reason = "broker in another cluster"
		}, []string{"backend amqp/rmq3 DOWN (broker in another cluster)"}},
		{"each node its own name", [3]string{"rabbit@h1", "rabbit@h2", "rabbit@h3"}, nil, nil},
		{"one name each, one unknown", [3]string{"prod", "", "rabbit@h3"}, nil, nil},
		{"two agree, the third unknown", [3]string{"prod", "prod", ""}, nil, nil},
	} {
		s := healthyFixture()
		for i, c := range tc.clusters {
			s.Checks[i].Cluster = c
		}
		if tc.change != nil {
			tc.change(&s)
		}
		v := Assess(s)
		if !slices.Equal(v.Reasons, tc.want) && !(len(tc.want) == 0 && len(v.Reasons) == 0) {
			t.Errorf("%s: reasons\n%q\nwant\n%q", tc.name, v.Reasons, tc.want)
		}
		// The CHECK table marks the broker in another cluster, whatever
		// its state.
		s.Verdict = v
		var b bytes.Buffer
		if err := Format(&b, s, FormatOptions{}); err != nil {
			t.Fatal(err)
		}
		marked := strings.Contains(b.String(), "rabbit@h3 (others: prod)")
		if want := tc.clusters[0] == "prod" && tc.clusters[1] == "prod" && tc.clusters[2] == "rabbit@h3"; marked != want {
			t.Errorf("%s: the CHECK table marks rmq3's cluster: %v, want %v:\n%s", tc.name, marked, want, b.String())
		}
	}
}

// TestAssessRefusedAlone: a backend DEGRADED by a refused login says so
// when the scheduler found the same login passing on other backends since
// (BackendStatus.RefusedAlone): the node's own fault. Not when it found
// none, or the warning is no refusal; a backend taken DOWN for it says so
// in its own reason.
func TestAssessRefusedAlone(t *testing.T) {
	const refused = "login refused: 403 ACCESS_REFUSED - user 'rmqlb-check' can only connect via localhost"
	alone := func(peers string) string {
		return "backend amqp/rmq2 DEGRADED (" + refused + "; refused by this node alone: the same login passed on " + peers +
			" since, so the fault is the node's own (an authentication backend or loopback_users of its own, a vhost down on it, its connection limit), and clients it takes may be refused too; on_login_refused: down-if-alone takes such a node out)"
	}
	plain := "backend amqp/rmq2 DEGRADED (" + refused + ")"
	for _, tc := range []struct {
		name   string
		change func(*Status)
		want   string
	}{
		{"refused alone", nil, alone("rmq1, rmq3")},
		{"one peer passed since", func(s *Status) { s.Checks[1].RefusedAlone = []string{"rmq1"} }, alone("rmq1")},
		{"none passed since", func(s *Status) { s.Checks[1].RefusedAlone = nil }, plain},
		{"a warning that is no refusal", func(s *Status) { s.Checks[1].LastRefused = false }, plain},
		{"taken DOWN for it", func(s *Status) {
			const why = "refused by this node alone (the same login passes on rmq1, rmq3): " + refused
			s.Listeners[0].Backends[1].State = backend.Down
			c := &s.Checks[1]
			c.State, c.Health, c.LastRefused, c.LastError, c.Reason = backend.Down, backend.Down, false, why, "2 consecutive failures: "+why
		}, "backend amqp/rmq2 DOWN (2 consecutive failures: refused by this node alone (the same login passes on rmq1, rmq3): " + refused + ")"},
	} {
		s := healthyFixture()
		s.Listeners[0].Backends[1].State = backend.Degraded
		c := &s.Checks[1]
		c.State, c.Health, c.Reason, c.LastWarning, c.LastRefused = backend.Degraded, backend.Degraded, refused, refused, true
		c.Since, c.LastError, c.RecentDowns = fixtureNow.Add(-10*time.Second), "", nil
		c.RefusedAlone = []string{"rmq1", "rmq3"}
		if tc.change != nil {
			tc.change(&s)
		}
		v := Assess(s)
		var got []string
		for _, r := range v.Reasons {
			if strings.HasPrefix(r, "backend amqp/rmq2 ") {
				got = append(got, r)
			}
		}
		if want := []string{tc.want}; !slices.Equal(got, want) {
			t.Errorf("%s: reasons of rmq2\n%q\nwant\n%q", tc.name, got, want)
		}
	}
}

// TestAssessBrokerFull: a backend whose broker is at its connection
// limit (DEGRADED by its check, BrokerFull in the listener) is named in
// the summary and shown BROKER FULL; the verdict names the backend, says
// when every backend that serves is so (new clients still go to them,
// and their brokers refuse them), and names the backup that takes the
// clients the full active backends leave.
func TestAssessBrokerFull(t *testing.T) {
	const fullReason = "node connection limit reached (530 NOT_ALLOWED - connection refused: node connection limit (100) is reached): new clients go to the other backends"
	for _, tc := range []struct {
		name        string
		full        []int
		backups     []int
		wantSummary string
		wantReasons []string
	}{
		{name: "one", full: []int{0}, wantSummary: "2/3 backends up (1 broker at its connection limit)",
			wantReasons: []string{"backend amqp/rmq1 DEGRADED (" + fullReason}},
		{name: "every one", full: []int{0, 1, 2}, wantSummary: "0/3 backends up (3 brokers at their connection limit)",
			wantReasons: []string{"listener amqp: the broker of every backend that serves is at its connection limit: new clients are sent to them anyway and refused by the brokers until connections end; find what holds them (rmqlb clients amqp)",
				"backend amqp/rmq1 DEGRADED", "backend amqp/rmq2 DEGRADED", "backend amqp/rmq3 DEGRADED"}},
		{name: "actives full, backup takes", full: []int{0, 1}, backups: []int{2}, wantSummary: "1/3 backends up (2 brokers at their connection limit)",
			wantReasons: []string{"listener amqp: every active backend that serves is at its broker's connection limit: new clients go to backup rmq3",
				"backend amqp/rmq1 DEGRADED", "backend amqp/rmq2 DEGRADED"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := healthyFixture()
			bs := s.Listeners[0].Backends
			for _, i := range tc.full {
				bs[i].State, bs[i].BrokerFull = backend.Degraded, true
				bs[i].LastChangeReason = fullReason
				for j := range s.Checks {
					if s.Checks[j].Backend.Name == bs[i].Name {
						s.Checks[j].State, s.Checks[j].Health, s.Checks[j].Full = backend.Degraded, backend.Degraded, true
						s.Checks[j].Reason, s.Checks[j].LastWarning = fullReason, fullReason
					}
				}
			}
			for _, i := range tc.backups {
				bs[i].Backup = true
			}
			v := Assess(s)
			if want := "MASTER of 10.77.0.100 (rabbitmq); " + tc.wantSummary; v.Summary != want {
				t.Errorf("summary %q, want %q", v.Summary, want)
			}
			if !v.Degraded || len(v.Reasons) != len(tc.wantReasons) {
				t.Fatalf("degraded %v, reasons %q; want %d reasons", v.Degraded, v.Reasons, len(tc.wantReasons))
			}
			for i, want := range tc.wantReasons {
				if !strings.HasPrefix(v.Reasons[i], want) {
					t.Errorf("reason %d %q, want it to start %q", i, v.Reasons[i], want)
				}
			}
			s.Verdict = v
			var b bytes.Buffer
			if err := Format(&b, s, FormatOptions{}); err != nil {
				t.Fatal(err)
			}
			for _, i := range tc.full {
				re := regexp.MustCompile(fmt.Sprintf(`(?m)^%s\b.* DEGRADED .* %d(/\d+)? BROKER FULL `, bs[i].Name, bs[i].Active))
				if !re.MatchString(b.String()) {
					t.Errorf("status table lacks %s DEGRADED, %d BROKER FULL:\n%s", bs[i].Name, bs[i].Active, b.String())
				}
			}
		})
	}
}

// Package integration holds the end-to-end tests of rmqlb: real rmqlb
// processes (built from ./cmd/rmqlb by the tests), real keepalived and real
// RabbitMQ nodes in network namespaces made by package netlab, a client host
// probing the VIP with a TCP connect every 10 ms.
//
// The tests need root, ip(8), bridge(8) and sysctl(8); the interop tests also
// need keepalived(8), the RabbitMQ tests rabbitmq-server and the non-root
// test setpriv(1). Each test skips
// with the reason when something is missing. Run them with
//
//	go test -count=1 -v ./integration/...
//
// (3 to 4 minutes, most of it the 30 s steady states of the keepalived
// interop, which run in parallel, and the RabbitMQ cluster's boot). The
// tests build ./cmd/rmqlb themselves; RMQLB_BIN=/path/to/rmqlb uses a
// binary built before. NETLAB_LOGDIR=/some/dir keeps every process's output
// (the tail of each is logged anyway when a test fails).
//
// Run this package alone (`go test -p 1` or its own `go test` invocation),
// not beside CPU-heavy packages: a daemon starved for longer than a
// Master_Down_Interval (361 ms at 100 ms adverts) loses its VIP, as it
// should, and the test fails.
//
// What is tested:
//   - TestVRRPSingleMaster: one VIP holder after start (netlink and status).
//   - TestVRRPLinkCutFailoverAndPreempt: client outage after the master's
//     link is cut within the link-cut bound; preempt on return.
//   - TestVRRPNoPreempt: preempt false keeps the VIP on h2.
//   - TestVRRPSigterm: on a clean stop the backup takes over on the priority
//     0 advert (its status says so), client outage within the clean-stop
//     bound.
//   - TestVRRPSigkillRestart: the stale VIP of a killed daemon is removed.
//   - TestVRRPGARPUpdatesClient: a silent client's ARP entry moves to the
//     new master within the GARP bound.
//   - TestVRRPSplitBrainHeals: after a partition without carrier loss the
//     client's ARP entry returns to the winner within the refresh bound
//     (at once: the winner answers the loser's lower-priority advert and
//     announces the VIP again), and the winner's status names the loser
//     as the last lower-priority master.
//   - TestVRRPUnicastFailover: the same with unicast_peers.
//   - TestVRRPActiveActive: two instances, one VIP preferring each host.
//   - TestVRRPPlannedHandover: 20 handovers back and forth between two
//     hosts with `rmqlb vrrp release` (and `ready` on the other host):
//     not one failed connect of the client, two state changes per
//     handover, the old master removing the VIP only after the new
//     master's gratuitous ARP; the time of each handover is logged.
//   - TestVRRPReleaseForAndLastResort: `release --for` ends by itself and
//     the host preempts the VIP back without a failed connect; a released
//     host takes the VIP as the last resort when no other router is left.
//   - TestVRRPReloadLive: `rmqlb reload` of priorities on running daemons
//     moves the VIP exactly as the new priorities say (two state changes
//     per move, none otherwise, no failed connect); a VIP added to the
//     group, backup first, is held by the master at once, no advert
//     dropped.
//   - TestVRRPReloadRealTimePriority: `rmqlb reload` turning
//     vrrp_rt_priority on, changing it and off on a master and a backup:
//     each instance restarted in place in its state (the backup's never
//     changes), status shows the scheduling class, no failed connect.
//   - TestReloadBackendsNetns: `rmqlb reload` removing a backend of each of
//     two listeners and adding a checked one: the removed backend's
//     sessions closed under on_marked_down shutdown-sessions (and logged as
//     ended by the removal), kept under keep-sessions; the sessions of the
//     backends that stay carry on; the added one takes new sessions once
//     its first check passed; no VRRP state change.
//   - TestReloadChurnGivesBackResources: 50 `rmqlb reload`s of a master
//     with a checked listener through every kind of change (backends,
//     weights, checks, policies, persistence, a second listener added,
//     moved and removed, a second VIP and VRRP instance, advert interval
//     and priority, vrrp_sender, vrrp_rt_priority, control socket and
//     group, metrics_listen, a change left to a restart, files refused
//     as a whole and in part), sessions proxied and a few hundred
//     control requests meanwhile, then back to the first file: the
//     daemon's open files of each kind, goroutines, threads (within what
//     the Go runtime keeps), VIPs, listening sockets, metrics series,
//     status and advert sender process are those it had before.
//   - TestStuckSenderProcess: the master's advert sender process frozen
//     (SIGSTOP): keepalived takes over, the master answers its
//     lower-priority adverts with one of its own (keepalived gives way),
//     asks its process for a report, advertising itself too until it
//     comes (keepalived takes over once, also at 10 ms adverts), kills it
//     when none comes within the stuck-sender bound and advertises alone;
//     a new process takes the adverts, and the master stays the VIP's
//     only holder.
//   - TestVRRPAdvertsCannotBeSent: a firewall rule on the master's host
//     drops VRRP on output: the backup takes over beside it, and the
//     master's status is degraded, naming the destination and the error,
//     until the rule is gone and the backup gives way; with the advert
//     sender process and inline.
//   - TestVRRPOneWaySplitBrain: the backup's host drops VRRP on input: it
//     takes over and stays MASTER beside the master, whose status is
//     degraded once that has gone on for 10 s, naming it, and healthy
//     again once it gives way.
//   - TestVRRPSecondDaemonLeavesMasterAlone: a second `rmqlb run` with the
//     master's configuration exits 1 and the master keeps its VIP, never
//     having to put it back.
//   - TestVRRPMasterPutsBackItsVIP: a VIP deleted from the master is back
//     within one advert interval and counted; one that cannot be put back
//     (its address taken without rmqlb's marker) makes the master resign
//     with priority 0 to FAULT, and it preempts again once the address is
//     free.
//   - TestCheckConfigAgreesWithRun: every file `rmqlb check-config` accepts
//     runs; every file it refuses is refused by `rmqlb run` with the same
//     problems.
//   - TestVIPLeaveClosesSessions: a master that a track rule demotes
//     closes its VIP's sessions at once, so a client re-declares its
//     exclusive queue through the new master within 2 s (RabbitMQ).
//   - TestKeepalivedBaseline: three keepalived under the link-cut and
//     clean-stop bounds: the calibration of the harness and of the bounds.
//   - TestInteropKeepalived: rmqlb and keepalived on one VRID, v2 PASS 1 s
//     and v3 100 ms, each daemon as master: no state change in 30 s (rmqlb's
//     counters, keepalived's log, which must show it in its role first),
//     failover within the link-cut bound and preempt, both ways.
//   - TestImportBesideKeepalived: the README's migration of one host:
//     keepalived with the blog post's keepalived.conf (v2 PASS, 5 s adverts)
//     on h1, rmqlb on h2 with what `rmqlb import` writes from the blog
//     post's files: rmqlb hears keepalived and drops none of its adverts,
//     holds the VIP within the clean-stop bound once keepalived stops, and
//     gives it back by priority when keepalived starts again (the
//     rollback). The clean-stop bound, RFC 5798's, is loose for VRRPv2,
//     whose Skew_Time is (256 - priority) / 256 s whatever the interval.
//   - TestImportedNotifyScript: a keepalived.conf's generic notify script,
//     run by keepalived on h1 and, translated by `rmqlb import`, by rmqlb
//     on h2, which preempts and then stops: both scripts get INSTANCE, the
//     instance's name, BACKUP, MASTER and STOP, and their priority.
//   - TestDashboardMetricsOfTheBinary: every metric, label and selected
//     label value of the alerting rules and the Grafana dashboard is in a
//     scrape of the rmqlb program, master of a VRRP instance with a
//     checked listener.
//   - TestBadInput: each kind of bad advert dropped and counted by reason.
//   - TestE2ERabbitMQ: a two-node RabbitMQ cluster behind rmqlb: 100 AMQP
//     connections spread over both brokers, producer/consumer across two
//     failovers without loss of a confirmed message, a frozen broker DOWN
//     within the check bound with its sessions closed, a broker's clients
//     moved to the other at the pace asked (move-sessions) without loss of
//     a confirmed message, reconnecting clients spread over both brokers
//     again (rebalance), the track rule moving
//     the VIP within the track bound, and a broker frozen and thawed until
//     its checks took it DOWN three times within ten minutes named as one
//     that flaps.
//   - TestLabSoak: the demo lab's fault soak (cmd/rmqlb-lab -soak) with
//     one cycle of every fault on three nodes with a quorum queue and the
//     README's RabbitMQ settings: every cycle injected, repaired and
//     recovered, no confirmed message lost, a frozen broker out of rotation
//     within the checks' bound plus slack, an SVG timeline per fault; the
//     outages are logged, not asserted (they are RabbitMQ's). About 5
//     minutes.
//   - TestLabSoakInterrupt: SIGINT to the soak while a link is cut: it
//     exits, and no namespace or RabbitMQ process of it is left.
//   - TestNonRootDaemon: rmqlb run as the systemd unit runs it (user
//     nobody, only CAP_NET_ADMIN, CAP_NET_RAW and CAP_NET_BIND_SERVICE, no
//     new privileges, through setpriv(1)): READY=1 to a service manager,
//     master with the VIP on the interface and a gratuitous ARP seen by the
//     client, sessions through the VIP on 5672 and on 443, FAULT while its
//     carrier is lost, back after SIGKILL (the stale VIP removed despite the
//     killed daemon's socket and lock), STOPPING=1 and the VIP removed on
//     SIGTERM.
//   - TestNotifyHookNetns: the notify hooks of a real rmqlb run in its
//     host's namespace with RMQLB_INSTANCE, RMQLB_STATE, RMQLB_PREV_STATE,
//     RMQLB_VIPS and RMQLB_REASON for BACKUP, MASTER and STOP (the stop
//     hook before rmqlb exits); status counts the runs.
//   - TestUpgradeInPlace: three `rmqlb upgrade` in a row beside a
//     keepalived peer under the 10 ms probe: no failed connect, every probe
//     answered by a backend, no keepalived transition, MAINPID= then
//     READY=1 to a service manager, the control socket, metrics endpoint
//     and lock handed to each new process; a session opened before the
//     first upgrade served by its process until its client closes it, one
//     of a listener with a 2 s graceful_timeout closed 2 s after its
//     upgrade, and ten of a listener with a 3 s graceful_timeout and a 2 s
//     close_spread closed one after another over its last 2 s, their
//     clients served again by the new process. TestE2ERabbitMQ/upgrade-under-load does an upgrade under a
//     RabbitMQ producer with confirms and a consumer, and
//     TestE2ERabbitMQ/upgrade-spreads-reconnects one with close_spread and
//     40 more AMQP clients: closed over the spread, not at once, and
//     every confirmed message received.
//
// A failed connect counts unless the probe itself was kept off the CPU
// for longer than its timeout right after starting it (it then timed out
// with its answer waiting); such attempts are logged as stalls.
//
// # Time bounds
//
// A test that measures a time on the wall clock compares it with what the
// protocol or the configuration guarantees plus netlab.SchedulingSlack
// (500 ms), and logs the figure with the bound's terms in every run, pass
// or fail. The slack covers the daemons, the probe and the test being kept
// off a CPU on a shared 2-core machine; the exact timer arithmetic is
// checked by the unit tests of vrrp and healthcheck on an injected clock.
// The bounds (bounds_test.go):
//
//   - link cut: client outage <= the backup's Master_Down_Interval (3 x
//     advert + (256 - 100) x advert / 256: 361 ms at 100 ms, 3.61 s at 1 s)
//     plus one probe interval (10 ms) plus slack. The backup's Master_Down_Timer
//     was last reset by an advert heard no later than the cut (RFC 5798
//     6.4.2); the new master adds the VIP and sends a gratuitous ARP at once.
//     At 1 s adverts the bound still tells one Master_Down_Interval from
//     two; at 100 ms it does not (the slack is larger than 361 ms).
//   - clean stop: client outage <= the backup's Skew_Time (61 ms at 100 ms)
//     plus probe interval plus slack: a master that stops sends priority 0 and the
//     backup takes over after Skew_Time (RFC 5798 6.4.2). Since the slack
//     is larger than the 300 ms between Skew_Time and Master_Down_Interval,
//     TestVRRPSigterm also requires the backup's status to give the priority
//     0 advert as the reason of its takeover.
//   - GARP: a silent client's ARP entry points at the new master <= 400 ms
//     (the last of 5 gratuitous ARPs 100 ms apart, garp.count and
//     garp.interval of the tests) + slack after the new master holds the
//     VIP. Without a gratuitous ARP the entry stays for 30 s and more.
//   - refresh: after a split brain heals, the client reaches the winner
//     <= garp.refresh (2 s in the test) + probe interval + slack: only the
//     winner's periodic gratuitous ARP moves the client's entry back.
//   - check: a frozen broker is DOWN <= interval + (fall - 1) x
//     max(fastinterval, timeout) + timeout (1 s + 2 x 1 s + 0.5 s, package healthcheck's
//     guarantee) plus slack, measured to the change time the daemon reports.
//   - track: the VIP is on the backup alone <= the check bound's guarantee
//     plus Master_Down_Interval plus slack after the master's own broker froze:
//     the track rule lowers the master's priority below the backup's, the
//     backup ignores the lower adverts (it may preempt) and takes over when
//     its Master_Down_Timer fires, and the old master yields on its first
//     advert.
//   - stuck sender: the master finds its frozen sender process stuck <=
//     the backup's Master_Down_Interval (it takes over) plus one advert
//     interval plus sendproc.CheckWithin (300 ms at 100 ms: the master,
//     hearing the backup's lower-priority adverts, asks its sender
//     process for a report) plus slack after the process froze. Without
//     the check it takes 1.5 to 2.5 s (a process is taken for stuck 2.5 s
//     after its last report, sent once a second), which the test also
//     tells apart by the reason the daemon logs.
//
// Waits for an expected state (a VIP on a host, a daemon's status) allow
// seconds, several times the protocol's figure: they bound how long a test
// waits, not how fast rmqlb is.
//
// Lab layout:
// hosts h1, h2, h3 at 10.77.0.1-3/24 with VRRP priorities 150, 100, 50, a client
// at 10.77.0.50, VIP 10.77.0.100/24, VRRPv3 at 100 ms unless a test says
// otherwise.
package integration

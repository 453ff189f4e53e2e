// Package integration holds the end-to-end tests of rmqlb: real rmqlb
// processes (built from ./cmd/rmqlb by the tests), real keepalived and real
// RabbitMQ nodes in network namespaces made by package netlab, a client host
// probing the VIP with a TCP connect every 10 ms.
//
// The tests need root, ip(8), bridge(8) and sysctl(8); the interop tests also
// need keepalived(8) and the RabbitMQ tests rabbitmq-server. Each test skips
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
// The failover bounds are tight (100 ms adverts): run this package alone
// (`go test -p 1` or its own `go test` invocation), not beside CPU-heavy
// packages, or a daemon starved for 300 ms will flap as it should.
//
// What is tested, with the figures each test logs:
//   - TestVRRPSingleMaster: one VIP holder after start (netlink and status).
//   - TestVRRPLinkCutFailoverAndPreempt: client outage after the master's
//     link is cut <= 3 x advert + Skew_Time + 150 ms; preempt on return.
//   - TestVRRPNoPreempt: preempt false keeps the VIP on h2.
//   - TestVRRPSigterm: outage < 150 ms on a clean stop (priority 0).
//   - TestVRRPSigkillRestart: the stale VIP of a killed daemon is removed.
//   - TestVRRPGARPUpdatesClient: a silent client's ARP entry moves at once.
//   - TestVRRPSplitBrainHeals: after a partition without carrier loss the
//     client's ARP entry returns to the winner (within the GARP refresh).
//   - TestVRRPUnicastFailover: the same with unicast_peers.
//   - TestVRRPActiveActive: two instances, one VIP preferring each host.
//   - TestKeepalivedBaseline: three keepalived, the harness calibration.
//   - TestInteropKeepalived: rmqlb and keepalived on one VRID, v2 PASS 1 s
//     and v3 100 ms, each daemon as master: no flapping in 30 s, failover
//     and preempt both ways.
//   - TestBadInput: each kind of bad advert dropped and counted by reason.
//   - TestE2ERabbitMQ: a two-node RabbitMQ cluster behind rmqlb: 100 AMQP
//     connections, producer/consumer across two failovers without loss of
//     a confirmed message, a frozen broker DOWN in fall x interval +
//     timeout with its sessions closed, track moving the VIP.
//
// Lab layout:
// hosts h1, h2, h3 at 10.77.0.1-3/24 with VRRP priorities 150, 100, 50, a client
// at 10.77.0.50, VIP 10.77.0.100/24, VRRPv3 at 100 ms unless a test says
// otherwise.
package integration

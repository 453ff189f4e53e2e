// Package vrrp implements the Virtual Router Redundancy Protocol as rmqlb
// uses it to own virtual IP addresses: a drop-in replacement for
// keepalived's vrrp_instance.
//
// It speaks VRRPv2 (RFC 3768, with authentication type 0 and type 1
// "simple text password" of RFC 2338 section 5.3.6, which keepalived calls
// auth_type PASS) and VRRPv3 (RFC 5798, clarified by RFC 9568) over IPv4.
// The codec also handles VRRPv3 over IPv6.
//
// The package is layered the way mdlayher/arp is:
//
//   - codec.go and checksum.go are a pure wire codec (Packet, Parse,
//     Packet.Marshal) that never touches a socket.
//   - machine.go is the state machine of RFC 5798 section 6 (which also
//     describes RFC 3768 for VRRPv2) as a step function over injected time:
//     Machine.Step(now, event) returns the actions to perform and
//     Machine.NextDeadline tells when to step it again. It owns no goroutine
//     and never sleeps.
//   - transport.go is the small Transport interface and its real
//     implementation over two raw sockets: one receiving IP protocol 112
//     (multicast group 224.0.0.18 or unicast peers), one sending whole
//     IPv4 packets with TTL 255 (sendsocket.go).
//   - link.go watches the interface link with netlink (netsetup.LinkWatch,
//     which subscribes again after an error such as ENOBUFS); a link that
//     is down puts the instance in FAULT, as keepalived does. When the
//     interface is deleted and created again under a new index, the raw
//     sockets follow it (IPv4Transport.Rebind: bound to the new index,
//     multicast group joined there) before the instance leaves FAULT, so
//     a re-created backup hears its master instead of becoming a second
//     one. An interface that does not exist yet when Run starts, or has
//     no IPv4 address to send from (ErrInterfaceNotReady), keeps the
//     instance in FAULT, saying so, until Run can open the sockets on it
//     (notready.go), as keepalived does with dynamic_interfaces.
//   - instance.go glues them together: Instance.Run owns the goroutines,
//     drives the Machine from the Transport and a Clock (clock.go), and
//     calls an Owner (owner.go) to acquire and release the virtual
//     addresses. An Owner that watches what it holds (FaultReporter,
//     implemented by netsetup.VIPSet) reports when it cannot hold the
//     addresses: a MASTER then sends priority 0, releases and goes to
//     FAULT, like on link down, and starts again once the Owner recovers.
//     Snapshot (snapshot.go) and Prometheus metrics (metrics.go) report
//     state and counters, including dropped adverts by reason (errors.go).
//     realtime.go is the event loop on a real-time thread.
//
// VRRPv3 over IPv4 has two checksum conventions in the wild: RFC 5798
// section 5.2.8 includes an IPv4 pseudo-header (what keepalived sends), and
// RFC 9568 section 5.2.8 states that the IPv4 checksum is computed over the
// VRRP message only, like VRRPv2. Packet.Marshal sends the one the
// ChecksumMode selects; Parse accepts either and reports which one matched.
//
// On a shared LAN, Config.AllowedPeers restricts the senders whose
// adverts count, in multicast mode too (others are dropped and counted as
// not_peer). A multicast advert must come with TTL 255 (RFC 5798 section
// 7.1: no router forwarded it; others are dropped and counted as ttl);
// with Config.UnicastPeers any TTL is accepted, as keepalived does, since
// a unicast peer may be a router away or a keepalived with unicast_ttl.
// A VRRPv3 backup adopts the master's advertisement
// interval (RFC 5798 section 6.4.2) only up to Config.MaxAdoptedInterval
// (by default three times its own), so that one forged advert announcing
// 40.95 s cannot leave the group without a master for two minutes.
//
// # Planned handover
//
// Instance.StepDown (`rmqlb vrrp release`) releases a router for planned
// maintenance: its effective priority is 0 until Instance.Ready (or the
// end of the period given). A MASTER advertises priority 0 at once and at
// every interval, so the best backup takes over after its Skew_Time
// (RFC 5798 section 6.4.2), counted from the first priority-0
// advertisement (the later ones do not restart it), but it keeps the
// addresses, and serves the clients that still reach it, until it hears
// the new master's advertisement. It then becomes BACKUP and, with an Owner that reports
// the announcements it hears (AnnounceReporter, netsetup.VIPSet), keeps
// the addresses, no longer announcing them itself (Quieter), until the
// new master has announced them (gratuitous ARP) after this host's own
// last announcement: the order is new master's advert heard, new
// master's gratuitous ARP sent, addresses removed here, so no client is
// sent to a host that no longer has the address. An announcement of this
// host's own that went out just after the new master's (its schedule was
// due in that moment) took the clients back: the new master's next one
// is waited for. A released BACKUP accepts every advertisement
// and never preempts; only when no router at all advertises for its
// Master_Down_Interval (4 x Master_Adver_Interval with priority 0, longer
// than any eligible backup's) does it take over, as the last resort, and
// still released it advertises priority 0, so an eligible router that
// comes back takes over from it. The same wait for the new master's
// announcement applies whenever a MASTER gives way to a router of higher
// priority (a preemption, a healed split brain), bounded by one
// Master_Down_Interval. A MASTER that gives way so, unreleased and before
// the other announced the addresses, first sends one advert of its own
// priority: a master hearing a lower one announces the addresses again
// (this package and keepalived both do), so that the winner of a healed
// split brain that heard nothing from the loser announces them all the
// same. keepalived has no release command (its nearest is
// lowering the priority with a track script or stopping it), and it
// removes the addresses as soon as it hears a higher priority.
//
// # Live changes
//
// Instance.Update gives a running instance new settings (a reload of the
// configuration file): everything but the name, interface, VRID and
// version. It is validated at once and applied by Run as the Reconfigure
// event, so the machine stays a step function: nothing moves by itself,
// and the new priorities decide at the next advertisement by the usual
// rules (a MASTER advertises a change at once; a backup now of higher
// priority preempts if it may; otherwise no transition). A preemption
// already pending keeps its start and follows the new preempt_delay,
// preempt and priority from there (raising preempt_delay puts it off,
// turning preempt off cancels it); so does one pending when a tracked
// check changes the priority. A BACKUP's running Master_Down_Timer
// follows a new priority (its Skew_Time) or late_adverts_tolerated at
// once, as keepalived's does a new priority, rather than from the next
// advertisement. A new
// unicast_src or unicast_peers reconfigures the transport
// (IPv4Transport.Reconfigure, which also switches between multicast and
// unicast). Adverts carrying the previous address list, or for VRRPv2 the
// previous interval, are accepted until one with the new values is heard,
// so a group reloaded one host after the other (backups first) does not
// flap.
//
// # Advertised addresses
//
// RFC 5798 section 7.1 leaves the check of an advertisement's addresses
// to the receiver. An advertisement whose list shares no address with
// the configured one is dropped (ErrAddressMismatch): another virtual
// router on the same VRID, whose election stays apart. One that shares
// some is accepted and reported (DifferingAddrs, AddrsDiffer): a group
// whose list is being changed by reloads, one host at a time, in any
// order, where dropping would make each backup still on the other list
// take over beside the master.
//
// # Adverts on time on a busy host
//
// A backup takes over when three adverts in a row are late (at 10 ms
// adverts, about 31..40 ms), so the time between an advert's deadline and
// its departure, and between an advert's arrival and its handling, must
// stay well below that on a host whose CPUs the proxy and other processes
// keep busy. Sending or hearing an advert allocates nothing (no work for
// the garbage collector; tests fail if an allocation comes back), the
// adverts leave from a send-only socket with SO_PRIORITY 6 and carry DSCP
// CS6, so they queue ahead of proxied traffic (and sending one wakes
// nothing that waits on the receiving socket), and with
// Options.RealTimePriority (vrrp_rt_priority) the instance's event loop
// runs on a thread of its own in the SCHED_FIFO class, waiting in the
// kernel (ppoll(2) on the receiving socket, taken out of the Go runtime's
// poller, and an eventfd, with the next deadline as timeout) rather than
// on a Go timer and the netpoller, which only wake a goroutine when the
// Go scheduler comes round to them. With Options.Sender (package vrrp/sendproc: the daemon's
// advert sender process) a MASTER's periodic adverts leave from a small
// process of their own, which neither the daemon's other threads nor its
// garbage collector can hold up; the instance keeps everything else and
// tells the sender before it acts (AdvertSender). A backup handles the
// adverts already waiting in its socket before it acts on an expired
// master-down timer, so that a backup stalled for a while does not take
// over from a master that was on time. Config.LateAdvertsTolerated is a deviation from the
// RFCs, off by default, for hosts where that is not enough: a backup
// waits that many intervals more before it takes over.
//
// # Differences to keepalived
//
// Differences to keepalived worth knowing: preempt_delay counts from the
// first lower-priority advertisement heard while BACKUP, and a reload
// that changes it keeps that start (keepalived builds its instances
// afresh on a reload, and the delay starts again at the next
// lower-priority advertisement, at its new length); a MASTER that
// hears a lower-priority advertisement does not only discard it, as RFC
// 5798 section 6.4.3 says: as keepalived (unless lower_prio_no_advert),
// it answers with an advertisement of its own, at which the other router
// gives way, and it asks its Owner to announce the addresses again
// (gratuitous ARP) and its AdvertSender to show that it still sends (a
// sender process that stopped is replaced at once), all at most once per
// master down interval; keepalived's old_unicast_checksum
// (pre-1.3.6 VRRPv3 unicast) is not accepted. VRRPv2 uses RFC 3768's
// Skew_Time of (256 - Priority) / 256 seconds, VRRPv3 RFC 5798's
// ((256 - Priority) * Master_Adver_Interval) / 256.
package vrrp

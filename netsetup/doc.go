// Package netsetup owns the host side of a virtual IP (VIP): adding and
// removing the addresses with netlink, announcing them with gratuitous ARP
// (IPv4) or unsolicited neighbour advertisements (IPv6),
// cleaning up after a killed daemon, watching the link, and letting a
// listener bind a VIP before it is local.
//
// # VIP ownership
//
// A VIPSet holds the VIPs of one VRRP instance (RFC 5798) on one interface.
// The vrrp package calls Acquire on becoming MASTER and Release on leaving
// it; Run must run alongside for the scheduled announcements and the watch
// of the VIPs. A VIPSet does not decide who is master.
//
// Ownership is watched, not assumed: while held, the VIPs are compared
// with the interface on every netlink address event and every
// VIPSetOptions.Backstop (for events lost without the kernel saying so),
// and a VIP that disappeared (a network manager reconfigured the
// interface, `ip addr flush`) is added again at once, announced and counted
// (VIPSnapshot.Readded). When a VIP cannot be added, in Acquire or when
// putting it back (the kernel refuses, or an address somebody else added
// holds its IP), the VIPSet is faulty: it tells the VRRP instance through
// ReportFaults, which resigns (priority 0, so that a backup takes over at
// once) and releases, and it reports recovery once the VIPs could be held
// again, no sooner than one Recheck later.
//
// # Gratuitous ARP
//
// On Acquire every IPv4 VIP is announced with a gratuitous ARP (an "ARP
// Announcement" in RFC 5227 section 2.3; packet format RFC 826): an ARP
// request broadcast from the interface's MAC with sender and target
// protocol address both the VIP. The bytes are keepalived 2.x's (target
// hardware address ff:ff:ff:ff:ff:ff); see GARPFrame. Frames go out through
// a send-only AF_PACKET socket (github.com/mdlayher/packet) on the VIP's
// interface. The first announcement is sent before Acquire returns, the
// rest of the burst (GARPConfig.Count, default 5) GARPConfig.Interval apart
// (default 1.1 s, longer than the neighbour locktime of 1 s by default
// within which receivers may ignore another change of an entry they just
// updated), then one
// every GARPConfig.Refresh (default 60 s) while held, so switches with long
// caches and the loser of a healed split brain learn the owner again.
// When the interface's MAC changes while held (`ip link set dev X address
// ...`, a bond's failover), its netlink event restarts the burst with the
// new MAC.
//
// While held, a VIPSet also listens for other hosts announcing its VIPs:
// for the IPv4 VIPs an AF_PACKET socket whose BPF filter passes only
// received ARP frames with a VIP as sender protocol address, for the IPv6
// VIPs an ICMPv6 raw socket bound to the interface whose ICMPv6 filter
// passes only Neighbor Advertisements (type 136; NATarget reads them),
// taking those with hop limit 255 whose target is a VIP. An
// announcement carrying this interface's own MAC is not counted. With each
// refresh it sends an ARP probe for every IPv4 VIP (RFC 5227 section
// 2.1.1, ProbeFrame) and a Duplicate Address Detection probe for every
// IPv6 VIP on an Ethernet link (RFC 4862 section 5.4.2, DADProbeFrame,
// on an AF_PACKET socket: an IP socket cannot send from ::): a host that
// holds the VIP too answers it, with an ARP reply with the VIP as its
// sender or a neighbour advertisement for it, and is heard as announcing
// it. It
// counts them per VIP (VIPSnapshot.PeerAnnounced) and reports them, and
// its own announcements, in order (ReportAnnouncements): a VRRP master
// that gives way to a new one keeps its VIPs until the new master's
// gratuitous ARP or neighbour advertisement has been sent after its own
// last one, so clients' entries move before the addresses leave, and
// stops its own announcements meanwhile (StopAnnouncing).
//
// Receivers: Linux only updates neighbour entries it already has from a
// gratuitous ARP (and creates new ones only with
// net.ipv4.conf.IF.arp_accept=1), which is what failover needs: clients
// that talked to the old master have an entry and get the new MAC.
//
// IPv6 VIPs are added with IFA_F_NODAD (usable without waiting for
// duplicate address detection) and announced on the same schedule with an
// unsolicited Neighbor Advertisement (RFC 4861 section 7.2.6; see
// UnsolicitedNA): Override flag set, to ff02::1, hop limit 255, from the
// VIP, through an ICMPv6 raw socket that receives nothing and does not
// loop its advertisements back to this host. Receivers update
// an existing neighbour entry to the new MAC (state STALE). Linux installs
// the local route of a new IPv6 address from a work queue, so the very first
// advertisement can fail for a few milliseconds; the next one of the burst
// goes out.
//
// # Marking our addresses
//
// A daemon that is SIGKILLed leaves its VIPs on the interface; a host that
// is not master must not keep them, so RemoveStaleScoped runs at start and
// removes addresses rmqlb added, and nothing else: only the VIPs of the
// daemon's own configuration, each on its own interface (a marked address
// elsewhere may be another daemon's live VIP). Two markers are set on
// every address rmqlb adds:
//
//   - the IPv4 address label "IFNAME:TAG" cut to 15 bytes (IFNAMSIZ-1;
//     TAG is VIPConfig.Label, default "rmqlb"), e.g. "eth0:rmqlb" or
//     "enp0s31f6:rmqlb" ("ip addr" shows it at the end of the line);
//   - the address protocol IFA_PROTO = AddrProto (114) on Linux >= 6.3
//     (iproute2 >= 6.3 prints it; Debian 12's 6.1 does not).
//     vishvananda/netlink v1.3.1's Addr has no field for it, so the add and the dump are built with its nl
//     package.
//
// An address counts as ours only if no marker contradicts it: its protocol
// is 0 or AddrProto, and for IPv4 its label is exactly ours. IPv6 addresses
// (Linux has no IPv6 labels) and IPv4 addresses on interfaces whose name is
// 14 or 15 bytes long (no room left for a tag) are recognised by the
// protocol alone. On kernels before 6.3 (told by uname) such addresses
// carry no marker at all (Marker "bookkeeping"): a VIPSet then removes
// what it added by its own record, and a copy left by a killed daemon is
// left in place rather than risking an address someone else added. Each
// VIPSet logs at start how it recognises each VIP, and its Snapshot says
// it (VIPSnapshot.Marker). Removal of an IPv4 address also passes the
// label, and the kernel deletes only an address whose label matches.
//
// Renaming an interface relabels its IPv4 addresses after the new name,
// and the first one loses its suffix for good: "eth0:rmqlb" comes back
// from a rename and back as "eth0". The VIPSet that added such a VIP (or
// its successor, told by AdoptHeld) still recognises it by its own record
// (added by it, same prefix length, its address protocol), holds it and
// removes it at Release; a copy a killed daemon left is not recognised.
//
// An address that is already present without our marker when Acquire runs
// (an operator added the VIP by hand) is left alone by Acquire and Release
// and reported in the Snapshot.
//
// # Freebind
//
// ListenConfig and ListenFreebind set IP_FREEBIND (IPV6_FREEBIND for IPv6)
// on the socket before bind(2), so a proxy listener can bind VIP:port on
// every host, master or not: the kernel accepts a non-local address, and
// connections arrive as soon as the VIP is added. No
// net.ipv4.ip_nonlocal_bind sysctl is needed.
//
// # Link state
//
// A LinkWatch (or WatchLink) reports a link's usable state (administratively
// up and IFF_RUNNING, i.e. carrier) and its index from netlink link events,
// for a VRRP instance to go to FAULT when its interface loses carrier, and
// to follow it when it is deleted and created again under a new index.
// Events only trigger a fresh read of the link, so a watch whose
// subscription fails (ENOBUFS when a burst of events overflowed its
// buffer) subscribes again, reads the state afresh and goes on: it never
// stops before its context is done.
//
// # Sysctls
//
// RecommendedSysctls and SetSysctls are optional helpers for the VIP host
// (arp_ignore=1, arp_announce=2, promote_secondaries=1 on the interface).
// rmqlb works without them.
//
// # Namespaces
//
// Everything here works in the network namespace of the calling thread,
// which for a normal process is the process's. The tests re-run themselves
// under `ip netns exec` in namespaces they create, and check on the peer side
// of a veth what was sent, byte for byte, and that the peer's neighbour
// table follows (default arp_accept=0: only existing entries are updated,
// which is the failover case). A real keepalived's gratuitous ARP is
// captured the same way and compared with GARPFrame.
package netsetup

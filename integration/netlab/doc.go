// Package netlab builds throw-away Ethernet labs out of Linux network
// namespaces for the integration tests and benchmarks of rmqlb.
//
// A Lab is one "switch" namespace holding a Linux bridge, plus one namespace
// per Host, each joined to the bridge by a veth pair: the host end is called
// eth0 and lives in the host namespace, the switch end (named p-HOST) is a
// port of the bridge in the switch namespace. Hosts get a fixed address
// (for example 10.77.0.1/24), a fixed locally administered MAC address, a
// loopback that is up, /etc/netns/NS/hosts with the short names of every host
// of the lab (ip-netns(8) bind-mounts it over /etc/hosts for processes started
// with `ip netns exec`), and a few sysctls (see Lab.New).
//
// Nothing of a lab touches the root namespace: the veth pair is created inside
// the switch namespace with its peer placed straight into the host namespace,
// so interface names never collide between labs running at the same time, and
// no frame of a lab can reach a real interface. Namespace names are unique per
// run: "nl<pid>_<8 hex>-<host>", where pid is the process that made the lab,
// so that Sweep can delete what a crashed run left behind without touching the
// labs of a run that is still alive.
//
// The harness offers what a failover test needs:
//   - Host.Start runs a process in the host namespace (`ip netns exec`) with
//     its output in a file of the lab's directory; the tail of every file is
//     logged when the test fails. Proc sends signals and waits.
//   - Host.Do runs Go code in the namespace on a locked OS thread and restores
//     the thread's namespace afterwards.
//   - Lab.CutLink / RestoreLink take the switch side of a host's veth down and
//     up (the host sees its carrier go away, as when a cable is pulled);
//     Lab.Isolate / Unisolate keep the carrier and drop the host's frames at
//     the bridge port (a partition the host cannot see).
//   - Host.ServeBanner answers TCP connects on an address (bound with
//     IP_FREEBIND, so it may be a VIP that is not local yet) with the host's
//     name, so that "the client can connect" means "the VIP answers on the host
//     that owns it", and says which host that is.
//   - Host.StartProbe connects to a target every 10 ms and measures outages.
//   - Host.Neighbours and Host.Addrs read the neighbour table and the
//     addresses of eth0 over netlink (cheap enough to poll every few ms).
//   - Host.DialContext and Host.Dialer dial from the namespace (for example
//     amqp091-go clients on the client host).
//   - StartKeepalived writes a keepalived.conf and runs keepalived(8).
//
// Every resource is released by Lab.Close, which New registers with the test's
// Cleanup, so a failing or panicking test still deletes its namespaces.
//
// Labs need root, ip(8) from iproute2 and sysctl(8); Require skips a test that
// lacks them.
package netlab

// Package lab builds and tears down the network-namespace lab of the rmqlb
// benchmark: three hosts (client, proxy, server), each in its own network
// namespace with one veth interface, joined by a Linux bridge that lives in
// a fourth namespace of its own. Nothing is attached to or configured in the
// root namespace: the only host-wide state is the four namespace names,
// which are unique per lab and removed by Close.
//
//	client 10.88.0.50 ─┐
//	proxy  10.88.0.1  ─┼─ br0 (in the bridge namespace)
//	server 10.88.0.2  ─┘
//
// Every host namespace gets loopback up, net.ipv4.tcp_tw_reuse=1 and a wide
// net.ipv4.ip_local_port_range (1024-65535) for connection-rate load, and a
// larger net.core.somaxconn.
//
// The lab needs root and iproute2's `ip`.
package lab

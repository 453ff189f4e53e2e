// Package vrrpsoak measures how steady VRRP stays under load, rmqlb and
// keepalived side by side (command bench/cmd/vrrp-soak; a 2-minute
// version is the integration test TestVRRPSteadyUnderProxyLoad).
//
// Run builds one network-namespace lab per implementation (three VRRP
// hosts at priorities 150, 100 and 50, VRRPv3 per RFC 5798, one VIP, a
// client and a server on one bridge), runs them at the same time under
// the same load (bulk and connection-rate traffic through the master's
// proxy, stress-ng on every CPU, memory workers), and reports per lab
// from packet captures with kernel timestamps on every host (send
// jitter, the longest gap at a backup, gaps over twice the interval and
// over the master down interval, backups that advertised as master) and
// from the daemons (state changes in the window, the master's VRRP CPU
// and memory, real-time threads, garbage collections, late adverts);
// with Config.Cuts it then cuts the master's link repeatedly and reports
// the client's outages. Every namespace and process it starts is removed
// when it returns.
package vrrpsoak

// Package migrate translates the configuration of a keepalived + LVS +
// HAProxy stack into one rmqlb configuration file: `rmqlb import`.
//
// Import reads up to three inputs:
//
//   - a keepalived.conf, with the files it includes: its vrrp_instances
//     become vrrp_instances (VRRPv2 with auth_type PASS or VRRPv3, unicast
//     peers, VIPs, gratuitous ARP settings), its virtual_servers become
//     listeners (scheduler, persistence, real servers, TCP_CHECK), and the
//     vrrp_scripts that clearly check the proxy or a broker (killall -0
//     haproxy, pidof, nc -z HOST PORT, curl, rabbitmqctl) and the
//     vrrp_track_processes of either become track rules on a listener or
//     a backend;
//   - an haproxy.cfg: its TCP listen sections and frontend/backend pairs
//     become listeners, with their defaults (timeouts, retries, option
//     redispatch, maxconn, balance, default-server), binds, servers and
//     check settings;
//   - the output of `ipvsadm -Sn`: an LVS table set by hand.
//
// The inputs are merged: keepalived gives the VRRP instances, and
// listeners come from keepalived's virtual_servers, HAProxy and ipvsadm.
// When two describe the same VIP:port, HAProxy's is kept (it names its
// servers and holds their check settings), then keepalived's, and the
// other is reported. An LVS service whose real servers are HAProxy's bind
// (LVS in front of HAProxy) becomes one listener on the service's VIP:port
// with HAProxy's servers. A listener's bind is the VIP:port clients use.
//
// Every directive of the inputs is accounted for: translated, or reported
// as a Note with its file, line and why ("no equivalent: ...", "http mode:
// rmqlb proxies TCP"); a Note also marks a translation that does not do
// exactly what the source did (a TCP connect check becomes rmqlb's AMQP
// handshake check, except on RabbitMQ's ports that do not speak AMQP,
// where it stays a TCP connect). The readers mark each statement they
// translate; a sweep reports the rest, so that a directive the
// translators do not know is reported, not lost. A directive the inputs do not write takes rmqlb's
// default, which the file therefore leaves out.
//
// The readers are small and this package's own: keepalived.conf has no Go
// parser in use (keepalived's own lib/parser.c defines the syntax: '!' and
// '#' comments, double quotes, '{' and '}' that split lines, a '\' ending
// a line that continues none but a parameter definition, include globs
// relative to the including file), and the
// HAProxy parser of HAProxy Technologies (config-parser, now part of
// client-native) is a typed editor for every HAProxy keyword that keeps no
// line numbers and brings a large module tree, where import needs a few
// dozen keywords, each with its line. Both readers bound what they read
// (file size, nesting, include depth) and return a *SyntaxError with the
// file and line of the first problem.
//
// Import does not write the file anywhere and does not validate it:
// `rmqlb import` parses it with config.ParseWithFiles before printing it
// (the list files it names, which the import read, are read again).
// Files is the seam to the file system (OSFiles in production, a map in
// tests).
// Nothing in this package keeps state between calls; Import may be called
// from several goroutines at once.
package migrate

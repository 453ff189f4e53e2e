// Package config reads and validates rmqlb's single YAML configuration file.
//
// The file has four parts: daemon settings (control socket, logging,
// metrics), vrrp_instances (each a keepalived vrrp_instance: RFC 3768 VRRPv2
// or RFC 5798 / RFC 9568 VRRPv3), listeners (each a TCP proxy on a VIP with
// its backends, replacing HAProxy's listen section and LVS's virtual_server)
// and, per backend, its health check.
//
// Load parses a file strictly (unknown keys are errors), fills in the
// documented defaults and validates every field. Every problem is reported
// as a FieldError that names the field by its path in the file, its line,
// and what is wrong, so that `rmqlb check-config` can print one line per
// problem and a reload with a bad file can be refused without touching the
// running daemon.
//
// Durations are Go durations ("100ms", "1s", "1m30s"). Addresses are
// written as text ("10.77.0.100", "10.77.0.100/24", "10.77.0.1:5672") and
// are available parsed as net/netip values after validation.
package config

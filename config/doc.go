// Package config reads rmqlb's single YAML configuration file and resolves
// it into one typed model of what the daemon runs.
//
// The file has four parts: daemon settings (control socket, logging,
// metrics), vrrp_instances (each a keepalived vrrp_instance: RFC 3768 VRRPv2
// or RFC 5798 / RFC 9568 VRRPv3), listeners (each a TCP proxy on a VIP with
// its backends, replacing HAProxy's listen section and LVS's virtual_server)
// and, per backend, its health check.
//
// Parse decodes a file strictly (unknown keys are errors) into its schema
// and resolves it into a Config: enums parsed into the owning packages'
// types (balancer.Policy, proxyproto.Version, amqpcheck.Mode,
// healthcheck.AlarmAction, CheckType, OnMarkedDown), addresses into
// net/netip values, backends named by backend.ID, track rules resolved to
// the backends and listeners they watch, and every default applied. Each
// rule, limit and default is stated once, by the package it belongs to:
// the Validate of vrrp.Config, netsetup.VIPConfig, notify.Config,
// balancer.Config, healthcheck.CheckConfig and amqpcheck.Config holds the
// rules of its part and names each field it refuses (a fielderr.Error);
// Parse runs them on what it built and places each field at its key and
// line in the file. The rules this package keeps are those of the file
// itself: YAML types and unknown keys (each named with the key most likely
// meant, suggest.go), text that does not parse,
// references between sections (tracks) and names and addresses unique
// across them, and the few limits and defaults of the file alone (its
// constants). Every problem is reported as a FieldError that names the
// field by its path in the file, its line, and what is wrong, in file
// order, so that `rmqlb check-config` prints one line per problem and a
// reload with a bad file is refused without touching the running daemon.
//
// The daemon builds every package's configuration from a Config with the
// builders of build.go and nothing else, the ones Parse validated: a file
// that Parse accepts is a file the daemon runs.
//
// Durations are Go durations ("100ms", "1s", "1m30s"). Addresses are
// written as text ("10.77.0.100", "10.77.0.100/24", "10.77.0.1:5672").
package config

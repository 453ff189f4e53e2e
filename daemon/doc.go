// Package daemon is rmqlb's running model: it builds the VRRP instances
// (package vrrp) with the VIPs they own (netsetup), the listeners
// (balancer), the health checks (healthcheck, amqpcheck) and the track
// rules that tie checks to VRRP priorities, from one resolved
// configuration (package config), and keeps them keyed by typed
// identities (instance name, listener name, backend.ID).
//
// # Lifecycle
//
// Run takes the single-instance lock (before any address is touched: a
// second daemon started by mistake exits without removing the live
// VIPs), removes the VIPs a killed daemon left, opens the control socket
// and the metrics endpoint, starts the listeners (a listener that cannot
// bind fails the start with its own error), starts the checks, waits for
// every backend's first result (bounded), and only then starts the VRRP
// instances, so that a restarted master does not take the VIP back while
// it cannot serve; it is ready once each runs: its sockets open, or in
// FAULT while its interface does not exist or has no IPv4 address, which
// it waits for (one whose sockets cannot be opened for another reason
// fails the start). It stops in the reverse order, VRRP first: a master
// hands its VIPs over before its listeners close. Each VRRP instance's
// notify hooks (package notify) run in a part of their own, fed by the
// instance's transitions; they finish their queue, the stop hook
// included, before Run returns, without holding up the listeners' stop.
//
// Every second (on the daemon's clock) and at each reload the daemon looks
// whether its control socket's path still leads to the socket it serves
// and the lock file's path to the file whose lock it holds; when either
// was removed or replaced (a cleaned /run/rmqlb), it locks a new lock file,
// listens again at the socket's path and logs a warning. A new lock file
// another process holds means a second daemon runs: that is logged as an
// error and the socket is left to it.
//
// Under systemd (a Type=notify unit, $NOTIFY_SOCKET set) the daemon says
// READY=1 once every part has started, RELOADING=1 and READY=1 around each
// reload, STOPPING=1 when it stops, and keeps a one-line STATUS= current
// (sd_notify(3)); without $NOTIFY_SOCKET it sends nothing.
//
// # Reload
//
// A reload is plan := Diff(running model, new model); apply the plan; the
// running model becomes the new one, except what could not be applied.
// Diff is a pure function, tested on its own. Listeners are added,
// removed, moved to a new address or updated in place (the balancer keeps
// the sessions of the backends that stay and closes those of removed
// backends per on_marked_down); checks are added, removed or updated
// keeping their state; track rules are rebuilt from the current check
// states without a moment of "everything failing"; notify hooks are
// replaced in place; VRRP instances are
// added and removed, and a running instance takes every new setting but
// its interface, VRID and version live (vrrp.Instance.Update, and
// netsetup.VIPSet.Update for its addresses and gratuitous ARP settings):
// the VIP moves only as the new priorities say; the log level, the
// metrics endpoint and the control socket's group change live. What only a restart can apply is listed
// with its line in the file. A reload asked for while the daemon starts
// waits until it is ready; one asked for once it has begun to stop is
// refused, and the stop waits for a reload in progress. A change that
// cannot be applied (a listener's new address, a VRRP instance's
// interface, the metrics endpoint) is refused and what it would replace
// runs on. Listeners removed or moved stop accepting at once and drain in
// the background: the reload answers meanwhile.
//
// # Planned handover
//
// The vrrp control command (`rmqlb vrrp release NAME|--all [--for
// DURATION]`, `rmqlb vrrp ready NAME|--all`) releases an instance, or every
// one, for the maintenance of this host: see ReleaseVRRP and
// vrrp.Instance.StepDown. A release goes on across reloads that keep the
// instance and across an upgrade in place (with its start and reason).
//
// # Operator states across a restart
//
// With a state file (config.Config.StateFile) the operator's states (a
// backend's drain, maint and weight, an instance's release) outlive a
// restart: the daemon writes them after each change and reload
// (opstate.go: atomically, each with what identifies it: a backend's
// settings by a fingerprint, an instance's virtual router), and a start
// that is not an upgrade plans from the file what the running
// configuration can take (oprestore.go: the same plan rmqlb check-config
// shows) and applies it before the first client is accepted and before a
// VRRP instance starts. A file that cannot be written, or could not be
// read at start, is shown by status until a write succeeds.
//
// # Health events
//
// The scheduler's events reach the balancer through a router keyed by
// listener name, so a backend's state and slow-start share need no
// string splitting and no state mapping: checks and balancer share
// package backend's vocabulary.
//
// # Metrics
//
// Every metric goes to Options.Registry. Each listener and VRRP unit
// registers its collectors through its own partRegistry (registry.go),
// so a reload that removes it removes its series; a removed backend's
// series go with the balancer's snapshot and with the scheduler's Remove.
// The daemon's own (daemonmetrics.go) are rmqlb_build_info, the reload
// metrics and, per VRRP unit, the presence of its VIPs on the interface.
// Labels: vrrp_instance, and listener and backend shared by the balancer
// and the checks. README.md lists every metric, from the registry.
//
// # Ownership and concurrency
//
// A Daemon owns every goroutine it starts (a group of parts, each with
// its own context) and Run returns only when all have ended. Status,
// Handle, SetAdmin, Reload and RequestReload are safe from any goroutine.
// Time comes from an injected clock (Options.Clock): the checks, the VRRP
// instances and the daemon's own waits, so that tests drive them on a
// fake clock.
package daemon

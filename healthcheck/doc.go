// Package healthcheck schedules health checks of backends and turns their results into backend
// states for the balancer and priority changes for VRRP.
//
// The model is HAProxy's server checks (inter, fastinter, downinter, rise, fall, timeout check,
// slowstart; https://docs.haproxy.org/2.6/configuration.html#5.2) plus keepalived's
// track_script weights (keepalived.conf(5), vrrp_track_script / track_script weight), without
// forking anything: a Checker is a Go value (a TCP connect, or an AMQP 0-9-1 handshake from
// package amqpcheck).
//
// # States
//
// States are package backend's: one vocabulary for checks, balancer and status. Health is UP,
// DOWN or DEGRADED (passing with a warning or a resource alarm, e.g. a RabbitMQ memory alarm:
// the broker still serves consumers, so it keeps its traffic; taking it out would only cause a
// reconnect storm; CheckConfig.OnAlarm can make an alarm fail the check instead; or the broker
// at its own connection limit, Result.Full, which Event.Full and Sink.SetBackendFull pass on so
// that it keeps its sessions and gets new clients only when no other backend can). An operator
// overlays DRAIN (no new connections, sessions stay) or MAINT (out of service); checks keep
// running under both so the health is known when the operator clears the state. The effective
// State is backend.Admin.Apply(health): MAINT whatever the health; DRAIN while the health
// serves, but DOWN when the checks fail, so that a drained broker that freezes still has its
// sessions shut down.
//
// A backend starts DOWN ("not checked yet") and the first passing check brings it UP at once;
// after that, fall consecutive failures take it DOWN and rise consecutive passes bring it back.
// HAProxy starts servers UP and keepalived (without alpha) starts real servers UP, which sends
// clients to a dead broker for up to fall x interval after a restart of the balancer; starting
// DOWN costs at most the start-up jitter plus one check before traffic flows.
//
// # Timing
//
// Checks of one backend never overlap. The next check starts interval after the start of the
// previous one (or when it ends, if it took longer): fastinterval while the backend is changing
// state (between the first failure and fall, or the first pass and rise), downinterval while it
// is DOWN, interval otherwise. A frozen broker (accepts TCP, never answers) is therefore DOWN at
// most interval + (fall-1) x max(fastinterval, timeout) + timeout after it froze: each failing
// check takes its whole timeout, so with fastinterval shorter than timeout the failing checks
// follow one another timeout apart, not fastinterval; a fastinterval below timeout buys nothing
// while a broker stops answering (it still speeds up rise). With Options.Traffic, a busy backend
// adds up to BusyGrace. The first check of each backend is delayed by a random part of
// StartJitter so many backends do not fire together.
//
// Time comes from an injected Clock; Machine is the per-backend step function (Observe, Tick,
// SetAdmin, SetConfig) that table tests drive without goroutines or sleeps. Scheduler runs
// Machines over real goroutines: one owner loop (Run) and one goroutine per running check.
// Backends are added, updated (keeping their state) and removed while it runs, which is how a
// reload changes checks without taking brokers out of service.
//
// # Busy backends
//
// A check that times out says the broker did not answer one more connection in time; it does
// not say whether the broker is frozen or busy. A broker answering a reconnect storm of
// thousands of clients takes seconds to start one more handshake while it serves the
// connections it has, and taking it out then closes every handshake in progress on it
// (on_marked_down shutdown-sessions) and sends the storm to the others. With Options.Traffic,
// which the daemon answers from the proxy's byte counters, the scheduler asks whether the
// backend wrote to one of its clients in the second half of a timed-out check's time: a frozen
// broker (SIGSTOP) or one cut off the network writes nothing (what it had in flight arrives at
// once), a busy one keeps writing. Such a busy timeout (Result.Busy) of a serving backend counts
// neither as a failure nor as a pass for CheckConfig.BusyGrace from the first of them; past
// that, timeouts are failures again, so a broker that keeps talking on its old connections but
// never accepts new ones still leaves service after BusyGrace + fall checks. Any other error
// (refused, closed, authentication) is a failure whatever the traffic.
//
// # Inconclusive checks
//
// A check this host cannot make says nothing of the backend. A flood of clients against the
// proxy can take every file descriptor of the process: then every check's connection fails
// ("socket: too many open files") while the brokers are healthy, and counting those as failures
// would take every backend DOWN, close every session (on_marked_down shutdown-sessions) and lower
// the VRRP priority, moving the VIPs to a peer facing the same flood. A checker returns Failed
// for its errors, which makes a shortage of file descriptors or socket memory
// (LocalShortage) an inconclusive result (Result.Inconclusive): it counts neither as a pass nor
// as a failure, and the backend keeps its state until a check can be made again. The scheduler
// logs one line when a backend's streak of such checks begins and one when it ends.
//
// # Refused logins
//
// A check that passes with the server refusing its own login or client certificate
// (Result.Refused) makes the backend DEGRADED: the nodes of a RabbitMQ cluster keep users,
// permissions, vhosts and their limits together and refuse alike, and failing every backend for a
// change to the check's user would close every client's session. A refusal one node gives while
// others let the same login in is that node's own. With CheckConfig.RefusedAloneFails the
// scheduler compares: a refusal fails the check once another backend of the listener whose check
// logged in with the same CheckConfig.Login was let in (a pass, its login not refused) after this
// backend's run of refusals began (PassedAlike). Refused everywhere, every backend stays DEGRADED.
// The status reports LastRefused and, from the same rule, RefusedAlone either way.
//
// # Certificates
//
// A check over TLS reports its certificates' expiries (Result.Certificates: the first to expire
// of the broker's chain, and its own client certificate). The backend's status keeps those of
// its last passing check while its checks fail, Metrics exports them, and the scheduler logs a
// warning of each that expires within CertificateWarning, once a day per backend, so that an
// expiry is met weeks ahead and not by every backend going DOWN at once.
//
// # Slow start
//
// A backend that comes back UP from DOWN (not at start-up) with SlowStart > 0 gets a weight that
// ramps linearly from 1 % to 100 % over SlowStart (HAProxy slowstart), published as
// Event.WeightPercent for the balancer to apply to its configured weight.
//
// # Outputs
//
// Subscribers receive Events (state changes and weight changes) from the scheduler's goroutines,
// serialised; a subscriber added while the scheduler runs first gets the current state of every
// backend. Forward adapts a Sink (the daemon's router to the balancer) and Tracker sums
// keepalived-style track weights for a VRRP instance. Snapshot returns the status of every
// backend for `rmqlb status`; Checked tells when every backend has had its first result.
package healthcheck

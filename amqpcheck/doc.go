// Package amqpcheck checks RabbitMQ brokers the way an AMQP 0-9-1 client meets them, for
// package healthcheck.
//
// The wire format is AMQP 0-9-1 (https://www.rabbitmq.com/resources/specs/amqp0-9-1.pdf,
// with RabbitMQ's errata for field-table types and the heartbeat frame type 8:
// https://www.rabbitmq.com/amqp-0-9-1-errata.html). frame.go, table.go and method.go are a
// small codec (frames, field tables, the dozen methods a check uses) with no I/O; session.go
// runs the fixed script of a check over one connection.
//
// # Modes
//
// handshake: send the protocol header "AMQP\x00\x00\x09\x01" (after a PROXY protocol v2 LOCAL
// header when the broker expects PROXY), read Connection.Start, keep its server properties
// (product, version, platform, cluster_name, capabilities) and close the TCP connection. This
// sees a frozen broker (SIGSTOP: the kernel still completes the TCP handshake, nobody sends
// Connection.Start) and a node whose listener is up but whose reader does not answer.
//
// login: continue with Start-Ok (SASL PLAIN, or EXTERNAL over TLS with a client certificate,
// RFC 4422 appendix A), Tune / Tune-Ok, Open on the configured vhost,
// Open-Ok, the alarm probe below, then Connection.Close / Close-Ok (or, under an alarm, keep
// the connection: see Blocked connections).
//
// # TLS
//
// With Config.TLS a check speaks TLS (RFC 8446, TLS 1.2 at least) to the broker's AMQPS
// listener before the protocol header, in either mode; a PROXY header, when the broker expects
// one, goes first, in clear. The broker's certificate is verified as an AMQPS client does
// (chain and name), by chain only, or not at all (Verify); a client certificate is sent to a
// broker that asks for one. A TLS handshake that fails wraps ErrTLS. The files are read by New
// and again when one changes on disk (see checktls.Config), so a renewed certificate needs no reload.
// Under TLS 1.3 a broker refuses a client certificate after the client finished its side of
// the handshake: that alert arrives with the first read and is ErrTLS too. A check over TLS
// reports when its certificates expire (Report.Certificates, healthcheck.Certificate): the
// first to expire of the broker's chain, the one it sent and, where the check verified it, up
// to the root; and its own client certificate.
//
// # What the broker logs (RabbitMQ 3.10.8, measured)
//
//   - TCP connect and close without sending anything (healthcheck.TCPCheck): nothing at info
//     level (RabbitMQ treats it as a load-balancer health check and logs it at debug).
//   - handshake, then close or reset: "accepting AMQP connection" (info) and "closing AMQP
//     connection ...: client unexpectedly closed TCP connection" (warning). An RST instead of a
//     FIN changes nothing.
//   - handshake, then Connection.Close before Start-Ok: an error report ("unexpected method in
//     connection state starting"): worse, so not done. AMQP 0-9-1 has no way to end a
//     connection cleanly before Connection.Open.
//   - login with Connection.Close / Close-Ok: three info lines (accepting, user authenticated
//     and granted access, closing) and no warning.
//
// So handshake is the cheapest check that sees a frozen broker, at the price of one warning
// line per check on the broker; login is quieter (info only), checks credentials and the vhost
// and detects alarms, at the price of a full connection setup per check.
//
// # Alarms
//
// A memory or disk alarm blocks publishers cluster-wide; consumers keep working. A check that
// sees one passes with healthcheck.Result.Alarm set, and the backend's on_alarm
// (healthcheck.CheckConfig.OnAlarm) decides: DEGRADED by default, still served, since taking
// it out would only cause a reconnect storm onto nodes under the same alarm; or DOWN.
//
// RabbitMQ says nothing about alarms in the handshake; it sends Connection.Blocked only to a
// connection that announced the "connection.blocked" capability and then publishes. The login check therefore announces the
// capability, opens a channel and writes, in one segment, Basic.Publish of an empty message to
// the default exchange with routing key ProbeRoutingKey ("amq." names cannot be declared, so
// the message is dropped at once, mandatory is false) followed by Basic.Qos on the same
// channel. The broker's reader processes the publish before the Qos: under an alarm it sends
// Connection.Blocked (reason "low on memory" / "low on disk") and stops reading, so Qos-Ok
// never comes; without an alarm Qos-Ok comes at once. The answer is thus decided by one round
// trip, without waiting out a timeout. A Channel.Close (e.g. 403: the check user may not write
// to the default exchange) makes the probe fail without failing the check (DEGRADED with the
// reason, so the operator fixes permissions or sets the probe off). The management plugin's
// /api/health/checks/local-alarms is the other way; it needs the plugin and only reports the
// local node's alarms, while Connection.Blocked reflects what a publisher on that node meets.
//
// # Refused logins
//
// RabbitMQ keeps users, passwords, permissions, vhosts and connection limits (a vhost's
// max-connections, a user's) across the cluster, and counts the check's own connection against
// the limits. So when the check's user or vhost is refused (403 ACCESS_REFUSED on the
// connection; 530 NOT_ALLOWED in answer to Connection.Open: no such vhost, no access, or a limit
// reached, e.g. clients filled the vhost), every node refuses alike. The check passes with the
// refusal as a warning (DEGRADED, still served): failing it would take every backend DOWN at
// once and close every client's session for a change to the check's user. Run still returns
// the refusal as a *ServerCloseError (errors.Is ErrAuth or ErrVHost). A vhost that is down on the
// node (541 INTERNAL_ERROR, "vhost ... is down") fails the check: that is the node's fault alone.
// The 530 of a node at its own connection_max ("node connection limit", RabbitMQ 3.13 and later:
// ServerCloseError.NodeFull), which refuses every new client there while the other nodes take
// them, passes the check as full (healthcheck.Result.Full): the backend keeps its sessions, which
// the node serves, and gets new clients only when no other backend can.
// The same holds for the check's TLS client certificate: the nodes of a cluster trust the same
// CAs, so when it expires (or is revoked, or not sent where required) every node sends the alert
// that refuses it, and the check passes with that alert as a warning. Config.OnLoginRefused
// RefusedDown fails the check on such a refusal instead, for brokers whose authentication can
// fail on one node alone (an LDAP server or a CA bundle per node).
//
// # Why our own codec and not amqp091-go
//
// amqp091-go is the client we test against, but a check is not a client: (1) handshake mode
// stops after Connection.Start, which the library cannot do; (2) the alarm probe must read
// Connection.Blocked interleaved with the answer to a synchronous method and give up at a
// deadline, while the library's channel methods have no deadline and only return when the
// connection dies; (3) one check is one goroutine and one deadline from the context for every
// phase, so a frozen broker yields "waiting for Connection.Start: timeout" rather than a
// generic dial error, and no reader or heartbeat goroutine outlives the check but the one
// watching a blocked connection (below); (4)
// every reply code maps onto the distinct errors of errors.go (refused, timeout, not AMQP,
// authentication, vhost, server close with code, frame too large). What is ours is only the
// fixed message script; the real broker and amqp091-go clients verify it in the tests.
//
// # Blocked connections
//
// A blocked RabbitMQ connection reads nothing more until the alarm clears, so it does not
// notice its client closing the TCP connection either: each login check that met an alarm and
// closed its connection would leave one on the broker, in state blocked, until the alarm
// clears (one every interval, on a broker already short of memory, until it refuses clients
// for want of file descriptors or connection_max). A Check therefore keeps the connection the
// broker blocked: while it does, a check still connects and logs in, so that what the alarm
// would hide (a changed password, a revoked permission, a frozen broker) fails it, but does not
// publish the probe, and closes its connection with Connection.Close / Close-Ok, which the
// broker reads until a publish; when that login passes, the check reports the kept
// connection's alarm. The kept connection's watcher goroutine waits for Connection.Unblocked,
// which RabbitMQ sends when the alarm clears, then ends it with Connection.Close / Close-Ok, and
// the next check probes again. The login check asks for heartbeats every few seconds, which
// RabbitMQ keeps sending on a blocked connection: a kept connection that stays silent for three
// heartbeat intervals, or that the broker closes or resets (a restart), is given up, and the
// next check probes on a new connection.
// Close closes the kept connection; healthcheck.Scheduler calls it when the backend is removed,
// its check replaced on reload, or the scheduler stops. So a Check leaves at most one
// connection on a blocked broker.
//
// A Check is safe for concurrent use. Apart from a kept blocked connection it keeps no state
// between runs; every other connection is closed before Run returns, also on timeout or
// cancellation.
package amqpcheck

package healthcheck

import (
	"context"
	"fmt"
	"net"
	"net/netip"
)

// Checker checks one backend once. Check must return by the time ctx is done (the scheduler
// puts the check's timeout in ctx) and must not keep goroutines or connections after it
// returns, unless the Checker also implements io.Closer: then it owns what it keeps between
// checks, and the Scheduler closes it when it no longer uses it (the backend is removed, its
// checker replaced by Update, or Run returns). The scheduler never runs two checks of one
// Checker at the same time.
type Checker interface {
	Check(ctx context.Context) Result
}

// CheckerFunc adapts a function to Checker.
type CheckerFunc func(ctx context.Context) Result

// Check calls f(ctx).
func (f CheckerFunc) Check(ctx context.Context) Result { return f(ctx) }

// Result is the outcome of one check.
type Result struct {
	// Err is nil when the check passed. Its text is shown as the reason of a DOWN state, so it
	// should say what failed ("waiting for Connection.Start from 10.0.0.1:5672: timeout").
	Err error
	// Warning, on a passing check, makes the backend DEGRADED (still served), e.g. "alarm
	// probe failed: access refused". Ignored when Err is set.
	Warning string
	// Refused, on a passing check, says that Warning includes the server refusing the check's
	// own login or TLS client certificate (a refused login its on_login_refused lets pass):
	// something every node of a cluster refuses alike, unless the fault is that node's own.
	Refused bool
	// Alarm, on a passing check, says that the broker has a resource alarm in effect (memory or
	// disk: publishers are blocked), e.g. "publishers blocked: memory". What it does is the
	// backend's CheckConfig.OnAlarm: DEGRADED (the default) or DOWN. Ignored when Err is set.
	Alarm string
	// Full, on a passing check, says that the broker refuses every new client for now because
	// it holds as many connections as its own limit allows (RabbitMQ's connection_max): a
	// limit of that node alone, while the others still take clients. The backend is DEGRADED
	// and keeps its sessions, and its listener gives it new clients only when no other backend
	// can take them. Warning says so (see FullWarning). Ignored when Err is set.
	Full bool
	// Info is a free-form description of what answered (e.g. "RabbitMQ 3.10.8, cluster
	// rabbit@rmq1"), kept for status.
	Info string
	// Cluster names the RabbitMQ cluster the broker that answered says it belongs to (the
	// cluster_name of its Connection.Start: the name rabbitmqctl set_cluster_name gave the
	// cluster, else the node's own); empty when the check does not tell.
	Cluster string
	// Certificates are the TLS certificates of the check's connection
	// (see Certificate), for a check that speaks TLS; nil otherwise.
	Certificates []Certificate
	// Busy marks a check that failed by timing out while the backend kept sending bytes to
	// the clients proxied to it (Options.Traffic): a broker slow to start one more handshake,
	// not a frozen one. The Scheduler sets it; checkers leave it false. CheckConfig.BusyGrace
	// says how long such timeouts are not counted as failures.
	Busy bool
	// Inconclusive marks a check that could not be made for a cause on this host, not on the
	// backend: a shortage of file descriptors or socket memory (see Failed). It
	// counts neither as a pass nor as a failure: the backend keeps its state and its runs of
	// passes and failures. Err says why; the other fields are ignored.
	Inconclusive bool
}

// FullWarning is the warning of a check that found the broker at its own connection limit
// (Result.Full), with the broker's words for it, if any: "node connection limit reached (530
// NOT_ALLOWED - connection refused: node connection limit (100) is reached): new clients go to
// the other backends".
func FullWarning(words string) string {
	if words != "" {
		words = " (" + words + ")"
	}
	return "node connection limit reached" + words + ": new clients go to the other backends"
}

// Passed reports whether the check passed (possibly with a warning).
func (r Result) Passed() bool { return r.Err == nil && !r.Inconclusive }

// TCPCheck passes when a TCP connection to Addr is established within the check's timeout; it
// closes it at once without sending anything (RabbitMQ logs such a connection at debug level
// only). It is blind to a frozen process, whose kernel still completes handshakes: use
// amqpcheck for brokers.
type TCPCheck struct {
	// Addr is the backend address.
	Addr netip.AddrPort
	// Dialer is used to connect; the zero value is fine.
	Dialer net.Dialer
}

// Check implements Checker. A connection this host cannot make for want of a file descriptor
// or socket memory makes the check inconclusive (see Failed); EADDRNOTAVAIL, which also means
// no usable source address for the backend, fails it (see LocalShortage).
func (c *TCPCheck) Check(ctx context.Context) Result {
	conn, err := c.Dialer.DialContext(ctx, "tcp", c.Addr.String())
	if err != nil {
		return Failed(fmt.Errorf("connecting to %s: %w", c.Addr, err))
	}
	conn.Close()
	return Result{Info: "TCP connect"}
}

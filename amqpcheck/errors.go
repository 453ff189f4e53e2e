package amqpcheck

import (
	"errors"
	"fmt"
	"strings"

	"github.com/rmqlb/rmqlb/checkconn"
)

// Errors a check can fail with; test with errors.Is. A check error wraps exactly one of them
// (or a *ServerCloseError, which matches ErrAuth or ErrVHost where that is what its code
// means; ErrTLS may wrap ErrClosed or ErrTimeout too), so the scheduler and `rmqlb status`
// can tell the reasons apart.
var (
	// ErrRefused: the TCP connection was refused (nothing listens: broker stopped, stop_app).
	// It is checkconn's, as are ErrTimeout and ErrClosed.
	ErrRefused = checkconn.ErrRefused
	// ErrTimeout: the check's deadline passed: no TCP connection, or the broker accepted TCP
	// but never answered (a frozen broker: the kernel completes handshakes for it). It has a
	// Timeout method that returns true, as the net and context packages' timeouts do, so
	// that the health-check scheduler can tell a timed-out check from a refused one.
	ErrTimeout = checkconn.ErrTimeout
	// ErrNotAMQP: the peer answered with something that is not AMQP 0-9-1 (garbage, HTTP, a
	// protocol header of another version).
	ErrNotAMQP = errors.New("not an AMQP 0-9-1 server")
	// ErrAuth: the broker refused the user or password (403 ACCESS_REFUSED, or the connection
	// closed after Connection.Start-Ok).
	ErrAuth = errors.New("authentication failed")
	// ErrVHost: the vhost does not exist or the user may not access it (530 NOT_ALLOWED).
	ErrVHost = errors.New("vhost not found or access refused")
	// ErrClosed: the broker closed the TCP connection without an AMQP reason.
	ErrClosed = checkconn.ErrClosed
	// ErrTLS: the TLS handshake failed (a certificate either side refused, no common
	// version or cipher, a peer that closed or did not answer during the handshake: then it
	// also wraps ErrClosed or ErrTimeout).
	ErrTLS = errors.New("TLS handshake failed")
	// ErrWrongCluster: the broker names another RabbitMQ cluster than Config.Cluster.
	ErrWrongCluster = checkconn.ErrWrongCluster
)

// Reply codes of the AMQP 0-9-1 spec used here.
const (
	ReplySuccess       = 200
	ReplyAccessRefused = 403
	ReplyNotAllowed    = 530
)

// ServerCloseError is a Connection.Close (Channel 0) or Channel.Close sent by the broker.
type ServerCloseError struct {
	Channel uint16
	Close
}

// Error returns e.g. "server closed connection: 530 NOT_ALLOWED - vhost nope not found".
func (e *ServerCloseError) Error() string {
	what := "connection"
	if e.Channel != 0 {
		what = fmt.Sprintf("channel %d", e.Channel)
	}
	s := fmt.Sprintf("server closed %s: %d %s", what, e.ReplyCode, e.ReplyText)
	if e.ClassID != 0 {
		s += fmt.Sprintf(" (caused by %v)", MethodID{e.ClassID, e.MethodID})
	}
	return s
}

// Is makes a connection close with 403 match ErrAuth and one with 530 match ErrVHost, but for
// the 530 of a node at its connection limit (NodeFull), which is neither.
func (e *ServerCloseError) Is(target error) bool {
	if e.Channel != 0 {
		return false
	}
	switch target {
	case ErrAuth:
		return e.ReplyCode == ReplyAccessRefused
	case ErrVHost:
		return e.ReplyCode == ReplyNotAllowed && !e.NodeFull()
	}
	return false
}

// nodeLimitText is what RabbitMQ (3.13 and later) says in the 530 NOT_ALLOWED it closes a
// connection with at Connection.Open when the node's listener holds its connection_max
// connections: "connection refused: node connection limit (N) is reached". AMQP has no reply
// code of its own for it; a vhost's or a user's limit says "connection limit" without "node".
const nodeLimitText = "node connection limit"

// NodeFull reports whether e is a node refusing the connection because it holds as many as its
// connection_max allows: a limit of that node alone, unlike a vhost's or a user's, which the
// cluster counts.
func (e *ServerCloseError) NodeFull() bool {
	return e.Channel == 0 && e.ReplyCode == ReplyNotAllowed && strings.Contains(e.ReplyText, nodeLimitText)
}

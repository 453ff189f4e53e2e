package amqpcheck

import (
	"errors"
	"fmt"

	"github.com/rmqlb/rmqlb/checktls"
)

// OnRefused is what a check does when the broker refuses the check's own credentials: its
// login (user, password, vhost, a connection limit) or its TLS client certificate.
type OnRefused string

// What a refusal of the check's own credentials does.
const (
	// RefusedDegraded passes the check with the refusal as a warning: the backend is
	// DEGRADED and still served. Right when the brokers share their users, permissions,
	// vhosts and CAs (a RabbitMQ cluster does), so that every node refuses alike.
	RefusedDegraded OnRefused = "degraded"
	// RefusedDown fails the check: for brokers whose authentication can fail on one node
	// alone (an LDAP server or a CA bundle of its own per node).
	RefusedDown OnRefused = "down"
	// RefusedDownIfAlone passes the check with the refusal as a warning, as RefusedDegraded
	// does, and leaves the rest to the health-check scheduler: a refusal that one node gives
	// while the same login passes on others of the listener fails there (see
	// healthcheck.CheckConfig.RefusedAloneFails).
	RefusedDownIfAlone OnRefused = "down-if-alone"
)

// ParseOnRefused parses the file's value of on_login_refused.
func ParseOnRefused(s string) (OnRefused, error) {
	switch a := OnRefused(s); a {
	case RefusedDegraded, RefusedDown, RefusedDownIfAlone:
		return a, nil
	}
	return "", fmt.Errorf("must be degraded, down or down-if-alone, not %q", s)
}

// refusal reports whether err is the broker refusing the check's own credentials, which the
// check passes with a warning (see loginRefused and checktls.CertificateRefused), and returns that
// warning.
func refusal(err error) (string, bool) {
	if reply, ok := loginRefused(err); ok {
		return "login refused: " + reply, true
	}
	if alert, ok := checktls.CertificateRefused(err); ok {
		return "client certificate refused: " + alert, true
	}
	return "", false
}

// loginRefused reports whether err is the broker refusing the login check's own credentials
// or vhost, and returns the broker's reply for the warning. Those are:
//   - 403 ACCESS_REFUSED on the connection: the user is unknown, its password or client
//     certificate is refused, or it may not connect from this address (loopback_users);
//   - 530 NOT_ALLOWED in answer to Connection.Open: the vhost does not exist, the user has no
//     permissions on it, or a connection limit is reached: the vhost's max-connections
//     (rabbitmqctl set_vhost_limits, filled by the clients) or the user's (set_user_limits).
//
// A 530 that says the node's connection limit is reached (RabbitMQ 3.13 and later,
// connection_max: "connection refused: node connection limit (N) is reached") is not one: it is
// this node's own count, which it refuses every new client for while the others still take
// them: Check passes it as full (see NodeFull and healthcheck.Result.Full).
//
// Such a refusal is not the node's fault: it answered, ran its authentication and applied
// settings that RabbitMQ keeps, and counts, across the cluster (users, permissions, vhosts,
// limits), so every node refuses alike. Failing the check would take every backend DOWN at once
// and close every client's session (on_marked_down: shutdown-sessions), clients that logged in
// with credentials of their own, for a change to the check's user. A broker that answers
// otherwise (a connection closed after Connection.Start-Ok, no common SASL mechanism, 541 for a
// vhost that is down on the node) still fails it.
func loginRefused(err error) (string, bool) {
	var sc *ServerCloseError
	if !errors.As(err, &sc) || sc.Channel != 0 {
		return "", false
	}
	switch {
	case sc.ReplyCode == ReplyAccessRefused:
	case sc.ReplyCode == ReplyNotAllowed && (MethodID{sc.ClassID, sc.MethodID}) == ConnectionOpen && !sc.NodeFull():
	default:
		return "", false
	}
	return fmt.Sprintf("%d %s", sc.ReplyCode, sc.ReplyText), true
}

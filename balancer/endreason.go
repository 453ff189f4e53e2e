package balancer

import "fmt"

// EndReason says why a session ended, in the per-session log
// (Config.LogSessions). The zero value EndUnknown is never logged for a
// session that ended the ordinary ways listed here.
type EndReason uint8

// End reasons.
const (
	// EndUnknown: no reason was recorded.
	EndUnknown EndReason = iota
	// EndClientClosed: the client ended its side first (FIN), then the
	// broker did.
	EndClientClosed
	// EndBrokerClosed: the broker ended its side first, then the client
	// did.
	EndBrokerClosed
	// EndClientReset: the client's connection was reset or failed.
	EndClientReset
	// EndBrokerReset: the broker's connection was reset or failed.
	EndBrokerReset
	// EndBackendDown: the backend was set DOWN or MAINT and its sessions
	// were shut (Config.ShutdownSessionsOnDown).
	EndBackendDown
	// EndBackendRemoved: the backend was removed by Apply and its
	// sessions were shut.
	EndBackendRemoved
	// EndHandshakeTimeout: the client sent nothing within
	// Config.HandshakeTimeout.
	EndHandshakeTimeout
	// EndFinTimeout: the session was ending and no byte moved for
	// Config.FinTimeout.
	EndFinTimeout
	// EndIdleTimeout: no byte moved for Config.IdleTimeout.
	EndIdleTimeout
	// EndStop: the listener stopped and closed the session.
	EndStop
	// EndConnectFailed: every connect attempt failed.
	EndConnectFailed
	// EndNoBackend: no backend could take the client (none serving, or
	// each drained).
	EndNoBackend
	// EndRefused: the client was refused for maxconn (the listener's, or
	// every usable backend's).
	EndRefused
	// EndFdLimit: the client was refused for lack of file descriptors.
	EndFdLimit
	// EndError: a local error (such as registering a socket with epoll).
	EndError
	// EndShutdown: an operator shut the session down with its backend's
	// (ShutdownSessions) or by a filter (ShutdownSessionsMatching).
	EndShutdown
	// EndVIPLeft: the address the client connected to left this host
	// (CloseSessionsTo).
	EndVIPLeft
	// EndLocalResources: the client was refused because the host had no
	// local port or socket memory for its backend connection.
	EndLocalResources
	// EndBackupReplaced: the backend is a backup and an active backend
	// started to serve again (Config.ShutdownBackupsOnUp).
	EndBackupReplaced
	// EndRefusedClient: the client was refused because its address held
	// Config.MaxConnPerClient sessions.
	EndRefusedClient
	// EndMoved: an operator's paced move of its backend's clients, or a
	// rebalance of the listener's, closed it (MoveSessions), for its
	// client to reconnect to another backend.
	EndMoved
	// EndUpgrade: the listener was handed over to a new process (an
	// upgrade in place, HandOver) and closed the session when its
	// GracefulTimeout ended, or over its CloseSpread, for its client to
	// reconnect to the new process.
	EndUpgrade
	// EndNotAllowed: the client was refused because its address is in
	// none of Config.AllowedClients.
	EndNotAllowed
	// EndDenied: the client was refused because its address is in
	// Config.DeniedClients.
	EndDenied

	numEndReasons = iota
)

var endReasons = [...]string{
	EndUnknown:          "unknown",
	EndClientClosed:     "client_closed",
	EndBrokerClosed:     "broker_closed",
	EndClientReset:      "client_reset",
	EndBrokerReset:      "broker_reset",
	EndBackendDown:      "backend_down",
	EndBackendRemoved:   "backend_removed",
	EndHandshakeTimeout: "handshake_timeout",
	EndFinTimeout:       "fin_timeout",
	EndIdleTimeout:      "idle_timeout",
	EndStop:             "stop",
	EndConnectFailed:    "connect_failed",
	EndNoBackend:        "no_backend",
	EndRefused:          "refused",
	EndFdLimit:          "fd_limit",
	EndError:            "error",
	EndShutdown:         "shutdown",
	EndVIPLeft:          "vip_left",
	EndLocalResources:   "local_resources",
	EndBackupReplaced:   "backup_replaced",
	EndRefusedClient:    "refused_client",
	EndMoved:            "moved",
	EndUpgrade:          "upgrade",
	EndNotAllowed:       "not_allowed",
	EndDenied:           "denied",
}

// String returns the reason as logged: client_closed, broker_closed,
// client_reset, broker_reset, backend_down, backend_removed,
// handshake_timeout, fin_timeout, idle_timeout, stop, upgrade,
// connect_failed, no_backend, refused, refused_client, not_allowed, denied, fd_limit,
// local_resources, error, shutdown, moved, vip_left, backup_replaced or
// unknown.
func (r EndReason) String() string {
	if int(r) < len(endReasons) {
		return endReasons[r]
	}
	return fmt.Sprintf("EndReason(%d)", uint8(r))
}

// establishedEnds are the reasons a session established to its backend
// may end for: rmqlb_backend_sessions_ended_total exports each for every
// backend, at 0 until it counts one (another reason only once it does).
// EndUpgrade is not among them: a process that ends sessions for it has
// handed its metrics over to its successor, and nobody scrapes it.
var establishedEnds = [...]EndReason{
	EndClientClosed, EndBrokerClosed, EndClientReset, EndBrokerReset,
	EndHandshakeTimeout, EndIdleTimeout, EndFinTimeout,
	EndBackendDown, EndBackendRemoved, EndBackupReplaced, EndShutdown, EndMoved, EndVIPLeft, EndStop,
}

// reset reports whether r is a reset of one side.
func (r EndReason) reset() bool { return r == EndClientReset || r == EndBrokerReset }

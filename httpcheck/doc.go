// Package httpcheck is an HTTP health check: one GET (or HEAD, or OPTIONS)
// request (RFC 9110, over HTTP/1.1 as RFC 9112 frames it) on a connection
// of its own, in clear or over TLS (package checktls), that passes when
// the server answers with a status of the expected set within the check's
// timeout.
//
// It is the check of what RabbitMQ serves over HTTP: the management
// plugin's UI and API (15672, HTTPS on 15671) and its health checks
// (/api/health/checks/...: 200 when the node is well, 503 with the reason
// when not, e.g. port-listener/1883 for a node's MQTT listener), and the
// Prometheus plugin (15692). Unlike a TCP connect it fails for a frozen
// node, whose kernel still accepts connections that nobody answers.
//
// A Check sends "Connection: close" and closes its connection before it
// returns, so nothing outlives a check. It reads at most MaxHead bytes of
// an answer's status line and headers (a server that sends more fails the
// check at once) and 4 KiB of its body, only of an answer that fails, for
// the reason the server gave (the "reason" of RabbitMQ's JSON, else its
// first line).
package httpcheck

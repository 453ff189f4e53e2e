// Package stompcheck is a health check of a STOMP listener, such as
// RabbitMQ's STOMP plugin (port 61613, 61614 over TLS): it sends a
// CONNECT frame and reads the server's answer, a CONNECTED or an ERROR
// frame, as the STOMP Protocol Specification, Version 1.2 (sections
// "Connecting", "CONNECTED" and "ERROR") has them, then sends DISCONNECT
// and closes the connection. It speaks to servers of STOMP 1.0 and 1.1
// as well.
//
// A CONNECTED frame passes the check. An ERROR frame answered to the
// CONNECT is the server refusing the check's login or virtual host
// (STOMP has no codes; RabbitMQ answers "Bad CONNECT" with "Access
// refused for user ..." or "Virtual host ... access denied"): it passes
// with a warning when the check has a user (RefusedFails fails it
// instead), and clean without one. RabbitMQ's node connection limit
// (stomp.max_connections, reached on that node alone) passes it as full
// (healthcheck.Result.Full): the backend keeps its sessions and gets new
// clients only when no other backend can. A version mismatch, which the
// node answers every client with, fails it. Unlike a TCP connect the
// check fails
// for a frozen node, whose kernel still accepts the connections that
// nobody answers.
//
// The codec (AppendConnect, ParseFrame) touches no socket; Check uses
// package checkconn for the connection.
package stompcheck

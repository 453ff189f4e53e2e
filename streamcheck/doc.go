// Package streamcheck is a health check of a RabbitMQ stream listener
// (the stream plugin's port 5552, 5551 over TLS), in the RabbitMQ Streams
// protocol (the plugin's "RabbitMQ Streams Protocol Reference"): it
// exchanges peer properties, which tell the broker's product, version
// and cluster name, and with a user logs in as a stream client does
// (SASL PLAIN, Tune, Open of the vhost) and closes with Close; without
// one it closes the connection after the peer properties, which RabbitMQ
// logs nothing of (it expects a Close only on an open connection).
//
// An answer passes the check: a login the broker refuses (authentication
// failure, guest off loopback, the vhost refused) passes with a warning
// (RefusedFails fails it instead). Unlike a TCP connect the check fails
// for a frozen node, whose kernel still accepts the connections that
// nobody answers.
//
// The codec (the Append functions, ParseFrame, ParseResponse and the
// parsers of what a response carries) touches no socket; Check uses
// package checkconn for the connection.
package streamcheck

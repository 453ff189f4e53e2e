// Package mqttcheck is a health check of an MQTT listener, such as
// RabbitMQ's MQTT plugin (port 1883, 8883 over TLS): it sends a CONNECT
// packet with a clean session and reads the server's CONNACK, as MQTT
// 3.1.1 (OASIS Standard, 29 October 2014, sections 3.1 and 3.2) has them,
// then sends DISCONNECT (section 3.14) and closes the connection.
//
// A CONNACK is the node's MQTT side answering: it passes the check, one
// that refuses the check's login (return code 4 or 5) with a warning when
// the check has a user (RefusedFails fails it instead). Unlike a TCP
// connect it fails for a frozen node, whose kernel still accepts the
// connections that nobody answers.
//
// The codec (AppendConnect, ParseConnAck) touches no socket; Check uses
// package checkconn for the connection.
package mqttcheck

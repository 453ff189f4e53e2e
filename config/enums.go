package config

import (
	"fmt"
	"strings"
)

// CheckType selects the checker of a backend.
type CheckType uint8

// Check types. The zero value is CheckAMQP.
const (
	// CheckAMQP runs an AMQP 0-9-1 handshake or login (package amqpcheck).
	CheckAMQP CheckType = iota
	// CheckTCP only connects: blind to a frozen broker.
	CheckTCP
	// CheckNone does not check: the backend is always UP.
	CheckNone
	// CheckHTTP sends a GET request and passes on an expected status
	// (package httpcheck): RabbitMQ's management and Prometheus plugins,
	// and its health checks of a node's other listeners.
	CheckHTTP
	// CheckMQTT sends an MQTT CONNECT and reads the CONNACK (package
	// mqttcheck): RabbitMQ's MQTT plugin.
	CheckMQTT
	// CheckSTOMP sends a STOMP CONNECT frame and reads the CONNECTED or
	// ERROR frame (package stompcheck): RabbitMQ's STOMP plugin.
	CheckSTOMP
	// CheckStream exchanges peer properties in the RabbitMQ Streams
	// protocol and, with a user, logs in (package streamcheck):
	// RabbitMQ's stream plugin.
	CheckStream
)

var checkTypeNames = [...]string{CheckAMQP: "amqp", CheckTCP: "tcp", CheckNone: "none", CheckHTTP: "http", CheckMQTT: "mqtt", CheckSTOMP: "stomp", CheckStream: "stream"}

// String returns "amqp", "tcp", "none", "http", "mqtt", "stomp" or
// "stream".
func (t CheckType) String() string {
	if int(t) < len(checkTypeNames) {
		return checkTypeNames[t]
	}
	return fmt.Sprintf("CheckType(%d)", uint8(t))
}

// speaksProtocol reports whether a check of type t speaks its broker's
// protocol: it may log in and run over TLS. TCP connects and no check do
// neither.
func (t CheckType) speaksProtocol() bool { return t != CheckTCP && t != CheckNone }

// aCheck names a check of type t with its article: "an amqp check", "a
// tcp check".
func (t CheckType) aCheck() string {
	if t == CheckAMQP || t == CheckHTTP || t == CheckMQTT {
		return "an " + t.String() + " check"
	}
	return "a " + t.String() + " check"
}

// ParseCheckType parses "amqp", "tcp", "none", "http", "mqtt", "stomp"
// or "stream".
func ParseCheckType(s string) (CheckType, error) {
	for i, n := range checkTypeNames {
		if n == s {
			return CheckType(i), nil
		}
	}
	return 0, fmt.Errorf("must be amqp, http, mqtt, stomp, stream, tcp or none, not %q", s)
}

// MarshalText encodes t as its String form.
func (t CheckType) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// OnMarkedDown is what happens to the sessions of a backend that goes DOWN
// or MAINT, or is removed by a reload (HAProxy's on-marked-down).
type OnMarkedDown uint8

// OnMarkedDown values. The zero value is ShutdownSessions.
const (
	// ShutdownSessions closes the backend's sessions at once, so that
	// AMQP clients reconnect now instead of at their heartbeat timeout.
	ShutdownSessions OnMarkedDown = iota
	// KeepSessions leaves them until they end.
	KeepSessions
)

// String returns "shutdown-sessions" or "keep-sessions".
func (o OnMarkedDown) String() string {
	switch o {
	case ShutdownSessions:
		return "shutdown-sessions"
	case KeepSessions:
		return "keep-sessions"
	}
	return fmt.Sprintf("OnMarkedDown(%d)", uint8(o))
}

// ParseOnMarkedDown parses "shutdown-sessions" or "keep-sessions".
func ParseOnMarkedDown(s string) (OnMarkedDown, error) {
	switch strings.ToLower(s) {
	case "shutdown-sessions":
		return ShutdownSessions, nil
	case "keep-sessions":
		return KeepSessions, nil
	}
	return 0, fmt.Errorf("must be shutdown-sessions or keep-sessions, not %q", s)
}

// MarshalText encodes o as its String form.
func (o OnMarkedDown) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// OnMarkedUp is what happens to the sessions of a listener's backup
// backends when one of its active backends starts to serve again
// (HAProxy's on-marked-up).
type OnMarkedUp uint8

// OnMarkedUp values. The zero value is KeepBackupSessions.
const (
	// KeepBackupSessions leaves them until they end.
	KeepBackupSessions OnMarkedUp = iota
	// ShutdownBackupSessions closes them at once, so that their AMQP
	// clients reconnect to the active backend.
	ShutdownBackupSessions
)

// String returns "keep-backup-sessions" or "shutdown-backup-sessions".
func (o OnMarkedUp) String() string {
	switch o {
	case KeepBackupSessions:
		return "keep-backup-sessions"
	case ShutdownBackupSessions:
		return "shutdown-backup-sessions"
	}
	return fmt.Sprintf("OnMarkedUp(%d)", uint8(o))
}

// ParseOnMarkedUp parses "keep-backup-sessions" or
// "shutdown-backup-sessions".
func ParseOnMarkedUp(s string) (OnMarkedUp, error) {
	switch strings.ToLower(s) {
	case "keep-backup-sessions":
		return KeepBackupSessions, nil
	case "shutdown-backup-sessions":
		return ShutdownBackupSessions, nil
	}
	return 0, fmt.Errorf("must be keep-backup-sessions or shutdown-backup-sessions, not %q", s)
}

// MarshalText encodes o as its String form.
func (o OnMarkedUp) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// VRRPSender selects who sends the periodic adverts of a VRRP master
// (Config.VRRPSender).
type VRRPSender uint8

// VRRPSender values. The zero value is SenderInline.
const (
	// SenderInline: the instance's event loop in the daemon.
	SenderInline VRRPSender = iota
	// SenderProcess: the daemon's advert sender process.
	SenderProcess
)

// DefaultVRRPSender is Config.VRRPSender when the file does not say: the
// process, which the daemon's stalls do not delay.
const DefaultVRRPSender = SenderProcess

var vrrpSenderNames = [...]string{SenderInline: "inline", SenderProcess: "process"}

// String returns "inline" or "process".
func (s VRRPSender) String() string {
	if int(s) < len(vrrpSenderNames) {
		return vrrpSenderNames[s]
	}
	return fmt.Sprintf("VRRPSender(%d)", uint8(s))
}

// ParseVRRPSender parses "inline" or "process"; "" is DefaultVRRPSender.
func ParseVRRPSender(s string) (VRRPSender, error) {
	if s == "" {
		return DefaultVRRPSender, nil
	}
	for i, n := range vrrpSenderNames {
		if n == s {
			return VRRPSender(i), nil
		}
	}
	return 0, fmt.Errorf("must be process or inline, not %q", s)
}

// MarshalText encodes s as its String form.
func (s VRRPSender) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

package migrate

import (
	"fmt"
	"net/netip"
)

// amqpsPort is RabbitMQ's AMQP over TLS port: a check there is rmqlb's
// AMQP handshake over TLS.
const amqpsPort = 5671

// protocolChecks are RabbitMQ's ports whose protocol rmqlb has a check
// of its own for: a check there speaks it, over TLS where the port does.
var protocolChecks = map[uint16]struct {
	typ, what string
	tls       bool
}{
	1883:  {"mqtt", "an MQTT CONNECT", false},
	8883:  {"mqtt", "an MQTT CONNECT", true},
	61613: {"stomp", "a STOMP CONNECT", false},
	61614: {"stomp", "a STOMP CONNECT", true},
	5552:  {"stream", "a stream client's opening", false},
	5551:  {"stream", "a stream client's opening", true},
}

// speaksProtocol reports whether a check of type typ speaks a protocol of
// protocolChecks.
func speaksProtocol(typ string) bool { return typ == "mqtt" || typ == "stomp" || typ == "stream" }

// amqpless names RabbitMQ's well-known ports that do not speak AMQP 0-9-1
// in clear text. rmqlb's default check, an AMQP handshake, fails there
// on a healthy node, so a check of one of them is a TCP connect instead
// (but for amqpsPort).
var amqpless = map[uint16]string{
	amqpsPort: "AMQP over TLS port",
	15671:     "management plugin's HTTPS port",
	15672:     "management plugin's HTTP port",
	15692:     "Prometheus plugin's HTTP port",
	15674:     "Web STOMP port",
	15675:     "Web MQTT port",
	1883:      "MQTT port",
	8883:      "MQTT over TLS port",
	61613:     "STOMP port",
	61614:     "STOMP over TLS port",
	5552:      "stream port",
	5551:      "stream over TLS port",
	4369:      "epmd port",
	25672:     "inter-node port",
}

// portCheck makes b's check a TCP connect when it goes to one of those
// ports, a check of the port's protocol when it goes to one of
// protocolChecks (an MQTT or STOMP CONNECT, a stream client's opening,
// over TLS where the port speaks it), or an AMQP handshake over TLS when it goes to amqpsPort, and then returns what it became and why, for a note (""
// when the check stays an AMQP handshake in clear). A check over TLS
// verifies no certificate: the inputs name no roots, and their own check
// verified nothing either.
func portCheck(b *backend) string {
	port := checkPort(b)
	what, ok := amqpless[port]
	if !ok {
		return ""
	}
	if port == amqpsPort {
		b.check.tls = checkTLS{verify: "none"}
		return fmt.Sprintf("an AMQP handshake over TLS (check tls: {verify: none}; add ca_file and verify: chain or full to check the broker's certificate): port %d is RabbitMQ's %s", port, what)
	}
	if p, ok := protocolChecks[port]; ok {
		b.check.typ = p.typ
		how := fmt.Sprintf("%s (check type: %s)", p.what, p.typ)
		if p.tls {
			b.check.tls = checkTLS{verify: "none"}
			how = fmt.Sprintf("%s over TLS (check type: %s, tls: {verify: none}; add ca_file and verify: chain or full to check the broker's certificate)", p.what, p.typ)
		}
		return fmt.Sprintf("%s, which fails for a frozen node: port %d is RabbitMQ's %s, where an AMQP handshake fails", how, port, what)
	}
	b.check.typ = "tcp"
	return fmt.Sprintf("a TCP connect (check type: tcp): port %d is RabbitMQ's %s, where an AMQP handshake fails", port, what)
}

// pluginHTTP are the ports of RabbitMQ's plugins that serve HTTP: a check
// there asks a plugin (the management API's health checks, the Prometheus
// endpoint) about the broker, not the broker's AMQP listener.
var pluginHTTP = map[uint16]bool{15671: true, 15672: true, 15692: true}

// brokerCheck moves b's check from a port of pluginHTTP to b's own
// address when b is a broker's AMQP port (or its AMQPS port), and returns
// a note saying so ("" when it leaves the check alone). A TCP connect
// there, all rmqlb could make of it, passes for a frozen broker, whose
// kernel still accepts connections; an AMQP handshake on the port the
// clients use fails for one, as the proxy's HTTP check did.
func brokerCheck(b *backend) string {
	from := b.check.address
	if !from.IsValid() || !pluginHTTP[from.Port()] {
		return ""
	}
	if _, ok := amqpless[b.addr.Port()]; ok && b.addr.Port() != amqpsPort {
		return ""
	}
	b.check.address = netip.AddrPort{}
	how := "an AMQP handshake"
	if tcp := portCheck(b); tcp != "" {
		how = tcp
	}
	return fmt.Sprintf("the check went to port %d, RabbitMQ's %s: rmqlb checks the broker's own port, %d, with %s, which fails for a frozen broker where a TCP connect to port %d (all rmqlb could make there) passes; "+
		"a resource alarm that an HTTP health check read there is seen by check mode: login (with a user) and on_alarm: down", from.Port(), amqpless[from.Port()], b.addr.Port(), how, from.Port())
}

// amqpPort is RabbitMQ's AMQP port.
const amqpPort = 5672

// httpCheckFits reports whether the source's HTTP check of a server on
// port server, sent to port check, becomes rmqlb's http check: the server
// speaks HTTP itself (the check goes to its own port, which is not one of
// RabbitMQ's AMQP ports), or it is a port of RabbitMQ's that does not
// speak AMQP (MQTT, STOMP, ...) checked on another, a plugin's. A broker's
// AMQP port (5672, 5671, or another port rmqlb does not know, which it
// takes for AMQP) checked on a plugin's port is the broker's health:
// rmqlb checks it with an AMQP handshake there (brokerCheck).
func httpCheckFits(server, check uint16) bool {
	if check == amqpPort || check == amqpsPort {
		return false
	}
	if check == server {
		return server != amqpPort && server != amqpsPort
	}
	_, known := amqpless[server]
	return known && server != amqpsPort
}

// checkPort is the port b's check connects to.
func checkPort(b *backend) uint16 {
	if b.check.address.IsValid() {
		return b.check.address.Port()
	}
	return b.addr.Port()
}

// bindSettings are the rabbitmq.conf settings that bind RabbitMQ's
// listener on each well-known port to one address (ADDRESS), from the
// schemas of RabbitMQ 3.10 and its plugins.
var bindSettings = map[uint16]string{
	5672:      "listeners.tcp.1 = ADDRESS:5672",
	amqpsPort: "listeners.ssl.1 = ADDRESS:5671",
	15672:     "management.tcp.ip = ADDRESS",
	15671:     "management.ssl.ip = ADDRESS",
	15692:     "prometheus.tcp.ip = ADDRESS",
	15674:     "web_stomp.tcp.ip = ADDRESS",
	15675:     "web_mqtt.tcp.ip = ADDRESS",
	1883:      "mqtt.listeners.tcp.1 = ADDRESS:1883",
	8883:      "mqtt.listeners.ssl.1 = ADDRESS:8883",
	61613:     "stomp.listeners.tcp.1 = ADDRESS:61613",
	61614:     "stomp.listeners.ssl.1 = ADDRESS:61614",
	5552:      "stream.listeners.tcp.1 = ADDRESS:5552",
	5551:      "stream.listeners.ssl.1 = ADDRESS:5551",
}

// bindSetting says which RabbitMQ setting binds the listener on port to
// one address: the one of bindSettings, or AMQP's for another port (over
// TLS when tls: the brokers' check is an AMQP handshake over TLS there).
func bindSetting(port uint16, tls bool) string {
	if s, ok := bindSettings[port]; ok {
		return "RabbitMQ's " + s
	}
	if tls {
		return fmt.Sprintf("for AMQP over TLS, RabbitMQ's listeners.ssl.1 = ADDRESS:%d", port)
	}
	return fmt.Sprintf("for AMQP, RabbitMQ's listeners.tcp.1 = ADDRESS:%d", port)
}

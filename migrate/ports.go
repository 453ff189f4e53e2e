package migrate

import "fmt"

// amqpsPort is RabbitMQ's AMQP over TLS port: a check there is rmqlb's
// AMQP handshake over TLS.
const amqpsPort = 5671

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

// tcpCheck makes b's check a TCP connect when it goes to one of those
// ports, or an AMQP handshake over TLS when it goes to amqpsPort, and then
// returns what it became and why, for a note ("" when the check stays an
// AMQP handshake in clear). The TLS check verifies no certificate: the
// inputs name no roots, and their own check verified nothing either.
func tcpCheck(b *backend) string {
	port := checkPort(b)
	what, ok := amqpless[port]
	if !ok {
		return ""
	}
	if port == amqpsPort {
		b.check.tls = checkTLS{verify: "none"}
		return fmt.Sprintf("an AMQP handshake over TLS (check tls: {verify: none}; add ca_file and verify: chain or full to check the broker's certificate): port %d is RabbitMQ's %s", port, what)
	}
	b.check.typ = "tcp"
	return fmt.Sprintf("a TCP connect (check type: tcp): port %d is RabbitMQ's %s, where an AMQP handshake fails", port, what)
}

// checkPort is the port b's check connects to.
func checkPort(b *backend) uint16 {
	if b.check.address.IsValid() {
		return b.check.address.Port()
	}
	return b.addr.Port()
}

package migrate

import "fmt"

// amqpless names RabbitMQ's well-known ports that do not speak AMQP 0-9-1
// in clear text. rmqlb's default check, an AMQP handshake, fails there
// on a healthy node, so a check of one of them is a TCP connect instead.
var amqpless = map[uint16]string{
	5671:  "AMQP over TLS port",
	15671: "management plugin's HTTPS port",
	15672: "management plugin's HTTP port",
	15692: "Prometheus plugin's HTTP port",
	15674: "Web STOMP port",
	15675: "Web MQTT port",
	1883:  "MQTT port",
	8883:  "MQTT over TLS port",
	61613: "STOMP port",
	61614: "STOMP over TLS port",
	5552:  "stream port",
	5551:  "stream over TLS port",
	4369:  "epmd port",
	25672: "inter-node port",
}

// tcpCheck makes b's check a TCP connect when it goes to one of those
// ports, and then returns why, for a note ("" when the check stays an
// AMQP handshake).
func tcpCheck(b *backend) string {
	port := b.addr.Port()
	if b.check.address.IsValid() {
		port = b.check.address.Port()
	}
	what, ok := amqpless[port]
	if !ok {
		return ""
	}
	b.check.typ = "tcp"
	return fmt.Sprintf("a TCP connect (check type: tcp): port %d is RabbitMQ's %s, where an AMQP handshake fails", port, what)
}

package config

import (
	"fmt"
	"slices"
	"time"
)

// amqpHeartbeat is RabbitMQ's default heartbeat timeout (heartbeat in
// rabbitmq.conf), which its clients' libraries negotiate down to at most.
// An idle AMQP connection carries only heartbeat frames, each side
// sending one every half of it.
const amqpHeartbeat = 60 * time.Second

// amqpPorts are RabbitMQ's AMQP ports, in clear and over TLS.
var amqpPorts = map[uint16]bool{5672: true, 5671: true}

// heartbeatWarnings returns a warning for every listener of AMQP (one
// backend's check is an AMQP check, or its port is 5672 or 5671) whose
// idle_timeout is shorter than RabbitMQ's default heartbeat timeout: it
// closes idle connections that are healthy, whose only traffic is a
// heartbeat frame each way every 30 s (a classic of HAProxy's timeout
// client and timeout server under 60 s).
func (c *Config) heartbeatWarnings() []string {
	var ws []string
	for _, l := range c.Listeners {
		if l.IdleTimeout <= 0 || l.IdleTimeout >= amqpHeartbeat {
			continue
		}
		amqp := slices.ContainsFunc(l.Backends, func(b Backend) bool {
			return b.Check.Type == CheckAMQP || amqpPorts[b.Address.Port()]
		})
		if !amqp {
			continue
		}
		f := l.Field + ".idle_timeout"
		ws = append(ws, fmt.Sprintf("%s (line %d): %v is shorter than RabbitMQ's default heartbeat timeout (%ds): an idle AMQP connection carries only heartbeat frames, each side sending one every %ds, so rmqlb closes healthy idle connections whose frames come late or whose clients negotiate a longer heartbeat (they reconnect, and their consumers' unacknowledged messages are delivered again): set it above the heartbeat timeout, or 0 (the heartbeats find dead peers)",
			f, c.Line(f), l.IdleTimeout, amqpHeartbeat/time.Second, amqpHeartbeat/2/time.Second))
	}
	return ws
}

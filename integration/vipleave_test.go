package integration

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rmqlb/rmqlb/integration/netlab"
	"github.com/rmqlb/rmqlb/internal/rabbittest"
)

// TestVIPLeaveClosesSessions: when a master stops being master without
// stopping (here a track rule lowers its priority and the backup preempts),
// it closes the sessions of its VIP at once. The broker then frees what
// those connections held: a client whose exclusive queue was declared
// through the old master declares it again through the new one within 2 s.
// Without the close, the old master's connection to the broker would hold
// the queue until the broker's heartbeat timeout (20 s with the client's
// 10 s heartbeat).
func TestVIPLeaveClosesSessions(t *testing.T) {
	netlab.Require(t, "bridge")
	if err := rabbittest.Available(); err != nil {
		t.Skip(err)
	}
	rmqlbBinary(t)
	l := newLab(t)
	h1, h2, h3 := l.Host("h1"), l.Host("h2"), l.Host("h3")
	node, err := rabbittest.Start(context.Background(), rabbittest.Options{
		Name: "rabbit", Host: h3.Name, IP: h3.Addr, NetNS: h3.NS,
		Config: []string{"loopback_users.guest = false"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = node.Stop() })

	// A sentinel on h1 that h1's rmqlb tracks: closing it lowers h1's
	// priority below h2's without touching the broker.
	sentinel := h1.AddrPort(7777)
	banner, err := h1.ServeBanner(sentinel)
	if err != nil {
		t.Fatal(err)
	}
	amqpListener := fmt.Sprintf(`  - name: amqp
    bind: %s
    check: {type: amqp, mode: handshake, interval: 500ms, timeout: 400ms, rise: 1, fall: 2}
    backends:
      - {name: rmq, address: %s:5672}
`, vipAP, h3.Addr)
	d1 := startDaemon(t, l, h1, daemonConf{
		LogLevel: "info",
		VRRP:     []vrrpConf{{Priority: 150, TrackCheck: "sentinel/s", TrackWeight: -60}},
		Listeners: amqpListener + fmt.Sprintf(`  - name: sentinel
    bind: 127.0.0.1:17777
    check: {type: tcp, interval: 100ms, timeout: 100ms, rise: 1, fall: 1}
    backends:
      - {name: s, address: %s}
`, sentinel),
	})
	startDaemon(t, l, h2, daemonConf{LogLevel: "info", VRRP: []vrrpConf{{Priority: 100}}, Listeners: amqpListener})
	if err := waitSoleHolder(l, h1, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	client := l.Host("client")
	dial := func() (*amqp.Connection, *amqp.Channel, error) {
		c, err := amqp.DialConfig("amqp://guest:guest@"+vipAP.String()+"/", amqp.Config{
			Dial: client.Dialer(2 * time.Second), Heartbeat: 10 * time.Second,
		})
		if err != nil {
			return nil, nil, err
		}
		ch, err := c.Channel()
		if err != nil {
			c.Close()
			return nil, nil, err
		}
		return c, ch, nil
	}
	const queue = "rmqlb-exclusive"
	var conn *amqp.Connection
	if err := waitFor(30*time.Second, func() (bool, error) {
		c, ch, err := dial()
		if err != nil {
			return false, err
		}
		if _, err := ch.QueueDeclare(queue, false, true, true, false, nil); err != nil {
			c.Close()
			return false, err
		}
		conn = c
		return true, nil
	}); err != nil {
		t.Fatalf("declaring the exclusive queue through h1: %v", err)
	}
	defer conn.Close()

	banner.Close() // h1's track fails: 150 - 60 = 90 < 100
	if err := waitSoleHolder(l, h2, 5*time.Second); err != nil {
		t.Fatalf("VIP did not move to h2: %v", err)
	}
	moved := time.Now()
	if in, err := d1.instance("vip"); err != nil || in.State != "BACKUP" {
		t.Fatalf("h1 after the failover: %+v, %v", in, err)
	}

	// A client reconnects through the new master and declares the queue
	// again; RESOURCE_LOCKED while the old connection still holds it.
	var lastErr error
	tries := 0
	for {
		tries++
		c, ch, err := dial()
		if err == nil {
			_, err = ch.QueueDeclare(queue, false, true, true, false, nil)
			c.Close()
			if err == nil {
				break
			}
		}
		lastErr = err
		var ae *amqp.Error
		if errors.As(err, &ae) && ae.Code != amqp.ResourceLocked {
			t.Logf("try %d: %v", tries, err)
		}
		if time.Since(moved) > 2*time.Second+netlab.SchedulingSlack {
			t.Fatalf("exclusive queue still held %v after the VIP moved (%d tries; last: %v): the old master's session was not closed",
				time.Since(moved).Round(time.Millisecond), tries, lastErr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("exclusive queue declared again through h2 %v after the VIP moved (%d tries; bound 2 s + %v slack)",
		time.Since(moved).Round(time.Millisecond), tries, netlab.SchedulingSlack)
}

package main

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"
)

// rmqlbSpec is what varies in rmqlb's configuration between the phases
// of a run.
type rmqlbSpec struct {
	// Addrs are the brokers, Weights theirs (0 takes no new connections).
	Addrs   []netip.AddrPort
	Weights []int
	Policy  string
	// ConnectTimeout is the listener's connect_timeout.
	ConnectTimeout time.Duration
	// Global is YAML added at the top level (daemon keys); "" for none.
	Global string
	// Socket is the control socket's path.
	Socket string
	// GracefulTimeout and CloseSpread are the listener's. A zero
	// GracefulTimeout leaves both out (rmqlb's defaults); with one set,
	// CloseSpread is written too, 0 included (all at once).
	GracefulTimeout, CloseSpread time.Duration
}

// rmqlbConfig is rmqlb on broker 1's host: VRRP for the VIP and a listener
// on VIP:5672 over the brokers of s, the README's recommended checks.
func rmqlbConfig(s rmqlbSpec) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	if s.Global != "" {
		p("%s\n", strings.TrimRight(s.Global, "\n"))
	}
	p("control_socket: %s\n", s.Socket)
	p("log_level: info\n")
	p("vrrp_instances:\n")
	p("  - name: rabbitmq\n    interface: eth0\n    virtual_router_id: 1\n    priority: 150\n    version: 3\n")
	p("    advert_interval: 100ms\n    virtual_ipaddress: [%s]\n", rmqlbVIP)
	p("listeners:\n")
	p("  - name: rabbitmq_cluster\n    bind: %s\n    policy: %s\n", netip.AddrPortFrom(rmqlbVIP.Addr(), amqpPort), s.Policy)
	p("    connect_timeout: %s\n    retries: %d\n", s.ConnectTimeout, len(s.Addrs)-1)
	if s.GracefulTimeout > 0 {
		p("    graceful_timeout: %s\n    close_spread: %s\n", s.GracefulTimeout, s.CloseSpread)
	}
	p("    check: {type: amqp, mode: handshake, interval: 300ms, timeout: 500ms, rise: 2, fall: 2}\n")
	p("    backends:\n")
	for i, a := range s.Addrs {
		p("      - {name: rmq%d, address: %s, weight: %d}\n", i+1, a, s.Weights[i])
	}
	return b.String()
}

// haproxyConfig is the blog post's haproxy.cfg, listening on broker 1's
// host, with these differences: its address goes in a bind line (HAProxy
// 2.x no longer takes one on the listen line); the servers are the brokers at addrs, and
// one of weight 0 takes no new connections; it runs in the foreground (-db)
// instead of as a daemon; its pid file and stats socket are in dir (the
// blog post's are in /var/lib/haproxy, shared by every HAProxy of the
// machine); chroot only where /var/lib/haproxy exists; global adds lines
// to its global section.
func haproxyConfig(addrs []netip.AddrPort, weights []int, dir string, global ...string) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("global\n")
	p("    log         127.0.0.1 local2\n")
	if fi, err := os.Stat("/var/lib/haproxy"); err == nil && fi.IsDir() {
		p("    chroot      /var/lib/haproxy\n")
	}
	p("    pidfile     %s/haproxy.pid\n", dir)
	p("    maxconn     4000\n")
	p("    user        haproxy\n")
	p("    group       haproxy\n")
	p("    stats socket %s/haproxy.stats\n", dir)
	for _, g := range global {
		p("    %s\n", g)
	}
	p("\n")
	p(`defaults
    log                 global
    mode                tcp
    option              tcplog
    option              dontlognull
    retries             3
    option              redispatch
    maxconn             3000
    timeout connect     5s
    timeout client      1d
    timeout server      1d

listen rabbitmq_cluster
    bind 0.0.0.0:%d
    mode tcp
    balance roundrobin
`, haproxyPort)
	for i, a := range addrs {
		p("    server rabbitmq%02d %s check inter 2000 rise 2 fall 3", i+1, a)
		if weights[i] != 1 {
			p(" weight %d", min(weights[i], 256))
		}
		p("\n")
	}
	return b.String()
}

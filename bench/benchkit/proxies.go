package benchkit

import (
	"fmt"
	"net/netip"
)

// Listeners are the two listeners every benchmark gives a proxy: bulk
// (iperf3) and echo (the load generator's echo server), each with where it
// binds and the server it forwards to.
type Listeners struct {
	BulkBind, BulkServer netip.AddrPort
	EchoBind, EchoServer netip.AddrPort
	// NBThread is HAProxy's nbthread; 0: HAProxy's default, one thread
	// per CPU.
	NBThread int
	// DeferAccept puts HAProxy's defer-accept option (TCP_DEFER_ACCEPT:
	// the kernel queues a connection for accept only once its first data
	// has arrived) on both bind lines; false leaves it off, HAProxy's
	// default.
	DeferAccept bool
}

// HAProxyConfig is HAProxy in mode tcp with splicing both ways,
// l.NBThread threads, and the largest round maxconn whose fds fit the
// 20000 open-files hard limit: HAProxy reserves 2 fds per connection plus
// maxpipes (maxconn/4) pipes of 2 fds, 2.5 x maxconn in all (9000 asks
// for 22518).
func HAProxyConfig(l Listeners) string {
	threads := "    # default nbthread: one per CPU"
	if l.NBThread > 0 {
		threads = fmt.Sprintf("    nbthread %d", l.NBThread)
	}
	bindOpts := ""
	if l.DeferAccept {
		bindOpts = " defer-accept"
	}
	return fmt.Sprintf(`global
    maxconn 7500
%[5]s

defaults
    mode tcp
    maxconn 7500
    option splice-request
    option splice-response
    timeout connect 5s
    timeout client 1h
    timeout server 1h

listen bulk
    bind %[1]s%[6]s
    server s1 %[2]s

listen echo
    bind %[3]s%[6]s
    server s1 %[4]s
`, l.BulkBind, l.BulkServer, l.EchoBind, l.EchoServer, threads, bindOpts)
}

// RmqlbListeners is the `listeners:` section of an rmqlb configuration
// with the same two listeners: round robin over one backend each, without
// health check (the servers are not AMQP brokers).
func RmqlbListeners(l Listeners) string {
	return fmt.Sprintf(`listeners:
  - name: bulk
    bind: "%[1]s"
    policy: roundrobin
    maxconn: 7500
    backends:
      - {name: s1, address: "%[2]s", check: {type: none}}
  - name: echo
    bind: "%[3]s"
    policy: roundrobin
    maxconn: 7500
    backends:
      - {name: s1, address: "%[4]s", check: {type: none}}
`, l.BulkBind, l.BulkServer, l.EchoBind, l.EchoServer)
}

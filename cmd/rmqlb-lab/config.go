package main

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/rmqlb/rmqlb/integration/netlab"
)

// brokerHost is one broker host of the lab: its name, address and VRRP
// priority.
type brokerHost struct {
	Name     string
	Addr     netip.Prefix
	Priority int
}

// labLayout is the lab on built-in defaults for one topology.
type labLayout struct {
	Topology topology
	Brokers  []brokerHost
	Client   netip.Prefix
	VIP      netip.Prefix
	Port     uint16
	VRID     int
	// Advert is the VRRPv3 advertisement interval.
	Advert time.Duration
	// PreemptDelay is the preempt_delay of the hosts that take the VIP
	// back (preemptDelayOf): how long a host that hears a master of lower
	// priority than its own waits before it takes the VIP. Zero (three
	// nodes) takes it back at once; autohealPreemptDelay on the two-node
	// topology.
	PreemptDelay time.Duration
	// TrackWeight is added to a host's priority while its own broker fails
	// its check: 150-60 = 90 < 100, so the next host takes the VIP.
	TrackWeight int
	// Check settings of every backend: recommendedChecks.
	Checks checkSettings
	// ConnectTimeout bounds the proxy's connect to a broker before it
	// tries the next one.
	ConnectTimeout time.Duration
}

// checkSettings are a listener's check timing, as in its YAML check
// section (fastinterval is left to default to interval).
type checkSettings struct {
	Interval, Timeout time.Duration
	Rise, Fall        int
}

// recommendedChecks are the check settings the README recommends: a
// frozen broker (it accepts TCP connections but never answers) or one
// behind a dark link is DOWN, its sessions closed, at most DownBound =
// 1.3 s after it froze. A healthy broker answers a handshake in 1-3 ms
// here, but a busy one (a node that has just lost a peer) was seen to take
// 250-400 ms for a few hundred milliseconds: with a 250 ms timeout that
// closed its sessions for nothing. Going DOWN takes two checks in a row
// that each waited 500 ms, a stall of a second.
var recommendedChecks = checkSettings{
	Interval: 300 * time.Millisecond,
	Timeout:  500 * time.Millisecond,
	Rise:     2,
	Fall:     2,
}

// DownBound is the longest a broker that stopped answering stays in
// rotation, by the checks' schedule (package healthcheck: checks never
// overlap, the next starts fastinterval after the previous one or when it
// ends): the check due next starts within interval and fails after
// timeout, each further one within max(fastinterval, timeout) after it,
// fastinterval being interval here.
func (c checkSettings) DownBound() time.Duration {
	return c.Interval + time.Duration(c.Fall-1)*max(c.Interval, c.Timeout) + c.Timeout
}

// layoutFor returns the lab's layout for topology t: the blog post's two
// hosts, plus a third for topologyThree, so that a quorum queue keeps a
// majority when one node goes away.
func layoutFor(t topology) labLayout {
	l := labLayout{
		Topology: t,
		Brokers: []brokerHost{
			{Name: "rmq1", Addr: netip.MustParsePrefix("10.77.0.1/24"), Priority: 150},
			{Name: "rmq2", Addr: netip.MustParsePrefix("10.77.0.2/24"), Priority: 100},
			{Name: "rmq3", Addr: netip.MustParsePrefix("10.77.0.3/24"), Priority: 50},
		},
		Client:         netip.MustParsePrefix("10.77.0.50/24"),
		VIP:            netip.MustParsePrefix("10.77.0.100/24"),
		Port:           5672,
		VRID:           1,
		Advert:         100 * time.Millisecond,
		TrackWeight:    -60,
		Checks:         recommendedChecks,
		ConnectTimeout: 250 * time.Millisecond,
	}
	if t == topologyBlog {
		l.Brokers = l.Brokers[:2]
		l.PreemptDelay = autohealPreemptDelay
	}
	return l
}

// autohealPreemptDelay is the preempt_delay of the two-node topology, whose
// RabbitMQ heals a partition by autoheal (rabbitconf.go): once a cut link
// is back, autoheal picks as the winner the side with the most client
// connections, restarts the other side's broker and discards what that
// side accepted meanwhile, confirmed messages included. The clients are on
// the side that kept the VIP; a host of higher priority that took the VIP
// back at once would move them, through its own broker too, onto the side
// about to lose, in the second before the heal. So the VIP stays where the
// clients are until autoheal is done: in 20 cycles of a 20 s cut of the
// VIP owner's link in this lab (load average about 1), the losing broker
// had been restarted and answered its checks again at most 1.82 s after
// the repair (its app stopped from 0.55 s on); 10 s leaves a margin of
// five for a busy machine. The three-node topology needs none: with
// pause_minority the returning node's broker stays stopped, its check
// DOWN and its host's priority lowered, until it has rejoined the
// majority.
const autohealPreemptDelay = 10 * time.Second

// preemptDelayOf is host b's preempt_delay: PreemptDelay, except on the
// host of lowest priority, which never takes the VIP back from a host that
// returns. It preempts only when the master's own broker fails (the master's
// track rule lowers its priority below it), and that failover must not
// wait.
func (l labLayout) preemptDelayOf(b brokerHost) time.Duration {
	for _, o := range l.Brokers {
		if o.Priority < b.Priority {
			return l.PreemptDelay
		}
	}
	return 0
}

// preemptWait is how long to wait for the VIP to come back to a host of
// higher priority, once that host can take it: base plus the
// preempt_delay it waits first.
func (l labLayout) preemptWait(base time.Duration) time.Duration {
	return base + l.PreemptDelay
}

// VIPAddr is VIP:Port, the address clients use.
func (l labLayout) VIPAddr() netip.AddrPort { return netip.AddrPortFrom(l.VIP.Addr(), l.Port) }

// hostSpecs lists the lab's hosts for netlab.
func (l labLayout) hostSpecs() []netlab.HostSpec {
	var hs []netlab.HostSpec
	for _, b := range l.Brokers {
		hs = append(hs, netlab.HostSpec{Name: b.Name, Addr: b.Addr})
	}
	return append(hs, netlab.HostSpec{Name: "client", Addr: l.Client})
}

// listenerName is the listener's name, as in the blog post's HAProxy section.
const listenerName = "rabbitmq_cluster"

// rmqlbConfig renders the rmqlb configuration file of broker host b.
//
// graceful_timeout is 2 s instead of 10 s: when a stopped master's VIP has
// moved, its sessions cannot finish anyway (the client's packets reach the
// new master, which resets them), and the restart step waits for the old
// process to exit.
func (l labLayout) rmqlbConfig(b brokerHost, socket string) string {
	var s strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&s, format, a...) }
	p("# rmqlb on %s, written by rmqlb-lab.\n", b.Name)
	p("control_socket: %s\n", socket)
	p("log_level: info\n")
	p("vrrp_instances:\n")
	p("  - name: rabbitmq\n")
	p("    interface: %s\n", netlab.Iface)
	p("    virtual_router_id: %d\n", l.VRID)
	p("    priority: %d\n", b.Priority)
	p("    version: 3\n")
	p("    advert_interval: %s\n", l.Advert)
	p("    preempt: true\n")
	if d := l.preemptDelayOf(b); d > 0 {
		p("    # Back from a partition, leave the VIP (and the clients) where it is until\n")
		p("    # RabbitMQ's autoheal has restarted the side with fewer clients.\n")
		p("    preempt_delay: %s\n", d)
	}
	p("    virtual_ipaddress: [%s]\n", l.VIP)
	p("    garp: {count: 5, interval: 100ms, refresh: 60s}\n")
	p("    track:\n")
	p("      # Own broker failing its check: %d%+d is below the next host's priority.\n", b.Priority, l.TrackWeight)
	p("      - {check: %s, weight: %d}\n", b.Name, l.TrackWeight)
	p("listeners:\n")
	p("  - name: %s\n", listenerName)
	p("    bind: %s\n", l.VIPAddr())
	p("    policy: wrr\n")
	p("    connect_timeout: %s\n", l.ConnectTimeout)
	p("    retries: %d\n", len(l.Brokers)-1)
	p("    on_marked_down: shutdown-sessions\n")
	p("    graceful_timeout: 2s\n")
	p("    check: {type: amqp, mode: handshake, interval: %s, timeout: %s, rise: %d, fall: %d}\n",
		l.Checks.Interval, l.Checks.Timeout, l.Checks.Rise, l.Checks.Fall)
	p("    backends:\n")
	for _, o := range l.Brokers {
		p("      - {name: %s, address: %s, weight: 10}\n", o.Name, netip.AddrPortFrom(o.Addr.Addr(), l.Port))
	}
	return s.String()
}

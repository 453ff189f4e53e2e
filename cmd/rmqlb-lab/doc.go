// Command rmqlb-lab is rmqlb's demo lab: it rebuilds the setup of a blog
// post on deploying RabbitMQ (a RabbitMQ cluster behind keepalived + LVS +
// HAProxy) with rmqlb in place of the three, inside network namespaces on
// this machine, runs the blog post's producer/consumer failover test
// against it, prints a timeline of what happens, and deletes everything it
// made. With -soak it is a fault soak instead: every fault, many times, with
// a table of what the clients saw.
//
//	go run ./cmd/rmqlb-lab [flags]                 (as root; ./scripts/demo.sh wraps it)
//	go run ./cmd/rmqlb-lab -soak -cycles 20 [flags]
//
// # The lab
//
// Hosts on one bridge (netlab, package integration/netlab): rmq1, rmq2,
// rmq3 at 10.77.0.1-3 (-topology three, the default) or rmq1 and rmq2
// (-topology blog) and a client at 10.77.0.50. Every broker host runs a
// real RabbitMQ node (package internal/rabbittest; clustered,
// listeners.tcp.default = NODE_IP:5672) and an rmqlb daemon (`rmqlb run
// --config`) with a generated file: VRRPv3 at 100 ms adverts, priorities
// 150/100/50, VIP 10.77.0.100/24, a listener on 10.77.0.100:5672 spreading
// connections over the brokers (wrr, connect timeout 250 ms, a retry on
// every other broker, AMQP handshake checks every 300 ms with a 500 ms
// timeout, fall 2, rise 2: the README's recommended checks), and a track
// rule lowering the priority by 60 while the host's own broker fails its
// check.
//
// -topology three is three disc nodes and a quorum queue; -topology blog
// the blog post's cluster: rmq1 a disc node, rmq2 a RAM node, and its
// ha-all policy mirroring the classic queue on both (classic mirrored
// queues are deprecated since RabbitMQ 3.9 and removed in 4.0; Debian 12's
// 3.10 has them). -queue mirrored runs the mirrored queue on three nodes.
// On the blog topology rmqlb's VRRP instance has a preempt_delay of 10 s
// (config.go): RabbitMQ's autoheal restarts, after a partition, the side
// with fewer clients, so the VIP must not move the clients back to a
// returning host before autoheal is done.
//
// The nodes run with the README's recommended RabbitMQ settings
// (-rabbitmq recommended, see rabbitconf.go): TCP_USER_TIMEOUT on the
// sockets between nodes, a shorter net_setuptime and net_ticktime, a faster
// quorum queue failure detector, and partition handling that heals by
// itself; -rabbitmq defaults runs RabbitMQ's own defaults, as the blog post
// did. -rabbitmq-conf adds rabbitmq.conf lines.
//
// # The clients
//
// As in the blog post: exchange "test" (direct), durable queue "sayHello" bound
// with routing key "hello", in vhost "tao" for user "jasee"; a producer
// publishing persistent messages and a consumer, both with
// github.com/rabbitmq/amqp091-go from the client namespace through the VIP,
// both reconnecting at once on any failure (the blog post's scripts wait
// 10 s), and both declaring the exchange, the queue and the binding on
// every connection, as most clients do (-declare once: only at the start).
// Unlike the blog post, the producer uses publisher confirms and the consumer
// acknowledges each message, so that "lost" has a meaning: a message the
// broker confirmed that the consumer never received.
//
// A TCP probe (netlab's) connects to the VIP every 20 ms from the client and
// measures outages of the VIP itself.
//
// # The demo's scenario
//
// Steady state; SIGTERM of the master's rmqlb (it sends priority 0, a backup
// takes over at once) and its restart (it preempts back); a cut of the
// master's link and its repair; a freeze of the master's broker with SIGSTOP
// (the checks mark it DOWN, its sessions are closed, the track rule lowers
// the master's priority below the next host's and the VIP moves) and SIGCONT.
// Each step checks that the VIP lands where it should and waits for both
// clients to make progress again: the cut and the freeze may stall them
// while RabbitMQ has not yet declared the lost node down, which is
// reported, not failed; the step after must get them going again. After
// each step the lab prints what the clients and the probe saw and `rmqlb
// status` of the hosts concerned; at the end a summary table; with -svg DIR
// a timeline of each step as an SVG picture. The exit status is 0 when
// every step met its expectations and no confirmed message was lost, 1
// otherwise (also on Ctrl-C), 2 when the lab could not be built, 3 when the
// lab itself panicked (the lab is removed all the same).
//
// # The soak
//
// -soak runs each fault of -faults -cycles times, in order: cut-owner and
// cut-other (the link of the VIP owner's host, of another host, cut for
// -cut, 20 s, then restored; a quorum queue's leader is moved before the
// cut so that it sits on the cut host every other cycle, and elsewhere in
// the others), kill-rmqlb and term-rmqlb (the VIP owner's
// rmqlb killed with SIGKILL or stopped with SIGTERM, then started again),
// stop-app (rabbitmqctl stop_app, then start_app), freeze-broker (SIGSTOP,
// then SIGCONT), kill-broker (kill -9 of the Erlang VM, then a boot of the
// same node) and random (each cycle one of these on a random host, from
// -seed). The broker faults hit each host in turn and last -fault-hold.
// Before each cycle the lab must be healthy: every rmqlb running and every
// check UP, the VIP home, the queue's replicas online (quorum) or in sync
// (mirrored), both clients flowing; a cycle that does not get there again
// within -settle is an error, and the lab is repaired before the next.
// Two outcomes of a fault are RabbitMQ's own, not rmqlb's, and are
// counted in the table, not failed: partitions RabbitMQ reports and does
// not heal within 30 s (the soak restarts the app of the nodes
// concerned), and, when the lab is still not healthy -settle after the
// repair, a node whose process runs without its RabbitMQ application
// (RabbitMQ itself is asked: rabbit:is_running/0; the tail of its log goes
// to -events, then start_app, else a restart of the node). A check DOWN
// against a node whose application runs stays an error.
// Each cycle measures the producer's and the consumer's outage (the longest
// time without a confirm, a new delivery) from the fault and from the
// repair, the longest delay from a confirm to the delivery, confirms,
// losses, duplicates, reconnections, VIP moves, for freeze-broker the time
// until the frozen broker is out of rotation (every check DOWN, no session
// left, and no new connection placed on it afterwards), and checks that
// went DOWN on a broker the fault did not touch. Progress lines go to
// standard output, the detailed timeline to -events; at the end a
// Markdown table per fault (medians and maxima), -json every cycle's
// figures, -svg the timeline of each fault's worst cycle. -direct connects
// the clients straight to a broker the fault leaves alone instead of
// through the VIP: what RabbitMQ itself does, to compare with.
//
// # Clean-up
//
// Every namespace, process and temporary file of the run is removed when it
// ends, also after a failure or Ctrl-C (SIGINT/SIGTERM), during a fault too;
// namespaces left by a run that was killed with SIGKILL are removed by the
// next run (netlab.Sweep). All traffic stays inside the lab's namespaces.
package main

// Command rmqlb-lab is rmqlb's demo lab: it rebuilds the setup of a blog
// post on deploying RabbitMQ (a RabbitMQ cluster behind keepalived + LVS +
// HAProxy) with rmqlb in place of the three, inside network namespaces on
// this machine, runs the blog post's producer/consumer failover test
// against it, prints a timeline of what happens, and deletes everything it
// made.
//
//	go run ./cmd/rmqlb-lab [flags]      (as root; ./scripts/demo.sh wraps it)
//
// # The lab
//
// Four hosts on one bridge (netlab, package integration/netlab): rmq1, rmq2,
// rmq3 at 10.77.0.1-3 and a client at 10.77.0.50. Every broker host runs a
// real RabbitMQ node (package internal/rabbittest; the three are clustered,
// listeners.tcp.default = NODE_IP:5672) and an rmqlb daemon (`rmqlb run
// --config`) with a generated file: VRRPv3 at 100 ms adverts, priorities
// 150/100/50, VIP 10.77.0.100/24, a listener on 10.77.0.100:5672 spreading
// connections over the three brokers (wrr, AMQP handshake checks every
// 500 ms, fall 3, rise 2, timeout 400 ms), and a track rule lowering the
// priority by 60 while the host's own broker fails its check.
//
// # The test
//
// As in the blog post: exchange "test" (direct), durable queue "sayHello" bound
// with routing key "hello", in vhost "tao" for user "jasee"; a producer
// publishing persistent messages and a consumer, both with
// github.com/rabbitmq/amqp091-go from the client namespace through the VIP,
// both reconnecting at once on any failure (the blog post's scripts wait 10 s).
// Unlike the blog post, the producer uses publisher confirms and the consumer
// acknowledges each message, so that "lost" has a meaning: a message the
// broker confirmed that the consumer never received.
//
// The queue is a quorum queue by default (-queue quorum): classic mirrored
// queues, which the blog post's ha-all policy makes, are deprecated since
// RabbitMQ 3.9 and removed in 4.0; a quorum queue replicates with Raft,
// confirms a message only once a majority of the three nodes has it, and
// elects a new leader by itself when a node goes away. -queue mirrored runs
// the blog post's classic queue with its ha-all policy instead.
//
// A TCP probe (netlab's) connects to the VIP every 20 ms from the client and
// measures outages of the VIP itself.
//
// # The scenario
//
// Steady state; SIGTERM of the master's rmqlb (it sends priority 0, a backup
// takes over at once) and its restart (it preempts back); a cut of the
// master's link and its repair; a freeze of the master's broker with SIGSTOP
// (the checks mark it DOWN, its sessions are closed, the track rule lowers
// the master's priority below the next host's and the VIP moves) and SIGCONT.
// Each step checks that the VIP lands where it should and waits for both
// clients to make progress again: the cut and the freeze may stall them for
// as long as they last when the quorum queue's leader is on the host taken
// away (RabbitMQ notices a dark link or a frozen node only after
// net_ticktime), which is reported, not failed; the step after must get
// them going again. After each step the lab prints what the clients and the
// probe saw and `rmqlb status` of the hosts concerned; at the end a summary
// table. The exit status is 0 when every step met its expectations and no
// confirmed message was lost, 1 otherwise (also on Ctrl-C), 2 when the lab
// could not be built.
//
// # Clean-up
//
// Every namespace, process and temporary file of the run is removed when it
// ends, also after a failure or Ctrl-C (SIGINT/SIGTERM); namespaces left by
// a run that was killed with SIGKILL are removed by the next run (netlab.Sweep).
// All traffic stays inside the lab's namespaces.
package main

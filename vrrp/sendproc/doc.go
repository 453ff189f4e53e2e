// Package sendproc sends the periodic advertisements of VRRP masters from
// a small process of their own, so that the stalls of a busy daemon (its
// Go scheduler, its garbage collector's stop-the-world pauses) do not make
// them late: a late advert makes a backup take over.
//
// The process side is Serve: the daemon's binary, started again as a
// hidden subcommand, with one end of each of two SOCK_SEQPACKET socket
// pairs (requests; liveness messages). It runs on one processor of the
// Go runtime (GOMAXPROCS 1, the garbage collector off under a small
// memory limit, memory locked where permitted, every thread in the
// SCHED_FIFO class when a real-time priority is given) and sends, for
// each instance the daemon started, pre-encoded packets on the
// instance's send-only raw socket (passed with SCM_RIGHTS, so the
// process needs no capability) at absolute deadlines of CLOCK_MONOTONIC, kept by a
// timerfd that one goroutine waits for in the runtime's poller; another
// waits there for the daemon's requests. Between adverts no thread of
// the process runs, and a liveness message wakes none: the process reads
// them when it sends. It allocates nothing per advert. It stops sending
// for an instance the daemon has not said is alive within the liveness
// timeout, and exits when the socket pair of requests closes (the daemon
// died: the VIPs must move, as without it).
//
// The daemon side is Process: it starts the process, restarts it when it
// dies (counted, logged), kills one that stops reporting the adverts it
// sends while it lives on (after a silence of 2.5 s and more, or sooner
// when it does not answer a Check: the instance heard a router of lower
// priority advertise as MASTER), and hands each VRRP instance a
// vrrp.AdvertSender (Process.Sender); while the process is not running, or has not taken an
// instance's schedule yet, the instance sends its adverts itself.
//
// The messages are package vrrp/sendwire's.
package sendproc

// Package balancer is rmqlb's TCP load balancer: a listener on a VIP:port
// that spreads client connections over backends (RabbitMQ nodes) and
// proxies their bytes with splice(2).
//
// It replaces HAProxy's `listen` section and LVS's `virtual_server`:
// policies roundrobin, smooth weighted round robin (as nginx,
// ngx_http_upstream_round_robin.c) and weighted leastconn; source
// persistence with LVS persistence_timeout semantics on top of any policy;
// weight 0 as "no new connections"; backup servers that take clients
// only while no other backend can (HAProxy's backup and option
// allbackups); connect timeout with retries on other
// backends (HAProxy retries + redispatch); maxconn per listener and per
// backend; closing a backend's sessions when it is marked down (HAProxy
// on-marked-down shutdown-sessions) or when an operator asks (HAProxy's
// shutdown sessions server); an operator's weight in place of the
// configured one; an optional PROXY protocol v1/v2 header
// to backends (package proxyproto); TCP keepalive on both sides, and an
// optional TCP user timeout (HAProxy's tcp-ut) on both sides;
// half-close propagation; session timeouts for silent clients (handshake),
// half-closed sessions (HAProxy timeout client-fin/server-fin) and,
// optionally, idle sessions (timeout tunnel); graceful stop; an optional
// log line per session with why it ended (HAProxy's tcplog, EndReason).
//
// # Design of the data path
//
// AMQP connections are long-lived and mostly idle, so what an idle
// connection costs matters as much as bulk speed. A session therefore costs
// no goroutine, no pipe and no buffer while idle: only a 256-byte struct in
// its loop's session pool and its two sockets (bench/README.md has the
// measured cost per idle connection).
//
//   - Run binds a raw, non-blocking socket (IP_FREEBIND, so the VIP need not
//     be local yet; TCP_NODELAY, keepalive and the TCP user timeout set
//     once on it are inherited by accepted sockets) and starts N event
//     loops (N = GOMAXPROCS). Each loop is one goroutine around its own
//     epoll instance. The listening socket is in every loop's epoll set
//     with EPOLLEXCLUSIVE, so one loop wakes per burst of connections and
//     accepts them with accept4; the backend connect starts in the same
//     turn.
//   - A loop that has just had events waits for the next ones in a raw
//     epoll_wait of at most 5 ms, keeping its processor of the Go runtime,
//     and otherwise through the runtime's blocking system-call path, so
//     that an idle loop keeps no processor from the daemon's other
//     goroutines (VRRP, checks); see wait.go.
//   - Sessions live in a per-loop pool of fixed-size structs (no
//     allocation per connection), and a session's index in it is the
//     epoll data of its sockets, with a token per registration that tells
//     a current event from a stale one.
//   - Every fd of the data path is a raw fd owned by exactly one loop and
//     never seen by Go's netpoller. Sockets are registered edge-triggered
//     for IN|OUT|RDHUP once; the loop remembers readiness per socket and
//     clears it when a call returns EAGAIN.
//   - Backend connects are non-blocking; the connect timeout and the
//     session timeouts live in a per-loop timer heap that bounds
//     epoll_wait (one entry per session; traffic only records the time of
//     the last byte, and an entry that fires early is moved). The server
//     side gets TCP keepalive from the same heap once a session has lived
//     a second, so that a short session spends no syscall on it; its TCP
//     user timeout, when there is one, is set as its connect starts, before
//     a byte is sent.
//   - A direction first reads with recv(2) into the loop's 16 KiB scratch
//     buffer and writes the bytes on at once: for AMQP's small frames that
//     is two syscalls and no pipe. A short read means the socket is
//     drained (recv copies everything queued), so no extra read is spent
//     on EAGAIN; once the peer's FIN was announced (EPOLLRDHUP) the loop
//     reads until EOF instead. Bytes the destination does not take at once
//     wait in a buffer borrowed from the loop's pool until written.
//   - A read that fills the scratch buffer switches the direction to
//     splice(2) socket->pipe->socket until the source is drained. The pipe
//     (256 KiB) is borrowed from the loop's pool and returned as soon as
//     it is empty, so pipes exist only while data is in flight (HAProxy
//     does the same). At the fd limit, when pipe2 fails with EMFILE or
//     ENFILE, the direction copies through the scratch buffer instead.
//     Data is spliced only into an empty pipe, so EAGAIN from that splice
//     always means "socket empty", never "pipe full", which
//     edge-triggered readiness needs.
//   - A direction does at most a fixed number of reads per turn; a busy
//     session is requeued so one bulk stream cannot starve the others.
//   - EOF on one side is propagated with shutdown(SHUT_WR) once the bytes
//     in flight are written; the session closes when both directions are
//     done.
//   - A reset (or any error) of one side does not drop what that side
//     received before it: Linux keeps those bytes readable after a reset,
//     so the loop reads them to the error and writes them on. Once the
//     other side's kernel has sent them all (TCP_NOTSENT_LOWAT 1 makes
//     EPOLLOUT say so), the other side is closed with a reset (SO_LINGER
//     0), so that its peer sees the failure as it would without the proxy.
//     Nothing more is written to the failed side. The FIN timeout bounds
//     how long a peer that does not read may hold this up. A side already
//     given its peer's FIN (shutdown) before the peer failed is not reset:
//     its kernel still sends the bytes and the FIN in order.
//   - A side closed in order (not reset) that was not read to its end (a
//     frame came in the turn the session ended, or an operator shut the
//     session) first has its receive queue dropped, with one non-blocking
//     recv(2) that copies nothing (MSG_TRUNC): close(2) with unread bytes
//     would send a reset instead of the FIN, and the reset would drop
//     what the side's kernel has not sent its peer yet.
//   - At the fd limit (EMFILE, ENFILE) a loop stops accepting for 100 ms
//     instead of spinning on the readable listening socket; connections
//     still queued after that pause are accepted into an fd held in
//     reserve and reset at once (libuv keeps such a reserve fd too),
//     counted as refused, rather than left waiting for as long as the limit
//     lasts. A client whose backend socket cannot be made is refused the
//     same way, not counted against the backend.
//   - Balancing state (weights, states, active counts, persistence table)
//     is shared by the loops under one mutex, taken once per connection
//     attempt and once at session end, never per byte. Byte counters are
//     atomics.
//   - Other goroutines (the API: SetBackendState, Run's shutdown) reach a
//     loop only through its command queue, woken with an eventfd.
//
// # Ownership and concurrency
//
// A Listener is created by NewListener and served by Run, which owns the
// loops and returns only after every loop goroutine has exited and every fd
// it created is closed. All exported methods are safe for concurrent use.
package balancer

// Package rabbittest starts real RabbitMQ nodes (the Debian rabbitmq-server package) for tests.
//
// A Node is one broker running as root out of a private temporary directory: HOME (with a 0400
// Erlang cookie), RABBITMQ_MNESIA_BASE, RABBITMQ_LOG_BASE, RABBITMQ_CONFIG_FILE,
// RABBITMQ_ENABLED_PLUGINS_FILE and RABBITMQ_PID_FILE all point inside it, and the server is
// /usr/lib/rabbitmq/bin/rabbitmq-server run directly (Debian's /usr/sbin wrapper would drop to
// the rabbitmq user). Start blocks until `rabbitmqctl wait --timeout 60 PIDFILE` reports the
// node booted (5-10 s); Stop kills the whole process group and then every process that carries
// the node's marker in its environment (beam.smp, erl_child_setup, inet_gethost, an epmd), so
// nothing is left behind even for a node frozen with Freeze.
//
// # epmd
//
// Debian's package may already run an epmd on port 4369 in the root namespace as user rabbitmq.
// Nodes of this package never use it: every Node talks to an epmd on its own port (ERL_EPMD_PORT),
// which it starts itself in the foreground as part of its process group, so Stop removes it too
// (an `epmd -daemon` started by erl would escape into its own session and outlive the test).
// Nodes that must find each other on one host (a cluster in the root namespace, where every node
// has the same host name) share one EPMD through Options.EPMD; nodes in separate network
// namespaces each start their own epmd on the same port number (Options.EPMDPort), because Erlang
// asks the epmd of the peer's host on its own ERL_EPMD_PORT.
//
// # Ports and names
//
// Node names are unique per node (prefix plus random suffix); in the root namespace the AMQP,
// distribution and epmd ports are picked free at start, the CLI's distribution port is
// ephemeral (RABBITMQ_CTL_DIST_PORT_MIN = MAX = 0), so several nodes and concurrent rabbitmqctl
// calls coexist with each other and with other tests on the machine. In a network namespace the
// defaults are the standard ports (5672, 25672, 4369) since the namespace is private.
//
// # Network namespaces
//
// With Options.NetNS the server and every rabbitmqctl call run under `ip netns exec NS`, which
// bind-mounts /etc/netns/NS/hosts over /etc/hosts; WriteNetnsHosts writes that file so short node
// names (rabbit@rmq1) resolve inside the namespace. The caller creates and deletes the namespace
// and its links; this package only runs processes in it.
//
// # Clusters
//
// JoinCluster joins a node to another's cluster (JoinClusterRAM as a RAM node); StartCluster
// starts and joins a list of nodes (sharing an EPMD in the root namespace). The caller creates
// namespaces, links and hosts files.
//
// # Settings, crashes and restarts
//
// Options.Config adds rabbitmq.conf lines, Options.AdvancedConfig writes an advanced.config (for
// settings rabbitmq.conf has no key for, e.g. Erlang distribution socket options), Options.ErlArgs
// adds Erlang VM flags after RabbitMQ's own (RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS); VMArgs reads
// back the command line the VM runs with. Kill kills a
// node's VM with SIGKILL and leaves its directory and epmd; Restart boots the same node again from
// them, as a crashed server that comes back.
//
// # Leftovers and zombies
//
// Every process a Node starts carries a marker in its environment. Stop kills beam.smp first
// (so its parent shell reaps it), then the process group, then every marked process. erl_child_setup
// and inet_gethost run in sessions of their own and are orphaned when beam.smp dies; the
// first Start makes the test process a child subreaper (PR_SET_CHILD_SUBREAPER) so those
// orphans come to it and are reaped, instead of going to a PID 1 that may never reap them
// (zombies named beam.smp would show in `pgrep beam`). Leftovers lists live marked processes of
// this test process: call it at the end of TestMain.
//
// Ownership: a Node is safe for concurrent use; Stop is idempotent. Helpers skip (t.Skip) when
// not root or when the RabbitMQ binaries are missing; see Available.
package rabbittest

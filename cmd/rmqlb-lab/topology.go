package main

import "fmt"

// topology is the shape of the lab's RabbitMQ cluster.
type topology string

const (
	// topologyThree is three nodes (all disc nodes) and a quorum queue:
	// one node can go away and the queue keeps a majority.
	topologyThree topology = "three"
	// topologyBlog is the blog post's cluster: two nodes, rmq1 a disc
	// node and rmq2 a RAM node, and a classic queue mirrored on both by
	// an ha-all policy (ha-mode all, ha-sync-mode automatic). Classic
	// mirrored queues are deprecated since RabbitMQ 3.9 and removed in
	// 4.0; Debian 12's RabbitMQ 3.10 still has them.
	topologyBlog topology = "blog"
)

// parseTopology parses the -topology flag.
func parseTopology(s string) (topology, error) {
	switch t := topology(s); t {
	case topologyThree, topologyBlog:
		return t, nil
	}
	return "", fmt.Errorf("parsing topology: %q is not three or blog", s)
}

// queueType is the type of the lab's queue on t: "quorum" or "mirrored".
func (t topology) queueType() string {
	if t == topologyBlog {
		return "mirrored"
	}
	return "quorum"
}

// String describes the topology in one line.
func (t topology) String() string {
	if t == topologyBlog {
		return "the blog post's two nodes (rmq1 disc, rmq2 RAM), classic queue mirrored by ha-all"
	}
	return "three disc nodes, quorum queue"
}

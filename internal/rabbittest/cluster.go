package rabbittest

import (
	"context"
	"errors"
	"fmt"
)

// JoinCluster makes n a member of seed's cluster: stop_app, join_cluster, start_app. Both nodes
// need the same cookie and must resolve each other's host names and reach each other's epmd
// and distribution ports.
func (n *Node) JoinCluster(ctx context.Context, seed *Node) error {
	return n.join(ctx, seed, "join_cluster", seed.NodeName)
}

// JoinClusterRAM is JoinCluster as a RAM node (`join_cluster --ram`): the node keeps its
// schema (exchanges, queues, bindings, users) in memory only and copies it from a disc node
// when it starts.
func (n *Node) JoinClusterRAM(ctx context.Context, seed *Node) error {
	return n.join(ctx, seed, "join_cluster", "--ram", seed.NodeName)
}

func (n *Node) join(ctx context.Context, seed *Node, join ...string) error {
	for _, args := range [][]string{
		{"stop_app"},
		join,
		{"start_app"},
	} {
		if _, err := n.Ctl(ctx, args...); err != nil {
			return fmt.Errorf("joining %s to cluster of %s: %w", n.NodeName, seed.NodeName, err)
		}
	}
	if err := n.waitPidFile(ctx); err != nil {
		return fmt.Errorf("joining %s to cluster of %s: %w", n.NodeName, seed.NodeName, err)
	}
	return nil
}

// StartCluster starts one node per element of opts and joins every node to the first. In the
// root namespace the nodes share one EPMD started here (opts[i].EPMD is set), which the first
// node's Stop does not remove: call the returned stop, which stops every node and then the
// EPMD. In namespaces each node runs its own epmd on the same port (opts[i].EPMDPort, default
// 4369), and opts[i].Host must resolve in every namespace (WriteNetnsHosts). Nodes start one
// after the other (a boot is CPU-bound: in parallel on 2 cores it is not faster).
func StartCluster(ctx context.Context, opts []Options) (nodes []*Node, stop func() error, err error) {
	var shared *EPMD
	stop = func() error {
		var errs []error
		for i := len(nodes) - 1; i >= 0; i-- {
			errs = append(errs, nodes[i].Stop())
		}
		if shared != nil {
			errs = append(errs, shared.Stop())
		}
		return errors.Join(errs...)
	}
	rootNS := false
	for _, o := range opts {
		if o.NetNS == "" {
			rootNS = true
		}
	}
	if rootNS {
		if shared, err = StartEPMD("", 0); err != nil {
			return nil, nil, err
		}
	}
	for i, o := range opts {
		if o.NetNS == "" {
			o.EPMD = shared
		}
		n, err := Start(ctx, o)
		if err != nil {
			stop()
			return nil, nil, fmt.Errorf("starting cluster node %d: %w", i, err)
		}
		nodes = append(nodes, n)
		if i > 0 {
			if err := n.JoinCluster(ctx, nodes[0]); err != nil {
				stop()
				return nil, nil, err
			}
		}
	}
	return nodes, stop, nil
}

package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rmqlb/rmqlb/integration/netlab"
	"github.com/rmqlb/rmqlb/internal/rabbittest"
)

// The blog post's vhost, user and topology.
const (
	vhost      = "tao"
	user       = "jasee"
	password   = "password"
	exchange   = "test"
	routingKey = "hello"
	queueName  = "sayHello"
)

// rabbitCluster is the RabbitMQ node of every broker host, clustered. The
// run's clean-up stops the nodes (also frozen ones).
type rabbitCluster struct {
	nodes     map[string]*rabbittest.Node // by host name
	order     []string
	queueType string
}

// clusterSpec is what startCluster makes.
type clusterSpec struct {
	// queueType is "quorum" or "mirrored" (an ha-all policy is set).
	queueType string
	// ramNodes joins every node but the first as a RAM node (the blog
	// post's rmq2).
	ramNodes bool
	settings rabbitSettings
}

// startCluster boots one node per broker host in parallel, joins the others
// to the first, and creates the blog post's vhost and user (and, for mirrored
// classic queues, its ha-all policy).
func startCluster(ctx context.Context, env *netlab.Env, tl *timeline, hosts []*netlab.Host, spec clusterSpec) (*rabbitCluster, error) {
	queueType := spec.queueType
	rc := &rabbitCluster{nodes: map[string]*rabbittest.Node{}, queueType: spec.queueType}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, h := range hosts {
		rc.order = append(rc.order, h.Name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			n, err := rabbittest.Start(ctx, rabbittest.Options{
				Name: "rabbit", Host: h.Name, IP: h.Addr, NetNS: h.NS,
				Config: spec.settings.Conf, AdvancedConfig: spec.settings.Advanced,
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			rc.nodes[h.Name] = n
			env.Cleanup(func() {
				_ = n.Thaw() // a frozen node is still killed, but let it go first
				if err := n.Stop(); err != nil {
					tl.Logf("stopping RabbitMQ on %s: %v", h.Name, err)
				}
				if env.Keep {
					tl.Logf("RabbitMQ files of %s (logs in log/) kept in %s", h.Name, n.Dir)
				}
			})
			tl.Logf("%s: RabbitMQ node %s up on %s in %.1fs", h.Name, n.NodeName, n.Addr, time.Since(t0).Seconds())
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, errs[0]
	}
	seed := rc.nodes[rc.order[0]]
	for _, name := range rc.order[1:] {
		t0 := time.Now()
		jctx, cancel := context.WithTimeout(ctx, 90*time.Second)
		join, kind := rc.nodes[name].JoinCluster, "disc"
		if spec.ramNodes {
			join, kind = rc.nodes[name].JoinClusterRAM, "RAM"
		}
		err := join(jctx, seed)
		cancel()
		if err != nil {
			return nil, err
		}
		tl.Logf("%s: joined the cluster of %s as a %s node in %.1fs", name, seed.NodeName, kind, time.Since(t0).Seconds())
	}
	steps := [][]string{
		{"add_vhost", vhost},
		{"add_user", user, password},
		{"set_user_tags", user, "management"},
		{"set_permissions", "-p", vhost, user, ".*", ".*", ".*"},
	}
	if queueType == "mirrored" {
		steps = append(steps, []string{"set_policy", "-p", vhost, "ha-all", "^",
			`{"ha-mode":"all","ha-sync-mode":"automatic"}`})
	}
	for _, args := range steps {
		if _, err := rc.ctl(ctx, seed.NodeName, args...); err != nil {
			return nil, err
		}
	}
	tl.Logf("cluster of %d nodes ready; vhost %q, user %q%s", len(rc.nodes), vhost, user,
		map[bool]string{true: ", policy ha-all (mirror every queue on every node)", false: ""}[queueType == "mirrored"])
	return rc, nil
}

// ctl runs rabbitmqctl against the node called nodeName with a timeout.
func (rc *rabbitCluster) ctl(ctx context.Context, nodeName string, args ...string) (string, error) {
	for _, n := range rc.nodes {
		if n.NodeName == nodeName {
			cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
			return n.Ctl(cctx, args...)
		}
	}
	return "", fmt.Errorf("no node %s", nodeName)
}

// queueColumns are the list_queues columns queueInfo asks for: the
// leader and members of a quorum queue, the master and mirrors of a classic
// one.
func queueColumns(queueType string) []string {
	if queueType == "quorum" {
		return []string{"name", "type", "leader", "members", "online"}
	}
	return []string{"name", "type", "pid", "slave_pids", "synchronised_slave_pids"}
}

// queueInfo returns the queue's line of `rabbitmqctl list_queues` (see
// queueColumns), asked of the node on host via (which must not be frozen or
// cut off), with the column names in front.
func (rc *rabbitCluster) queueInfo(ctx context.Context, via string) string {
	cols := queueColumns(rc.queueType)
	n := rc.nodes[via]
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := n.Ctl(cctx, append([]string{"list_queues", "-q", "--no-table-headers", "-p", vhost}, cols...)...)
	if err != nil {
		return fmt.Sprintf("(list_queues failed: %v)", err)
	}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == queueName {
			return "(" + strings.Join(cols, " ") + ") " + strings.Join(f, " ")
		}
	}
	return strings.TrimSpace(out)
}

// leaderHost returns the host of the queue's leader (quorum) or master
// (mirrored) as queueInfo reports it, or "".
func (rc *rabbitCluster) leaderHost(info string) string {
	_, row, ok := strings.Cut(info, ") ")
	f := strings.Fields(row)
	if !ok || len(f) < 3 {
		return ""
	}
	// rabbit-1a2b3c@rmq1 (leader) or <rabbit-1a2b3c@rmq1.1663.0> (pid)
	_, host, ok := strings.Cut(f[2], "@")
	if !ok {
		return ""
	}
	host, _, _ = strings.Cut(strings.TrimSuffix(host, ">"), ".")
	if _, known := rc.nodes[host]; !known {
		return ""
	}
	return host
}

// queueLeaderHost returns the host of the queue's leader or master, asked
// of the VIP owner's node, or "" when that cannot be known.
func (l *lab) queueLeaderHost() string {
	m, err := l.master()
	if err != nil {
		return ""
	}
	return l.cluster.leaderHost(l.cluster.queueInfo(context.Background(), m))
}

// partitions returns the nodes the node on host says it is partitioned
// from (rabbit_node_monitor:partitions/0), as rabbitmqctl prints them: ""
// when none.
func (rc *rabbitCluster) partitions(ctx context.Context, host string) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := rc.nodes[host].Ctl(cctx, "eval", "rabbit_node_monitor:partitions().")
	if err != nil {
		return "", err
	}
	if p := strings.TrimSpace(out); p != "[]" {
		return p, nil
	}
	return "", nil
}

// partitioned returns, for every running node that reports partitions,
// "host: partitions"; a node that cannot be asked is left out.
func (rc *rabbitCluster) partitioned(ctx context.Context) map[string]string {
	m := map[string]string{}
	for _, h := range rc.order {
		if !rc.nodes[h].Running() {
			continue
		}
		if p, err := rc.partitions(ctx, h); err == nil && p != "" {
			m[h] = p
		}
	}
	return m
}

package main

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// placement is where the soak wants the quorum queue's leader before a
// cycle, so that link cuts fall on every arrangement of VIP owner and
// leader, not only on the one the cluster happens to be in: after a first
// cut of the VIP owner's host the leader stays elsewhere for good.
type placement int

const (
	// placeAny leaves the leader where it is.
	placeAny placement = iota
	// placeOwner wants it on the VIP owner's host.
	placeOwner
	// placeNotOwner wants it on a host that does not own the VIP.
	placeNotOwner
)

func (p placement) String() string {
	switch p {
	case placeOwner:
		return "on the VIP owner's host"
	case placeNotOwner:
		return "on a host that does not own the VIP"
	}
	return "anywhere"
}

// leaderPlacement says where the leader should be before cycle (0-based) of
// the fault called name: for cut-owner on the VIP owner's host in even
// cycles and elsewhere in odd ones; for cut-other on another host than the
// VIP owner's in even cycles (which targetOther then cuts), anywhere in odd
// ones (it then cuts a host that holds neither, when there is one).
func leaderPlacement(name string, cycle int) placement {
	switch name {
	case "cut-owner":
		if cycle%2 == 0 {
			return placeOwner
		}
		return placeNotOwner
	case "cut-other":
		if cycle%2 == 0 {
			return placeNotOwner
		}
	}
	return placeAny
}

// leaderDestination returns the host the leader should move to for p, or
// "" when it may stay on cur: brokers in the lab's order, owner the VIP
// owner's host.
func leaderDestination(p placement, brokers []string, owner, cur string) string {
	switch p {
	case placeOwner:
		if cur != owner {
			return owner
		}
	case placeNotOwner:
		if cur != owner {
			return ""
		}
		for _, b := range brokers {
			if b != owner {
				return b
			}
		}
	}
	return ""
}

// transferLeaderExpr is the Erlang expression that asks RabbitMQ to move
// the leader of quorum queue queue in vhost to the node called node
// (rabbit_quorum_queue:transfer_leadership/2, what `rabbitmq-queues
// rebalance` uses): it evaluates to {migrated, Node} or {not_migrated,
// Reason}.
func transferLeaderExpr(vhost, queue, node string) string {
	return fmt.Sprintf("{ok, Q} = rabbit_amqqueue:lookup(rabbit_misc:r(<<%q>>, queue, <<%q>>)), rabbit_quorum_queue:transfer_leadership(Q, '%s').",
		vhost, queue, node)
}

// placeLeader moves the quorum queue's leader where p wants it, waits
// until RabbitMQ reports it there and says whether it moved it. It does
// nothing for a mirrored queue (RabbitMQ 3.10 cannot move a classic queue's
// master on request) or when the leader is already in place.
func (l *lab) placeLeader(ctx context.Context, p placement) (bool, error) {
	if p == placeAny || l.cluster.queueType != "quorum" {
		return false, nil
	}
	owner, err := l.master()
	if err != nil {
		return false, err
	}
	cur := l.queueLeaderHost()
	if cur == "" {
		return false, fmt.Errorf("moving the queue's leader %s: its host is not known", p)
	}
	var brokers []string
	for _, b := range l.layout.Brokers {
		brokers = append(brokers, b.Name)
	}
	dest := leaderDestination(p, brokers, owner, cur)
	if dest == "" {
		return false, nil
	}
	out, err := l.cluster.ctl(ctx, l.cluster.nodes[owner].NodeName, "eval",
		transferLeaderExpr(vhost, queueName, l.cluster.nodes[dest].NodeName))
	if err != nil {
		return false, fmt.Errorf("moving the queue's leader from %s to %s: %w", cur, dest, err)
	}
	l.tl.Logf("queue leader from %s to %s (%s) for the cycle: %s", cur, dest, p, strings.TrimSpace(out))
	return true, l.waitFor(ctx, 20*time.Second, func() (bool, string) {
		h := l.queueLeaderHost()
		return h == dest, fmt.Sprintf("the queue's leader on %q, not on %s", h, dest)
	})
}

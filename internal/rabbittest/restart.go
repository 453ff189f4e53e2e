package rabbittest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// Kill kills the node's Erlang VM with SIGKILL, as a crash or `kill -9` would, and waits for it
// and its start script to exit. The node's directory (its database, logs and configuration) and
// its epmd stay, so Restart can boot the same node again. Killing a node that is not running is
// a no-op.
func (n *Node) Kill() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopped {
		return errors.New("killing RabbitMQ node: stopped")
	}
	return n.kill()
}

// kill is Kill with n.mu held.
func (n *Node) kill() error {
	if n.cmd == nil || n.cmd.Process == nil {
		return nil
	}
	select {
	case <-n.waitDone:
		return nil // not running
	default:
	}
	if pid, err := n.Pid(); err == nil {
		syscall.Kill(pid, syscall.SIGKILL)
		syscall.Kill(pid, syscall.SIGCONT) // a frozen VM dies only once it runs
	}
	syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-n.waitDone:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("killing RabbitMQ node %s: start script still running after 10s", n.NodeName)
	}
	// erl_child_setup and inet_gethost follow their VM; reap them once they have.
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := 0
		for _, p := range scanProcs(markerEnv + "=" + n.marker) {
			if p.marked && (n.epmd == nil || p.pid != n.epmd.cmd.Process.Pid) {
				left++
			}
		}
		reapErlangOrphans()
		if left == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("killing RabbitMQ node %s: %d of its processes still alive after 5s", n.NodeName, left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Running reports whether the node's VM process is alive (frozen counts as alive).
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopped || n.cmd == nil {
		return false
	}
	select {
	case <-n.waitDone:
		return false
	default:
		return true
	}
}

// Restart boots the node again from its directory after Kill (or after it died), with the same
// name, addresses, configuration and database, and waits for the boot as Start does. A node
// that still runs is killed first. ctx bounds the wait; on error the node is left not running
// (Stop still removes everything).
func (n *Node) Restart(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopped {
		return errors.New("restarting RabbitMQ node: stopped")
	}
	if err := n.kill(); err != nil {
		return err
	}
	// `rabbitmqctl wait PIDFILE` must not find the dead VM's pid.
	if err := os.Remove(n.path("pid")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("restarting RabbitMQ node %s: %w", n.NodeName, err)
	}
	if err := n.start(ctx); err != nil {
		_ = n.kill()
		return fmt.Errorf("restarting RabbitMQ node %s: %w", n.NodeName, err)
	}
	return nil
}

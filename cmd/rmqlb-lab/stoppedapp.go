package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"
)

// A RabbitMQ node that pause_minority paused during a link cut starts its
// application again by itself once it sees a majority. The soak has seen
// one that had not started it two minutes after the link came back,
// while rmqlb's checks rightly held it DOWN. Like a partition RabbitMQ
// does not heal, that is RabbitMQ's own outcome of the fault: the soak
// asks RabbitMQ (not rmqlb) which nodes run without their application,
// records them with the tail of their log, and repairs them as an
// operator would.

// stoppedAppTimeout bounds one question to a node about its application.
const stoppedAppTimeout = 20 * time.Second

// appRunning asks the node on host whether its RabbitMQ application runs
// (rabbit:is_running/0).
func (rc *rabbitCluster) appRunning(ctx context.Context, host string) (bool, error) {
	cctx, cancel := context.WithTimeout(ctx, stoppedAppTimeout)
	defer cancel()
	out, err := rc.nodes[host].Ctl(cctx, "eval", "rabbit:is_running().")
	if err != nil {
		return false, err
	}
	switch strings.TrimSpace(out) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("rabbit:is_running() printed %q", strings.TrimSpace(out))
}

// stoppedApps returns, for every node whose process runs but whose
// application does not, what RabbitMQ said: "application not running",
// or why the node could not be asked (a node that does not answer cannot
// serve either). Nodes whose process is gone are left out: a fault that
// kills a broker boots it again in its repair.
func (rc *rabbitCluster) stoppedApps(ctx context.Context) map[string]string {
	m := map[string]string{}
	for _, h := range rc.order {
		if !rc.nodes[h].Running() {
			continue
		}
		switch ok, err := rc.appRunning(ctx, h); {
		case err != nil:
			m[h] = fmt.Sprintf("not answering (%v)", err)
		case !ok:
			m[h] = "application not running"
		}
	}
	return m
}

// logTailLines is how much of a stopped node's RabbitMQ log goes into the
// events.
const logTailLines = 40

// restartStopped repairs the nodes of stopped: the tail of each node's
// log goes into the events first (what RabbitMQ was waiting for), then
// `rabbitmqctl start_app`; a node whose application still does not run
// is restarted (killed and booted from its directory).
func (l *lab) restartStopped(ctx context.Context, stopped map[string]string) {
	for _, h := range slices.Sorted(maps.Keys(stopped)) {
		n := l.cluster.nodes[h]
		l.tl.Logf("%s: RabbitMQ %s after the repair; the last lines of its log (%s):\n%s",
			h, stopped[h], n.LogFile(), lastLines(n.LogFile(), logTailLines))
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		_, err := n.Ctl(cctx, "start_app")
		cancel()
		if err == nil {
			if ok, qerr := l.cluster.appRunning(ctx, h); ok {
				l.tl.Logf("%s: start_app started RabbitMQ's application", h)
				continue
			} else if qerr != nil {
				err = qerr
			} else {
				err = fmt.Errorf("application still not running")
			}
		}
		l.tl.Logf("%s: start_app: %v; restarting the node", h, err)
		if err := restartBroker(ctx, l, h, nil); err != nil {
			l.tl.Logf("%s: restarting the node: %v", h, err)
		}
	}
}

// lastLines returns the last n lines of the file at path, or why it
// could not be read.
func lastLines(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

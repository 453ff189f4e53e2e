package main

import (
	"fmt"
	"strings"
)

// rabbitSettings are the RabbitMQ settings the lab's nodes run with:
// rabbitmq.conf lines and the content of advanced.config.
type rabbitSettings struct {
	// Name is "recommended" or "defaults".
	Name string
	// Conf holds rabbitmq.conf lines.
	Conf []string
	// Advanced is advanced.config ("" for none).
	Advanced string
}

// advancedRecommended is the recommended advanced.config: TCP_USER_TIMEOUT
// (option 18 of level IPPROTO_TCP, 6) of 1000 ms, as a 32-bit
// little-endian integer (x86-64, arm64), on the sockets between nodes;
// net_setuptime 2 s; aten's poll interval 500 ms.
const advancedRecommended = `[{kernel, [{inet_dist_connect_options, [{raw, 6, 18, <<232,3,0,0>>}]},
           {inet_dist_listen_options, [{raw, 6, 18, <<232,3,0,0>>}]},
           {net_setuptime, 2}]},
 {aten, [{poll_interval, 500}]}].`

// rabbitProfiles names the settings the -rabbitmq flag chooses between.
var rabbitProfiles = []string{"recommended", "defaults"}

// settingsFor returns the RabbitMQ settings of profile for topology t.
//
// "defaults" is RabbitMQ's own defaults (net_ticktime 60 s, no partition
// handling), as in the blog post.
//
// "recommended" is what the README recommends so that producers and
// consumers flow again within 5 s of any one broker host going dark (its
// link cut, its power lost), with the reasons measured in this lab:
//
//   - TCP_USER_TIMEOUT 1000 ms on the sockets between nodes
//     (advanced.config, kernel inet_dist_connect_options and
//     inet_dist_listen_options): the nodes talk all the time (the quorum
//     queue's failure detector alone every 100 ms), so once a host is dark
//     their data goes unacknowledged and the kernel closes the connection
//     after a second; the other nodes declare the node down at once
//     (reason etimedout) instead of after net_ticktime. Until then every
//     queue.bind waits for it, even of a binding that exists (RabbitMQ
//     takes a global Mnesia lock on every node for it), and so does the
//     quorum queue's new leader recording itself. A frozen or overloaded
//     node still acknowledges at TCP level, so this does not declare a
//     busy node down; a network that loses every packet for a second does
//     split the cluster.
//   - net_setuptime = 2 s (advanced.config): a client whose channel still
//     knows the old leader makes the node try to reconnect to the dark one
//     (epmd first), which waits up to net_setuptime, 7 s by default.
//   - net_ticktime = 5: a node that is alive but sends nothing (frozen,
//     swapping) is declared down after 5-6.25 s instead of 45-75 s. A
//     node unresponsive for that long is declared down while it lives,
//     which is a partition.
//   - cluster_partition_handling = pause_minority on three nodes: the
//     node that finds itself alone stops serving until it sees the others
//     again, then rejoins by itself; with the default (ignore) the cluster
//     stays split after the link is back, each side serving its own copy
//     of the queues. On two nodes a side alone is always a minority, so
//     pause_minority would stop both: autoheal restarts the side with
//     fewer clients once the link is back (what it accepted meanwhile is
//     lost).
//   - aten's poll_interval = 500 ms (advanced.config; RabbitMQ 3.10 has no
//     rabbitmq.conf key for it): quorum queue members notice a silent
//     leader's node within about half a second and elect a new leader
//     0.5-1.5 s later.
func settingsFor(profile string, t topology) (rabbitSettings, error) {
	switch profile {
	case "defaults":
		return rabbitSettings{Name: profile}, nil
	case "recommended":
		partition := "pause_minority"
		if t == topologyBlog {
			partition = "autoheal"
		}
		return rabbitSettings{
			Name: profile,
			Conf: []string{
				"net_ticktime = 5",
				"cluster_partition_handling = " + partition,
			},
			Advanced: advancedRecommended,
		}, nil
	}
	return rabbitSettings{}, fmt.Errorf("RabbitMQ settings: %q is not one of %s", profile, strings.Join(rabbitProfiles, ", "))
}

// String lists the settings in one line.
func (s rabbitSettings) String() string {
	if len(s.Conf) == 0 && s.Advanced == "" {
		return s.Name + " (RabbitMQ's defaults)"
	}
	parts := append([]string(nil), s.Conf...)
	if s.Advanced != "" {
		parts = append(parts, "advanced.config "+strings.Join(strings.Fields(s.Advanced), " "))
	}
	return s.Name + ": " + strings.Join(parts, "; ")
}

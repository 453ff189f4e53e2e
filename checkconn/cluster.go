package checkconn

import (
	"errors"
	"fmt"
)

// MaxClusterLen is the longest cluster a check may require: longer than
// any cluster name an operator would set, short enough for a line of
// status.
const MaxClusterLen = 255

// ErrWrongCluster: the broker names another RabbitMQ cluster than the one
// its check requires.
var ErrWrongCluster = errors.New("broker in another cluster")

// CheckCluster returns nil when the broker naming cluster got is in the
// cluster want requires (any, for want ""), else ErrWrongCluster, wrapped
// with both names: a node that was reset, or never joined, answers as a
// cluster of its own, where clients would find none of the cluster's
// queues, streams and messages.
func CheckCluster(got, want string) error {
	if want == "" || got == want {
		return nil
	}
	return fmt.Errorf("%w: it names cluster %q, not %q (reset, or not joined to the cluster?)", ErrWrongCluster, got, want)
}

package migrate

import (
	"fmt"
	"time"

	"github.com/rmqlb/rmqlb/balancer"
)

// HAProxy's tcp-ut sets TCP_USER_TIMEOUT on a bind line's client sockets
// and on a server line's socket; rmqlb's tcp_user_timeout is one value for
// both sockets of a listener's sessions.

// utSource is a tcp-ut read: where, as written, and its value (0: the line
// sets none).
type utSource struct {
	pos Pos
	dir string
	d   time.Duration
}

// haUserTimeout reads the value of a tcp-ut: an HAProxy time (milliseconds
// without a unit) that rmqlb's tcp_user_timeout takes. 0, the kernel's
// default in HAProxy too, is 0.
func haUserTimeout(v string) (time.Duration, error) {
	d, err := haTime(v)
	if err != nil {
		return 0, err
	}
	if d > balancer.MaxTCPUserTimeout {
		return 0, fmt.Errorf("must be at most %v in rmqlb (the kernel's limit), not %v", balancer.MaxTCPUserTimeout, d)
	}
	return d, nil
}

// userTimeout sets l's tcp_user_timeout from the tcp-ut of its bind and of
// its servers (l.serverUTs): the shortest of them, on both sides. Unless
// every one of them sets the same value, the lines that set one are noted
// as changed: rmqlb applies it to the sockets that HAProxy left to the
// kernel's default, or to the ones that had a longer one.
func (t *haT) userTimeout(l *listener, bind utSource) {
	srcs := append([]utSource{bind}, l.serverUTs...)
	var shortest time.Duration
	for _, s := range srcs {
		if s.d > 0 && (shortest == 0 || s.d < shortest) {
			shortest = s.d
		}
	}
	if shortest == 0 {
		return
	}
	l.userTimeout = shortest
	uniform := true
	for _, s := range srcs {
		uniform = uniform && s.d == shortest
	}
	if uniform {
		return
	}
	why := fmt.Sprintf("rmqlb has one tcp_user_timeout for both sides of a listener's sessions: %v, the shortest tcp-ut of the bind and its servers, on the clients' sockets and every server's alike", formatDuration(shortest))
	for _, s := range srcs {
		if s.d > 0 {
			t.ns.change(s.pos, s.dir, why)
		}
	}
}

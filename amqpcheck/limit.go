package amqpcheck

import (
	"errors"
	"fmt"
	"strings"
)

// connectionLimit reports whether err is the broker refusing Connection.Open because a
// connection limit is reached: the vhost's max-connections (rabbitmqctl set_vhost_limits) or
// the user's (set_user_limits). RabbitMQ answers those with 530 NOT_ALLOWED, as it does a
// missing vhost or one the user may not access; only its reply text ("... connection limit
// (N) is reached", the same since RabbitMQ 3.7) tells them apart. It returns the reply for
// the report.
//
// Such a refusal is not the broker's fault: it answered, authenticated the user and applied
// a limit that RabbitMQ counts across the cluster, so every node refuses alike, and failing
// the check would take every backend DOWN at once and close every client's session
// (on_marked_down: shutdown-sessions) because the clients filled the vhost.
func connectionLimit(err error) (string, bool) {
	var sc *ServerCloseError
	if !errors.As(err, &sc) || sc.Channel != 0 || sc.ReplyCode != ReplyNotAllowed ||
		(MethodID{sc.ClassID, sc.MethodID}) != ConnectionOpen ||
		!strings.Contains(sc.ReplyText, "connection limit") {
		return "", false
	}
	return fmt.Sprintf("%d %s", sc.ReplyCode, sc.ReplyText), true
}

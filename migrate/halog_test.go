package migrate

import (
	"strings"
	"testing"
)

// TestHAProxySessionLog: option tcplog (the proxy's own or its
// defaults') becomes log_sessions where HAProxy logged the sessions
// somewhere (log global with a global log line, or log ADDRESS), and is
// reported as logging nothing where it had no target (none at all, log
// global without a global log line, no log). Every input passes haproxy
// -c.
func TestHAProxySessionLog(t *testing.T) {
	const proxy = "listen amqp\n bind 10.0.0.100:5672\n server r1 10.0.0.1:5672\n"
	for _, tc := range []struct {
		name, cfg string
		want      bool
		notes     []string
	}{
		{"defaults with log global", "global\n log 127.0.0.1 local2\ndefaults\n mode tcp\n log global\n option tcplog\n option dontlognull\n" + proxy, true, []string{
			"h:6: option tcplog: note: becomes log_sessions: rmqlb writes a line per session when it ends (client, backend, duration, bytes each way, why it ended) to its own log, stderr (the journal), not to syslog",
			"h:7: option dontlognull: not translated: no equivalent: log_sessions logs every session, those that carried no data",
		}},
		{"the proxy's own target", proxy + " log 127.0.0.1:514 local0\n option tcplog\n", true, []string{
			"h:5: option tcplog: note: becomes log_sessions",
		}},
		{"no target", "defaults\n mode tcp\n option tcplog\n" + proxy, false, []string{
			"h:3: option tcplog: not translated: HAProxy logged no session here, as the proxy has no log target",
		}},
		{"log global without a global log line", "defaults\n mode tcp\n log global\n option tcplog\n" + proxy, false, []string{
			"h:4: option tcplog: not translated: HAProxy logged no session here",
		}},
		{"no log in the proxy", "global\n log 127.0.0.1 local2\ndefaults\n log global\n option tcplog\n" + proxy + " no log\n", false, []string{
			"h:5: option tcplog: not translated: HAProxy logged no session here",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := importSource(t, tc.cfg, nil, true)
			wantNotes(t, r, tc.notes, nil)
			c := parseWritten(t, r)
			if got := c.Listeners[0].LogSessions; got != tc.want {
				t.Errorf("log_sessions %v, want %v\n%s", got, tc.want, r.YAML)
			}
			if !tc.want && strings.Contains(string(r.YAML), "log_sessions") {
				t.Errorf("the file names log_sessions:\n%s", r.YAML)
			}
		})
	}
}

package migrate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rmqlb/rmqlb/config"
)

// TestHAProxyTrack imports servers that track another server's check
// (track [BACKEND/]SERVER): each becomes a backend with the tracked
// server's check, noted on its track; one whose tracked server is not
// translated keeps the check of a server HAProxy does not check. Each
// input is one haproxy -c accepts (when haproxy is installed).
func TestHAProxyTrack(t *testing.T) {
	const head = "defaults\n mode tcp\n timeout connect 5s\n timeout client 3h\n timeout server 3h\n"
	for _, tc := range []struct {
		name  string
		cfg   string
		want  []string
		notes []string
		quiet []string
	}{
		{
			name: "the management listener tracks the AMQP one",
			cfg: head + "listen amqp\n bind 10.0.0.100:5672\n server r1 10.0.0.1:5672 check inter 1s fall 2\n" +
				"listen mgmt\n bind 10.0.0.100:15672\n bind 10.0.0.101:15672\n server r1 10.0.0.1:15672 track amqp/r1\n",
			want: []string{
				"bind: 10.0.0.100:15672\n    connect_timeout: 5s\n    idle_timeout: 3h\n    check: {address: '10.0.0.1:5672', interval: 1s, fall: 2}\n",
				"bind: 10.0.0.101:15672\n    connect_timeout: 5s\n    idle_timeout: 3h\n    check: {address: '10.0.0.1:5672', interval: 1s, fall: 2}\n",
			},
			notes: []string{"h:12: server r1 10.0.0.1:15672 track amqp/r1: note: rmqlb gives this backend the check of amqp/r1 (of 10.0.0.1:5672)"},
			quiet: []string{"h:12: server r1 10.0.0.1:15672 track amqp/r1: not translated", "h:12: server r1 10.0.0.1:15672 track amqp/r1: note: HAProxy does not check"},
		},
		{
			name: "a backend section further down, and a server of the same section",
			cfg: head + "frontend mgmt\n bind 10.0.0.100:15672\n default_backend mgmt_nodes\n" +
				"backend mgmt_nodes\n server m1 10.0.0.1:15672 track amqp_nodes/r1\n server m2 10.0.0.2:15672 check port 5672\n server m3 10.0.0.3:15672 track m2\n" +
				"frontend amqp\n bind 10.0.0.100:5672\n default_backend amqp_nodes\n" +
				"backend amqp_nodes\n server r1 10.0.0.1:5672 check inter 3s\n",
			want: []string{
				"{name: m1, address: '10.0.0.1:15672', check: {address: '10.0.0.1:5672', interval: 3s}}",
				"{name: m3, address: '10.0.0.3:15672', check: {address: '10.0.0.2:5672'}}",
			},
			notes: []string{
				"h:10: server m1 10.0.0.1:15672 track amqp_nodes/r1: note: rmqlb gives this backend the check of amqp_nodes/r1 (of 10.0.0.1:5672)",
				"h:12: server m3 10.0.0.3:15672 track m2: note: rmqlb gives this backend the check of mgmt_nodes/m2 (of 10.0.0.2:5672)",
			},
		},
		{
			name: "a chain of tracks ends at the server checked",
			cfg: head + "listen amqp\n bind 10.0.0.100:5672\n server r1 10.0.0.1:5672 check inter 4s\n" +
				"listen mgmt\n bind 10.0.0.100:15672\n server r1 10.0.0.1:15672 track amqp/r1\n" +
				"listen prom\n bind 10.0.0.100:15692\n server r1 10.0.0.1:15692 track mgmt/r1\n",
			want:  []string{"bind: 10.0.0.100:15692\n    connect_timeout: 5s\n    idle_timeout: 3h\n    check: {address: '10.0.0.1:5672', interval: 4s}\n"},
			notes: []string{"h:14: server r1 10.0.0.1:15692 track mgmt/r1: note: rmqlb gives this backend the check of mgmt/r1 (of 10.0.0.1:5672)"},
		},
		{
			name: "the tracked server is not translated",
			cfg: head + "listen amqps\n bind 10.0.0.100:5671\n server r1 10.0.0.1:5671 ssl verify none check\n" +
				"listen mgmt\n bind 10.0.0.100:15672\n server r1 10.0.0.1:15672 track amqps/r1\n",
			want:  []string{"{name: r1, address: '10.0.0.1:15672'}"},
			notes: []string{"h:11: server r1 10.0.0.1:15672 track amqps/r1: note: the server it tracks, amqps/r1, is not translated: rmqlb checks this one with a TCP connect (check type: tcp)"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			h := filepath.Join(dir, "h")
			if err := os.WriteFile(h, []byte(tc.cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			haproxyAccepts(t, h)
			r, err := Import(Sources{HAProxy: "h"}, memFiles{"h": tc.cfg})
			if err != nil {
				t.Fatal(err)
			}
			y := string(r.YAML)
			if _, err := config.Parse(r.YAML); err != nil {
				t.Fatalf("config.Parse refuses the file written: %v\n%s", err, y)
			}
			for _, w := range tc.want {
				if !strings.Contains(y, w) {
					t.Errorf("the file lacks %q:\n%s", w, y)
				}
			}
			wantNotes(t, r, tc.notes, tc.quiet)
		})
	}
}

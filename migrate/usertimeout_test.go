package migrate

import (
	"strings"
	"testing"
	"time"
)

// HAProxy's tcp-ut on bind and server lines becomes the listener's
// tcp_user_timeout: the shortest of them, on both sides, with the lines
// noted as changed unless the bind and every server set the same value.
func TestImportTCPUserTimeout(t *testing.T) {
	for _, tc := range []struct {
		name             string
		bind, s1, s2     string // options of the bind line and of two server lines
		defaultServer    string
		want             time.Duration
		changed, skipped []int // lines noted as changed and as not translated
	}{
		{name: "none"},
		{name: "everywhere alike", bind: " tcp-ut 30s", s1: " tcp-ut 30000", s2: " tcp-ut 30s", want: 30 * time.Second},
		{name: "default-server alike", bind: " tcp-ut 30s", defaultServer: " default-server tcp-ut 30s\n", want: 30 * time.Second},
		{name: "bind only", bind: " tcp-ut 20s", want: 20 * time.Second, changed: []int{3}},
		{name: "servers only", s1: " tcp-ut 20s", s2: " tcp-ut 20s", want: 20 * time.Second, changed: []int{4, 5}},
		{name: "one server", s2: " tcp-ut 45s", want: 45 * time.Second, changed: []int{5}},
		{name: "shortest", bind: " tcp-ut 1m", s1: " tcp-ut 30s", s2: " tcp-ut 1m", want: 30 * time.Second, changed: []int{3, 4, 5}},
		{name: "bad bind value", bind: " tcp-ut soon", skipped: []int{3}},
		{name: "bind without a value", bind: " tcp-ut", skipped: []int{3}},
		{name: "server without a value", s1: " tcp-ut", skipped: []int{4}},
		{name: "bad server value", s1: " tcp-ut soon", skipped: []int{4}},
		{name: "past the kernel's limit", bind: " tcp-ut 30d", skipped: []int{3}},
		{name: "zero", bind: " tcp-ut 0", s1: " tcp-ut 0", s2: " tcp-ut 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := tc.defaultServer
			if ds == "" {
				ds = " mode tcp\n"
			}
			h := "listen rabbit\n mode tcp\n bind 10.0.0.100:5672" + tc.bind + "\n server r1 10.0.0.1:5672 check" + tc.s1 +
				"\n server r2 10.0.0.2:5672 check" + tc.s2 + "\n" + ds
			c, y, ns := importParsed(t, memFiles{"h": h}, Sources{HAProxy: "h"})
			if got := c.Listeners[0].TCPUserTimeout; got != tc.want {
				t.Errorf("tcp_user_timeout %v, want %v\n%s", got, tc.want, y)
			}
			for _, n := range ns {
				switch {
				case n.Kind == Changed && strings.Contains(n.Why, "tcp_user_timeout"):
					if !containsLine(tc.changed, n.Pos.Line) {
						t.Errorf("unexpected note %s", n)
					}
				case n.Kind == NotTranslated && strings.Contains(n.Directive, "tcp-ut"):
					if !containsLine(tc.skipped, n.Pos.Line) {
						t.Errorf("unexpected note %s", n)
					}
				}
			}
			for _, line := range tc.changed {
				if !strings.Contains(notesFor(ns, line), "tcp_user_timeout") {
					t.Errorf("no tcp_user_timeout note on line %d; notes:\n%v", line, ns)
				}
			}
			for _, line := range tc.skipped {
				if !strings.Contains(notesFor(ns, line), "tcp-ut") {
					t.Errorf("no tcp-ut note on line %d; notes:\n%v", line, ns)
				}
			}
		})
	}
}

// containsLine reports whether lines holds line.
func containsLine(lines []int, line int) bool {
	for _, l := range lines {
		if l == line {
			return true
		}
	}
	return false
}

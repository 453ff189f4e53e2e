package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/rmqlb/rmqlb/control"
)

// TestSessionsCommand runs the real binary: a client's session is listed
// with its backend and the source address its backend sees; a listener,
// a backend and a client narrow the list; an unknown listener or backend
// is refused (exit 1).
func TestSessionsCommand(t *testing.T) {
	p, _, bind := startDegraded(t)
	c := pingSession(t, bind)

	code, out, errOut := cli(t, "sessions", "--socket", p.socket)
	row := regexp.MustCompile(`(?m)^amqp +a +` + regexp.QuoteMeta(c.LocalAddr().String()) + ` +127\.0\.0\.1:\d+ +127\.0\.0\.2:\d+ +established +\S+ +\S+ +4B +4B$`)
	if code != 0 || !row.MatchString(out) || !strings.HasSuffix(out, "\n1 session\n") {
		t.Fatalf("sessions: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = cli(t, "sessions", "--config", p.path, "--json", "amqp/a")
	var s control.Sessions
	if err := json.Unmarshal([]byte(out), &s); code != 0 || err != nil || s.Total != 1 || len(s.Sessions) != 1 {
		t.Fatalf("sessions --json amqp/a: exit %d, %v, %+v", code, err, s)
	}
	if x := s.Sessions[0]; x.Listener != "amqp" || x.Backend != "a" || x.Client.String() != c.LocalAddr().String() || x.BytesIn != 4 {
		t.Errorf("the session as JSON: %+v", x)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"amqp/b"}, "0 sessions\n"},
		{[]string{"--client", "127.0.0.9"}, "0 sessions\n"},
		{[]string{"amqp", "--client", "127.0.0.0/8", "--limit", "1"}, "\n1 session\n"},
	} {
		code, out, errOut := cli(t, append([]string{"sessions", "--socket", p.socket}, tc.args...)...)
		if code != 0 || !strings.HasSuffix(out, tc.want) {
			t.Errorf("sessions %q: exit %d, %q%s; want 0 and %q", tc.args, code, out, errOut, tc.want)
		}
	}
	for _, tc := range []struct{ arg, want string }{
		{"nope", `no listener "nope"`},
		{"amqp/nope", `no backend "nope" in listener amqp`},
	} {
		if code, _, errOut := cli(t, "sessions", "--socket", p.socket, tc.arg); code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("sessions %s: exit %d, %q; want 1 and %q", tc.arg, code, errOut, tc.want)
		}
	}

	if code, out, errOut := cli(t, "sessions", "--socket", p.socket, "--shutdown", "amqp/a", "--client", "127.0.0.1:1"); code != 0 || out != "0 sessions closed\n" {
		t.Fatalf("sessions --shutdown of another client port: exit %d, %q %s", code, out, errOut)
	}
	if code, out, errOut := cli(t, "sessions", "--socket", p.socket, "--shutdown", "--client", c.LocalAddr().String()); code != 0 || out != "1 session closed\n" {
		t.Fatalf("sessions --shutdown --client %s: exit %d, %q %s", c.LocalAddr(), code, out, errOut)
	}
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatalf("session still open after --shutdown: read %d bytes", n)
	}
	if code, out, _ := cli(t, "sessions", "--socket", p.socket); code != 0 || out != "0 sessions\n" {
		t.Errorf("sessions after --shutdown: exit %d, %q", code, out)
	}
	if code, out, errOut := cli(t, "sessions", "--socket", p.socket, "--shutdown", "--json", "--client", "127.0.0.0/8"); code != 0 || out != "{\"closed\":0}\n" {
		t.Errorf("sessions --shutdown --json: exit %d, %q %s", code, out, errOut)
	}
	if code, _, errOut := cli(t, "sessions", "--socket", p.socket, "--shutdown", "amqp/nope"); code != 1 || !strings.Contains(errOut, `no backend "nope" in listener amqp`) {
		t.Errorf("sessions --shutdown amqp/nope: exit %d, %q; want 1", code, errOut)
	}
}

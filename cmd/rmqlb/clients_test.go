package main

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/rmqlb/rmqlb/control"
)

// TestClientsCommand runs the real binary: a client's address is listed
// with its session count, as a table and as JSON; a listener narrows the
// list; an unknown listener is refused (exit 1), a bad command line
// exits 2.
func TestClientsCommand(t *testing.T) {
	p, _, bind := startDegraded(t)
	c := pingSession(t, bind)
	pingSession(t, bind)
	addr := netip.MustParseAddrPort(c.LocalAddr().String()).Addr()

	code, out, errOut := cli(t, "clients", "--socket", p.socket)
	if want := "LISTENER  CLIENT     SESSIONS\namqp      " + addr.String() + "  2\namqp: 1 client address\n"; code != 0 || out != want {
		t.Fatalf("clients: exit %d, %q%s; want 0 and %q", code, out, errOut, want)
	}
	code, out, _ = cli(t, "clients", "--config", p.path, "--json", "--limit", "1", "amqp")
	var got control.Clients
	if err := json.Unmarshal([]byte(out), &got); code != 0 || err != nil || len(got.Listeners) != 1 {
		t.Fatalf("clients --json amqp: exit %d, %v, %+v", code, err, got)
	}
	if l := got.Listeners[0]; l.Listener != "amqp" || l.Clients != 1 || len(l.List) != 1 || l.List[0].Address != addr || l.List[0].Sessions != 2 {
		t.Errorf("the listener's clients as JSON: %+v", l)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"nope"}, 1, `no listener "nope"`},
		{[]string{"--limit", "0"}, control.ExitUnreachable, "--limit must be 1..100000, not 0"},
		{[]string{"amqp", "mgmt"}, control.ExitUnreachable, `unexpected argument "mgmt"`},
		{[]string{"amqp/a"}, control.ExitUnreachable, `"amqp/a" is not a LISTENER`},
	} {
		if code, _, errOut := cli(t, append([]string{"clients", "--socket", p.socket}, tc.args...)...); code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("clients %q: exit %d, %q; want %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}

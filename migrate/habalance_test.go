package migrate

import (
	"slices"
	"strings"
	"testing"
)

// TestHABalance imports each of HAProxy's balance algorithms for two
// servers of different weights: the policy (and persistence) written, and
// the note on the balance line.
func TestHABalance(t *testing.T) {
	for _, tc := range []struct {
		balance string
		want    string // the listener's policy, persistence: its lines
		note    string // prefix of the note on the balance line; "": none
	}{
		{"roundrobin", "policy: wrr\n", ""},
		{"static-rr", "policy: wrr\n", ""},
		{"leastconn", "policy: leastconn\n", ""},
		{"source", "policy: wrr\n    persistence_timeout: 24h\n", "h:3: balance source: note: a source hash"},
		{"random", "policy: leastconn\n", "h:3: balance random: note: HAProxy draws 2 servers at random by weight and takes the least loaded: rmqlb's closest policy is leastconn"},
		{"random(3)", "policy: leastconn\n", "h:3: balance random(3): note: HAProxy draws 3 servers"},
		{"random(1)", "policy: wrr\n", "h:3: balance random(1): note: a random pick by weight: rmqlb's closest policy is roundrobin"},
		{"random(0)", "policy: wrr\n", "h:3: balance random(0): not translated: the draws of random must be"},
		{"first", "policy: wrr\n", "h:3: balance first: not translated: no equivalent"},
		{"uri", "policy: wrr\n", "h:3: balance uri: not translated: no equivalent: balance uri needs HTTP"},
	} {
		t.Run(tc.balance, func(t *testing.T) {
			cfg := "listen amqp\n bind 10.0.0.100:5672\n balance " + tc.balance + "\n server r1 10.0.0.1:5672 check weight 10\n server r2 10.0.0.2:5672 check weight 20\n"
			r, err := Import(Sources{HAProxy: "h"}, memFiles{"h": cfg})
			if err != nil {
				t.Fatal(err)
			}
			y := string(r.YAML)
			if want := "bind: 10.0.0.100:5672\n    " + tc.want; !strings.Contains(y, want) {
				t.Errorf("the file lacks %q:\n%s", want, y)
			}
			var notes []string
			for _, n := range r.Notes {
				if s := n.String(); strings.HasPrefix(s, "h:3:") {
					notes = append(notes, s)
				}
			}
			switch {
			case tc.note == "" && len(notes) > 0:
				t.Errorf("notes on the balance line: %q; want none", notes)
			case tc.note != "" && !slices.ContainsFunc(notes, func(n string) bool { return strings.HasPrefix(n, tc.note) }):
				t.Errorf("notes on the balance line: %q; want one that starts with %q", notes, tc.note)
			}
		})
	}
}

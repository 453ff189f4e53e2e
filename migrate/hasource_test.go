package migrate

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rmqlb/rmqlb/config"
)

// TestHAProxySourceRules: a tcp-request reject rule on the source address
// (a named acl, negated or with unless, or an inline src) that lets only
// some addresses through, or accept rules of sources and a reject of
// every client after them, becomes the listener's allowed_clients, with a
// note on its lines and none on its acl lines; the rules of a frontend and
// its backend each have to be passed, so the list is what they let
// through together. A rule that refuses some addresses, one after an
// accept rule, and rules that together let no address through are
// reported on their line with the addresses and a firewall rule that
// keeps the restriction, and their acl lines point there. Other rules
// keep the sweep's reason. Every input passes haproxy -c, and every file
// written passes config.Parse with the list it writes.
func TestHAProxySourceRules(t *testing.T) {
	const head = "listen amqp\n bind 10.0.0.100:5672\n server r1 10.0.0.1:5672\n"
	for _, tc := range []struct {
		name, cfg string
		allowed   []string // allowed_clients of each listener; nil: none
		notes     []string
		quiet     []string
	}{
		{"negated acl", head + " acl internal src 10.0.0.0/8 192.168.0.0/16\n tcp-request connection reject if !internal\n",
			[]string{"10.0.0.0/8", "192.168.0.0/16"}, []string{
				"h:5: tcp-request connection reject if !internal: note: becomes the listener's allowed_clients: rmqlb closes a client outside 10.0.0.0/8, 192.168.0.0/16 as soon as it is accepted, as this rule does",
			}, []string{"h:4:"}},
		{"unless, content, both families", head + " acl internal src 10.0.0.0/8 fd00::/8 192.0.2.7\n tcp-request content reject unless internal\n",
			[]string{"10.0.0.0/8", "fd00::/8", "192.0.2.7/32"}, []string{
				"h:5: tcp-request content reject unless internal: note: becomes the listener's allowed_clients: rmqlb closes a client outside 10.0.0.0/8, fd00::/8, 192.0.2.7 as soon as it is accepted",
			}, []string{"h:4:"}},
		{"an acl of two lines, which HAProxy ORs", head + " acl internal src 10.0.0.0/8\n acl internal src 192.168.0.0/16\n tcp-request connection reject if !internal\n",
			[]string{"10.0.0.0/8", "192.168.0.0/16"}, []string{
				"h:6: tcp-request connection reject if !internal: note: becomes the listener's allowed_clients: rmqlb closes a client outside 10.0.0.0/8, 192.168.0.0/16",
			}, []string{"h:4:", "h:5:"}},
		{"masks as HAProxy reads them", head + " acl internal src 10.1.2.3/8 192.168.1.0/255.255.255.0 ::ffff:172.16.0.0/108\n tcp-request connection reject unless internal\n",
			[]string{"10.0.0.0/8", "192.168.1.0/24", "172.16.0.0/12"}, []string{
				"h:5: tcp-request connection reject unless internal: note: becomes the listener's allowed_clients: rmqlb closes a client outside 10.0.0.0/8, 192.168.1.0/24, 172.16.0.0/12",
			}, nil},
		{"inline, refused", head + " tcp-request connection reject if { src 203.0.113.7 }\n", nil, []string{
			"h:4: tcp-request connection reject if { src 203.0.113.7 }: not translated: no equivalent: rmqlb's allowed_clients lists the addresses a listener serves, where HAProxy refused those from 203.0.113.7: keep the restriction with a firewall rule on the listener's port, such as nft add rule inet filter input tcp dport PORT ip saddr { 203.0.113.7 } drop",
		}, nil},
		{"a frontend's and its backend's, each passed",
			"frontend amqp\n bind 10.0.0.100:5672\n bind 10.0.0.101:5672\n tcp-request connection reject unless { src 10.0.0.0/8 192.168.0.0/24 }\n default_backend rabbit\n" +
				"backend rabbit\n tcp-request content reject if !{ src 10.1.0.0/16 172.16.0.0/12 }\n server r1 10.0.0.1:5672\n",
			[]string{"10.1.0.0/16"}, []string{
				"h:4: tcp-request connection reject unless { src 10.0.0.0/8 192...: note: becomes the listener's allowed_clients: rmqlb closes a client outside 10.0.0.0/8, 192.168.0.0/24 as soon as it is accepted, as this rule does (a client must pass the proxy's other source rules too: together they let through 10.1.0.0/16)",
				"h:7: tcp-request content reject if !{ src 10.1.0.0/16 172.16.0...: note: becomes the listener's allowed_clients: rmqlb closes a client outside 10.1.0.0/16, 172.16.0.0/12 as soon as it is accepted, as this rule does (a client must pass the proxy's other source rules too: together they let through 10.1.0.0/16)",
			}, nil},
		{"rules that together let no address through", head + " tcp-request connection reject unless { src 10.0.0.0/8 }\n tcp-request connection reject unless { src 192.168.0.0/16 }\n", nil, []string{
			"h:4: tcp-request connection reject unless { src 10.0.0.0/8 }: not translated: not made allowed_clients, as an accept rule before it lets clients through or the proxy's source rules together let none through: HAProxy refused those outside 10.0.0.0/8: keep the restriction with a firewall rule on the listener's port, such as nft add rule inet filter input tcp dport PORT ip saddr != { 10.0.0.0/8 } drop",
			"h:5: tcp-request connection reject unless { src 192.168.0.0/16 }: not translated: not made allowed_clients",
		}, nil},
		{"none of a bind's family", "listen amqp\n bind 10.0.0.100:5672\n bind [fd00::100]:5672\n server r1 10.0.0.1:5672\n tcp-request connection reject unless { src fd00::/8 }\n",
			[]string{"fd00::/8"}, []string{
				"h:2: bind 10.0.0.100:5672: not translated: left out: the proxy's source rules let no client of its address family through (allowed_clients holds no IPv4 prefix, and bind 10.0.0.100:5672 takes IPv4 clients only: every client would be refused)",
				"h:5: tcp-request connection reject unless { src fd00::/8 }: note: becomes the listener's allowed_clients",
			}, nil},
		{"after an accept rule", head + " tcp-request connection accept if { src 203.0.113.0/24 }\n acl internal src 10.0.0.0/8\n tcp-request connection reject unless internal\n", nil, []string{
			"h:4: tcp-request connection accept if { src 203.0.113.0/24 }: not translated: no equivalent: rmqlb has no content rules or ACLs",
			"h:5: acl internal src 10.0.0.0/8: not translated: goes with the source rule of line 6",
			"h:6: tcp-request connection reject unless internal: not translated: not made allowed_clients, as an accept rule before it lets clients through",
		}, nil},
		{"accept rules, then a reject of every client", head + " tcp-request connection accept if { src 10.0.0.0/8 }\n acl office src 192.0.2.0/24\n tcp-request connection accept if office\n tcp-request connection reject\n",
			[]string{"10.0.0.0/8", "192.0.2.0/24"}, []string{
				"h:4: tcp-request connection accept if { src 10.0.0.0/8 }: note: the rules of lines 4, 6 and 7 together become the listener's allowed_clients: rmqlb closes a client outside 10.0.0.0/8, 192.0.2.0/24 as soon as it is accepted, as they do",
				"h:6: tcp-request connection accept if office: note: the rules of lines 4, 6 and 7 together become the listener's allowed_clients",
				"h:7: tcp-request connection reject: note: the rules of lines 4, 6 and 7 together become the listener's allowed_clients",
			}, []string{"h:5:"}},
		{"accept rules on more than the source, then a reject of every client", head + " tcp-request connection accept if { src 10.0.0.0/8 }\n tcp-request connection accept if { dst_port 5672 }\n tcp-request connection reject\n", nil, []string{
			"h:4: tcp-request connection accept if { src 10.0.0.0/8 }: not translated: no equivalent: rmqlb has no content rules or ACLs",
			"h:6: tcp-request connection reject: not translated: no equivalent: rmqlb has no content rules or ACLs",
		}, nil},
		{"an accept rule of the other phase", head + " tcp-request content accept if { req_len gt 0 }\n tcp-request connection reject unless { src 10.0.0.0/8 }\n",
			[]string{"10.0.0.0/8"}, []string{
				"h:5: tcp-request connection reject unless { src 10.0.0.0/8 }: note: becomes the listener's allowed_clients",
			}, nil},
		{"an acl name on more than the source", head + " acl internal src 10.0.0.0/8\n acl internal dst_port 5672\n tcp-request connection reject if !internal\n", nil, []string{
			"h:6: tcp-request connection reject if !internal: not translated: no equivalent: rmqlb has no content rules or ACLs",
		}, nil},
		{"another condition", head + " tcp-request content reject if { req_len 0 }\n", nil, []string{
			"h:4: tcp-request content reject if { req_len 0 }: not translated: no equivalent: rmqlb has no content rules or ACLs",
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "haproxy.cfg")
			if err := os.WriteFile(path, []byte(tc.cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			haproxyAccepts(t, path)
			r, err := Import(Sources{HAProxy: "h"}, memFiles{"h": tc.cfg})
			if err != nil {
				t.Fatal(err)
			}
			wantNotes(t, r, tc.notes, tc.quiet)
			c, err := config.Parse(r.YAML)
			if err != nil {
				t.Fatalf("config.Parse refuses the file written: %v\n%s", err, r.YAML)
			}
			for _, l := range c.Listeners {
				var got []string
				for _, p := range l.AllowedClients {
					got = append(got, p.String())
				}
				if !slices.Equal(got, tc.allowed) {
					t.Errorf("listener %s: allowed_clients %v, want %v\n%s", l.Name, got, tc.allowed, r.YAML)
				}
			}
		})
	}
}

// wantNotes fails t unless, for each of prefixes, a note of r starts with
// it, and when a note starts with one of quiet.
func wantNotes(t *testing.T, r *Result, prefixes, quiet []string) {
	t.Helper()
	var all []string
	for _, n := range r.Notes {
		all = append(all, n.String())
	}
	for _, w := range prefixes {
		if !slices.ContainsFunc(all, func(n string) bool { return strings.HasPrefix(n, w) }) {
			t.Errorf("no note starts with %q; notes:\n%s", w, strings.Join(all, "\n"))
		}
	}
	for _, w := range quiet {
		for _, n := range all {
			if strings.HasPrefix(n, w) {
				t.Errorf("note %q; want none there", n)
			}
		}
	}
}

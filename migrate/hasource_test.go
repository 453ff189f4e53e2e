package migrate

import (
	"slices"
	"strings"
	"testing"
)

// TestHAProxySourceRules: a tcp-request reject rule on the source address
// (a named acl, negated or with unless, or an inline src) is reported on
// its line with the addresses HAProxy let through or refused and a
// firewall rule that keeps the restriction; its acl line points there.
// Other rules keep the sweep's reason.
func TestHAProxySourceRules(t *testing.T) {
	const head = "listen amqp\n bind 10.0.0.100:5672\n server r1 10.0.0.1:5672\n"
	for _, tc := range []struct {
		name, rules string
		notes       []string
	}{
		{"negated acl", " acl internal src 10.0.0.0/8 192.168.0.0/16\n tcp-request connection reject if !internal\n", []string{
			"h:4: acl internal src 10.0.0.0/8 192.168.0.0/16: not translated: goes with the source rule of line 5",
			"h:5: tcp-request connection reject if !internal: not translated: no equivalent: rmqlb has no source ACL and takes clients from every address, where HAProxy refused those outside 10.0.0.0/8, 192.168.0.0/16: keep the restriction with a firewall rule on the listener's port, such as nft add rule inet filter input tcp dport PORT ip saddr != { 10.0.0.0/8, 192.168.0.0/16 } drop",
		}},
		{"unless, content", " acl internal src 10.0.0.0/8 fd00::/8\n tcp-request content reject unless internal\n", []string{
			"h:5: tcp-request content reject unless internal: not translated: no equivalent: rmqlb has no source ACL and takes clients from every address, where HAProxy refused those outside 10.0.0.0/8, fd00::/8: keep the restriction with a firewall rule on the listener's port, such as nft add rule inet filter input tcp dport PORT ip (ip6 for the IPv6 ones) saddr != {",
		}},
		{"inline, refused", " tcp-request connection reject if { src 203.0.113.7 }\n", []string{
			"h:4: tcp-request connection reject if { src 203.0.113.7 }: not translated: no equivalent: rmqlb has no source ACL and takes clients from every address, where HAProxy refused those from 203.0.113.7: keep the restriction with a firewall rule on the listener's port, such as nft add rule inet filter input tcp dport PORT ip saddr { 203.0.113.7 } drop",
		}},
		{"an acl of two lines, which HAProxy ORs", " acl internal src 10.0.0.0/8\n acl internal src 192.168.0.0/16\n tcp-request connection reject if !internal\n", []string{
			"h:4: acl internal src 10.0.0.0/8: not translated: goes with the source rule of line 6",
			"h:5: acl internal src 192.168.0.0/16: not translated: goes with the source rule of line 6",
			"h:6: tcp-request connection reject if !internal: not translated: no equivalent: rmqlb has no source ACL and takes clients from every address, where HAProxy refused those outside 10.0.0.0/8, 192.168.0.0/16: keep the restriction with a firewall rule on the listener's port, such as nft add rule inet filter input tcp dport PORT ip saddr != { 10.0.0.0/8, 192.168.0.0/16 } drop",
		}},
		{"an acl name on more than the source", " acl internal src 10.0.0.0/8\n acl internal dst_port 5672\n tcp-request connection reject if !internal\n", []string{
			"h:6: tcp-request connection reject if !internal: not translated: no equivalent: rmqlb has no content rules or ACLs",
		}},
		{"another condition", " tcp-request content reject if { req_len 0 }\n", []string{
			"h:4: tcp-request content reject if { req_len 0 }: not translated: no equivalent: rmqlb has no content rules or ACLs",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Import(Sources{HAProxy: "h"}, memFiles{"h": head + tc.rules})
			if err != nil {
				t.Fatal(err)
			}
			wantNotes(t, r, tc.notes, nil)
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

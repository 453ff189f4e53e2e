package migrate

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestGroupAddrs: a member of a virtual_server_group is an address or an
// IPv4 range that ends at its last byte, both ends included.
func TestGroupAddrs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  string
	}{
		{in: "10.0.0.1", want: []string{"10.0.0.1"}},
		{in: "fd00::1", want: []string{"fd00::1"}},
		{in: "10.0.0.1-3", want: []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}},
		{in: "10.0.0.7-7", want: []string{"10.0.0.7"}},
		{in: "10.0.0.1-32", want: nil},
		{in: "10.0.0.1-33", err: "range 10.0.0.1-33: 33 addresses, a listener each: more than 32"},
		{in: "10.0.0.5-4", err: "range 10.0.0.5-4: its last byte must be a number from 5 to 255"},
		{in: "10.0.0.5-256", err: "range 10.0.0.5-256: its last byte must be a number from 5 to 255"},
		{in: "10.0.0.5-x", err: "range 10.0.0.5-x: its last byte must be"},
		{in: "fd00::1-3", err: "fd00::1-3: rmqlb import reads IPv4 ranges only"},
		{in: "rmq", err: `"rmq" is no IP address`},
		{in: "0.0.0.0", err: `"0.0.0.0" is no IP address`},
		{in: "fe80::1%eth0", err: `"fe80::1%eth0" is no IP address`},
	} {
		got, err := groupAddrs(tc.in)
		if tc.err != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
				t.Errorf("%s: %v %v, want error %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		var s []string
		for _, a := range got {
			s = append(s, a.String())
		}
		if tc.want == nil {
			if len(s) != maxGroupRange {
				t.Errorf("%s: %d addresses, want %d", tc.in, len(s), maxGroupRange)
			}
			continue
		}
		if !slices.Equal(s, tc.want) {
			t.Errorf("%s: %v, want %v", tc.in, s, tc.want)
		}
	}
}

// TestImportVirtualServerGroup: a virtual_server of a group is a listener
// per address and port of the group, each with its real servers (their
// port, when they give none, the member's); what cannot be translated is
// said, on its line: a group no virtual_server uses, one defined twice, a
// virtual_server of a group the file lacks, a member rmqlb cannot read,
// an fwmark member whose real servers give no port, and an fwmark member
// with two VIPs.
func TestImportVirtualServerGroup(t *testing.T) {
	k := `vrrp_instance V {
 interface eth0
 virtual_router_id 7
 virtual_ipaddress {
  10.0.0.100
  10.0.0.101
 }
}
virtual_server_group G {
 10.0.0.100-101 5672
 10.0.0.100 5552
 fwmark 9
 10.0.0.100
}
virtual_server_group G {
 10.0.0.100 1883
}
virtual_server_group UNUSED {
 10.0.0.100 61613
}
virtual_server group G {
 lb_algo rr
 real_server 10.0.0.11 {
  TCP_CHECK {
   connect_timeout 2
  }
 }
 real_server 10.0.0.12 5672 {
  TCP_CHECK {
   connect_timeout 2
  }
 }
}
virtual_server group MISSING {
 real_server 10.0.0.11 5672
}
`
	c, y, ns := importParsed(t, memFiles{"k": k}, Sources{Keepalived: "k"})
	got := map[string][]string{}
	for _, l := range c.Listeners {
		for _, b := range l.Backends {
			got[l.Bind.String()] = append(got[l.Bind.String()], b.Address.String())
		}
	}
	want := map[string][]string{
		"10.0.0.100:5672": {"10.0.0.11:5672", "10.0.0.12:5672"},
		"10.0.0.101:5672": {"10.0.0.11:5672", "10.0.0.12:5672"},
		"10.0.0.100:5552": {"10.0.0.11:5552", "10.0.0.12:5672"},
	}
	if len(got) != len(want) {
		t.Errorf("listeners %v, want %v\n%s", got, want, y)
	}
	for bind, backends := range want {
		if !slices.Equal(got[bind], backends) {
			t.Errorf("listener on %s: backends %v, want %v\n%s", bind, got[bind], backends, y)
		}
	}
	for line, want := range map[int]string{
		13: "must be IP PORT, IP-LAST PORT (a range) or fwmark N",
		15: "a second virtual_server_group G: the first, at k:9, is the one translated",
		18: "no virtual_server group UNUSED uses it",
		23: "needs a port in rmqlb (fwmark 9 gives none)",
		34: "no virtual_server_group MISSING in the file",
	} {
		if n := notesFor(ns, line); !strings.Contains(n, want) {
			t.Errorf("line %d: notes %q, want %q", line, n, want)
		}
	}
	// The fwmark member keeps the real server with a port, and is left
	// out as a virtual_server fwmark is with two VIPs.
	if n := notesFor(ns, 21); !strings.Contains(n, "virtual_server group G (fwmark 9): not translated: the packets it takes are marked by firewall rules") {
		t.Errorf("line 21: notes %q, want the fwmark member named as left out", n)
	}
}

// TestImportVirtualServerGroupBounded: a group cannot make more than
// maxGroupListeners listeners; the members beyond are said to be left out.
func TestImportVirtualServerGroupBounded(t *testing.T) {
	var k strings.Builder
	k.WriteString("virtual_server_group G {\n")
	for i := range 10 {
		fmt.Fprintf(&k, " 10.0.%d.1-32 5672\n", i)
	}
	k.WriteString("}\nvirtual_server group G {\n real_server 10.1.0.1 5672\n}\n")
	c, _, ns := importParsed(t, memFiles{"k": k.String()}, Sources{Keepalived: "k"})
	if len(c.Listeners) != maxGroupListeners {
		t.Errorf("%d listeners, want %d", len(c.Listeners), maxGroupListeners)
	}
	if n := notesFor(ns, 6); !strings.Contains(n, "more than 128 listeners for one virtual_server group") {
		t.Errorf("line 6: notes %q, want the member left out", n)
	}
}

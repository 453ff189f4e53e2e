package migrate

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
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
// through together (TestHAProxyDenyRules: a rule that refuses some
// addresses becomes denied_clients). A rule after an accept rule, and
// rules that together let no address through are reported on their line with the addresses and a firewall rule that
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
			r, _ := importSource(t, tc.cfg, nil, true)
			wantNotes(t, r, tc.notes, tc.quiet)
			wantAllowed(t, r, tc.allowed)
		})
	}
}

// TestHAProxySourceLists: the addresses of an ACL's list files (-f FILE)
// are read as HAProxy reads them; where rmqlb reads the same addresses
// from the file, the listener names it (allowed_clients_file, its other
// addresses in allowed_clients), else they are copied into
// allowed_clients, with a note that says which and why; a list file that
// is missing, relative or holds what is not an address leaves the rule
// untranslated, with a note that says why. @DIR@ is the test's
// directory, where the list files are.
func TestHAProxySourceLists(t *testing.T) {
	const head = "listen amqp\n bind 10.0.0.100:5672\n server r1 10.0.0.1:5672\n"
	const rule = " tcp-request connection reject unless allowed\n"
	var longList string
	var longAllowed []string
	for i := range 20 {
		longList += fmt.Sprintf("10.1.0.%d\n", i)
		longAllowed = append(longAllowed, fmt.Sprintf("10.1.0.%d/32", i))
	}
	for _, tc := range []struct {
		name, acl string
		lists     map[string]string
		allowed   []string
		file      string // the list file the listener names; "": none
		notes     []string
	}{
		{"addresses of a list file and of the line", " acl allowed src -f @DIR@/allowed.lst 10.9.9.9\n",
			map[string]string{"allowed.lst": "# the applications\n10.1.0.0/16\n  192.0.2.7\n\n"},
			[]string{"10.9.9.9/32", "10.1.0.0/16", "192.0.2.7/32"}, "@DIR@/allowed.lst", []string{
				"h:5: tcp-request connection reject unless allowed: note: becomes the listener's allowed_clients: rmqlb closes a client outside 10.9.9.9, 10.1.0.0/16, 192.0.2.7 as soon as it is accepted, as this rule does; rmqlb reads @DIR@/allowed.lst itself, as HAProxy did (allowed_clients_file; the daemon's user, rmqlb, must be able to read it): change the list there and run rmqlb reload",
			}},
		{"flags HAProxy takes", " acl allowed src -n -m ip -f @DIR@/allowed.lst -- 10.9.9.9\n",
			map[string]string{"allowed.lst": "10.1.0.0/16\n"},
			[]string{"10.9.9.9/32", "10.1.0.0/16"}, "@DIR@/allowed.lst", []string{
				"h:5: tcp-request connection reject unless allowed: note: becomes the listener's allowed_clients",
			}},
		{"a long list, named in part", " acl allowed src -f @DIR@/allowed.lst\n",
			map[string]string{"allowed.lst": longList}, longAllowed, "@DIR@/allowed.lst", []string{
				"h:5: tcp-request connection reject unless allowed: note: becomes the listener's allowed_clients: rmqlb closes a client outside 10.1.0.0, 10.1.0.1, 10.1.0.2, 10.1.0.3, 10.1.0.4, 10.1.0.5, 10.1.0.6, 10.1.0.7 (and 12 more) as soon as it is accepted",
			}},
		{"a long list refused", " acl allowed src -f @DIR@/allowed.lst\n",
			map[string]string{"allowed.lst": longList}, nil, "@DIR@/allowed.lst", []string{
				"h:5: tcp-request connection reject if allowed: note: becomes the listener's denied_clients: rmqlb closes a client from 10.1.0.0, 10.1.0.1, 10.1.0.2, 10.1.0.3, 10.1.0.4, 10.1.0.5, 10.1.0.6, 10.1.0.7 (and 12 more) as soon as it is accepted, as this rule does; rmqlb reads @DIR@/allowed.lst itself, as HAProxy did (denied_clients_file; the daemon's user, rmqlb, must be able to read it): change the list there and run rmqlb reload",
			}},
		{"bits past a prefix's length", " acl allowed src -f @DIR@/allowed.lst\n",
			map[string]string{"allowed.lst": "10.1.2.3/16\n192.0.2.7\n"},
			[]string{"10.1.0.0/16", "192.0.2.7/32"}, "", []string{
				"h:5: tcp-request connection reject unless allowed: note: becomes the listener's allowed_clients: rmqlb closes a client outside 10.1.0.0/16, 192.0.2.7 as soon as it is accepted, as this rule does; the addresses of @DIR@/allowed.lst are copied into allowed_clients, not read from the file: rmqlb would not read the same addresses from @DIR@/allowed.lst (line 1: 10.1.2.3/16 has bits set past its length 16: did you mean 10.1.0.0/16?); change allowed_clients where you changed that list",
			}},
		{"two list files", " acl allowed src -f @DIR@/allowed.lst -f @DIR@/more.lst\n",
			map[string]string{"allowed.lst": "10.1.0.0/16\n", "more.lst": "192.0.2.7\n"},
			[]string{"10.1.0.0/16", "192.0.2.7/32"}, "", []string{
				"h:5: tcp-request connection reject unless allowed: note: becomes the listener's allowed_clients: rmqlb closes a client outside 10.1.0.0/16, 192.0.2.7 as soon as it is accepted, as this rule does; the addresses of @DIR@/allowed.lst, @DIR@/more.lst are copied into allowed_clients, not read from the file: rmqlb reads one file for each list, and these rules name 2; change allowed_clients where you changed that list",
			}},
		{"a list and another rule", " acl allowed src -f @DIR@/allowed.lst\n tcp-request content reject unless { src 10.1.0.0/17 }\n",
			map[string]string{"allowed.lst": "10.1.0.0/16\n"},
			[]string{"10.1.0.0/17"}, "", []string{
				"h:5: tcp-request content reject unless { src 10.1.0.0/17 }: note: becomes the listener's allowed_clients",
				"h:6: tcp-request connection reject unless allowed: note: becomes the listener's allowed_clients: rmqlb closes a client outside 10.1.0.0/16 as soon as it is accepted, as this rule does (a client must pass the proxy's other source rules too: together they let through 10.1.0.0/17); the addresses of @DIR@/allowed.lst are copied into allowed_clients, not read from the file: a client must pass each of the proxy's source rules, and allowed_clients holds what they let through together; change allowed_clients where you changed that list",
			}},
		{"a name in the list", " acl allowed src -f @DIR@/allowed.lst\n",
			map[string]string{"allowed.lst": "10.1.0.0/16\napp.example.com\n"}, nil, "", []string{
				"h:5: tcp-request connection reject unless allowed: not translated: the addresses of its ACL could not be read (line 2 of @DIR@/allowed.lst: \"app.example.com\" is not an address or a prefix): keep the restriction",
			}},
		{"a missing list file", " acl allowed src -f @DIR@/missing.lst\n", nil, nil, "", []string{
			"h:5: tcp-request connection reject unless allowed: not translated: the addresses of its ACL could not be read (reading @DIR@/missing.lst: ",
		}},
		{"a relative list file", " acl allowed src -f allowed.lst\n", map[string]string{"allowed.lst": "10.1.0.0/16\n"}, nil, "", []string{
			"h:5: tcp-request connection reject unless allowed: not translated: the addresses of its ACL could not be read (allowed.lst is a relative path, read by HAProxy from its working directory)",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// HAProxy refuses a missing list file, and a name in one it
			// resolves.
			check := tc.lists != nil && !strings.Contains(tc.name, "name")
			cfg := head + tc.acl + rule
			refused := strings.HasSuffix(tc.name, "refused")
			if refused {
				cfg = strings.Replace(cfg, "unless", "if", 1)
			}
			r, at := importSource(t, cfg, tc.lists, check)
			var notes []string
			for _, n := range tc.notes {
				notes = append(notes, at(n))
			}
			wantNotes(t, r, notes, nil)
			wantAllowed(t, r, tc.allowed)
			var denied []string
			if refused {
				denied = longAllowed
			}
			wantDenied(t, r, denied)
			allowedFile, deniedFile := at(tc.file), ""
			if refused {
				allowedFile, deniedFile = "", allowedFile
			}
			for _, l := range parseWritten(t, r).Listeners {
				if l.AllowedClientsFile != allowedFile || l.DeniedClientsFile != deniedFile {
					t.Errorf("listener %s: allowed_clients_file %q, denied_clients_file %q; want %q and %q\n%s", l.Name, l.AllowedClientsFile, l.DeniedClientsFile, allowedFile, deniedFile, r.YAML)
				}
			}
		})
	}
}

// countingFiles counts the reads of each file of a memFiles.
type countingFiles struct {
	memFiles
	reads map[string]int
}

func (c countingFiles) ReadFile(name string) ([]byte, error) {
	c.reads[name]++
	return c.memFiles.ReadFile(name)
}

// TestHAProxySourceListReadOnce: a list file that several rules name (of
// two proxies, and twice in one acl line) is read once, and each rule
// gets its addresses.
func TestHAProxySourceListReadOnce(t *testing.T) {
	files := countingFiles{memFiles{"/etc/haproxy/apps.lst": "10.1.0.0/16\n192.0.2.7\n", "h": `listen amqp
 bind 10.0.0.100:5672
 acl apps src -f /etc/haproxy/apps.lst -f /etc/haproxy/apps.lst
 tcp-request connection reject unless apps
 server r1 10.0.0.1:5672
listen amqps
 bind 10.0.0.100:5671
 acl blocked src -f /etc/haproxy/apps.lst
 tcp-request connection reject if blocked
 server r1 10.0.0.1:5671
`}, map[string]int{}}
	r, err := Import(Sources{HAProxy: "h"}, files)
	if err != nil {
		t.Fatal(err)
	}
	if n := files.reads["/etc/haproxy/apps.lst"]; n != 1 {
		t.Errorf("the list file read %d times, want once", n)
	}
	c := parseWrittenFrom(t, r, files.memFiles.ReadFile)
	want := []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("192.0.2.7/32")}
	if len(c.Listeners) != 2 || !slices.Equal(c.Listeners[0].AllowedClients, want) || !slices.Equal(c.Listeners[1].DeniedClients, want) {
		t.Fatalf("listeners %+v, want the list as allowed_clients of the first, denied_clients of the second", c.Listeners)
	}
}

// TestHAProxyDenyRules: a tcp-request reject rule of the clients from
// some addresses (a named acl or an inline src) becomes the listener's
// denied_clients, with a note on its line and none on its acl lines,
// beside the allowed_clients of the proxy's other rules; the deny rules
// of a frontend and its backend add up. One after an accept rule, which
// lets clients through before it, is reported with a firewall rule.
// Every input passes haproxy -c, and every file written passes
// config.Parse with the lists it writes.
func TestHAProxyDenyRules(t *testing.T) {
	const head = "listen amqp\n bind 10.0.0.100:5672\n server r1 10.0.0.1:5672\n"
	for _, tc := range []struct {
		name, cfg       string
		allowed, denied []string
		notes, quiet    []string
	}{
		{"inline", head + " tcp-request connection reject if { src 203.0.113.7 2001:db8::/32 }\n", nil, []string{"203.0.113.7/32", "2001:db8::/32"}, []string{
			"h:4: tcp-request connection reject if { src 203.0.113.7 2001:d...: note: becomes the listener's denied_clients: rmqlb closes a client from 203.0.113.7, 2001:db8::/32 as soon as it is accepted, as this rule does",
		}, nil},
		{"beside an allow rule", head + " acl blocked src 10.9.0.0/16\n acl internal src 10.0.0.0/8\n tcp-request connection reject if blocked\n tcp-request content reject unless internal\n",
			[]string{"10.0.0.0/8"}, []string{"10.9.0.0/16"}, []string{
				"h:6: tcp-request connection reject if blocked: note: becomes the listener's denied_clients: rmqlb closes a client from 10.9.0.0/16",
				"h:7: tcp-request content reject unless internal: note: becomes the listener's allowed_clients",
			}, []string{"h:4:", "h:5:"}},
		{"before accept rules and a reject of every client", head + " tcp-request connection reject if { src 192.0.2.66 }\n tcp-request connection accept if { src 192.0.2.0/24 }\n tcp-request connection reject\n",
			[]string{"192.0.2.0/24"}, []string{"192.0.2.66/32"}, []string{
				"h:4: tcp-request connection reject if { src 192.0.2.66 }: note: becomes the listener's denied_clients",
				"h:5: tcp-request connection accept if { src 192.0.2.0/24 }: note: the rules of lines 5 and 6 together become the listener's allowed_clients",
			}, nil},
		{"a frontend's and its backend's, added up",
			"frontend amqp\n bind 10.0.0.100:5672\n tcp-request connection reject if { src 203.0.113.7 }\n default_backend rabbit\n" +
				"backend rabbit\n tcp-request content reject if { src 203.0.113.9 }\n server r1 10.0.0.1:5672\n",
			nil, []string{"203.0.113.7/32", "203.0.113.9/32"}, []string{
				"h:3: tcp-request connection reject if { src 203.0.113.7 }: note: becomes the listener's denied_clients",
				"h:6: tcp-request content reject if { src 203.0.113.9 }: note: becomes the listener's denied_clients",
			}, nil},
		{"after an accept rule", head + " tcp-request connection accept if { src 192.0.2.0/24 }\n acl blocked src 192.0.2.66\n tcp-request connection reject if blocked\n", nil, nil, []string{
			"h:5: acl blocked src 192.0.2.66: not translated: goes with the source rule of line 6",
			"h:6: tcp-request connection reject if blocked: not translated: not made denied_clients, as an accept rule before it lets clients through: HAProxy refused those from 192.0.2.66 after it: keep the restriction with a firewall rule on the listener's port, such as nft add rule inet filter input tcp dport PORT ip saddr { 192.0.2.66 } drop",
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := importSource(t, tc.cfg, nil, true)
			wantNotes(t, r, tc.notes, tc.quiet)
			wantAllowed(t, r, tc.allowed)
			wantDenied(t, r, tc.denied)
		})
	}
}

// importSource imports the HAProxy file cfg as file "h", with the files
// of lists written in a directory of the test (@DIR@ in cfg), after
// haproxy -c has accepted it when check; it returns the result and a
// function that puts the directory in place of @DIR@.
func importSource(t *testing.T, cfg string, lists map[string]string, check bool) (*Result, func(string) string) {
	t.Helper()
	dir := t.TempDir()
	at := func(s string) string { return strings.ReplaceAll(s, "@DIR@", dir) }
	cfg = at(cfg)
	files := memFiles{"h": cfg}
	for name, data := range lists {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		files[filepath.Join(dir, name)] = data
	}
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if check {
		haproxyAccepts(t, path)
	}
	r, err := Import(Sources{HAProxy: "h"}, files)
	if err != nil {
		t.Fatal(err)
	}
	return r, at
}

// wantAllowed fails t unless every listener of the file r wrote, which
// config.Parse must take, has allowed_clients want (nil: none).
func wantAllowed(t *testing.T, r *Result, want []string) {
	t.Helper()
	wantClientList(t, r, "allowed_clients", want)
}

// wantDenied is wantAllowed for denied_clients.
func wantDenied(t *testing.T, r *Result, want []string) {
	t.Helper()
	wantClientList(t, r, "denied_clients", want)
}

func wantClientList(t *testing.T, r *Result, key string, want []string) {
	t.Helper()
	c := parseWritten(t, r)
	for _, l := range c.Listeners {
		ps := l.AllowedClients
		if key == "denied_clients" {
			ps = l.DeniedClients
		}
		var got []string
		for _, p := range ps {
			got = append(got, p.String())
		}
		if !slices.Equal(got, want) {
			t.Errorf("listener %s: %s %v, want %v\n%s", l.Name, key, got, want, r.YAML)
		}
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

// parseWritten returns the file r wrote, parsed by config.ParseWithFiles
// with the list files it names read from the file system, and fails t
// when it is refused.
func parseWritten(t *testing.T, r *Result) *config.Config {
	t.Helper()
	return parseWrittenFrom(t, r, nil)
}

// parseWrittenFrom is parseWritten, its list files read with readFile.
func parseWrittenFrom(t *testing.T, r *Result, readFile func(string) ([]byte, error)) *config.Config {
	t.Helper()
	c, err := config.ParseWithFiles(r.YAML, readFile)
	if err != nil {
		t.Fatalf("config.ParseWithFiles refuses the file written: %v\n%s", err, r.YAML)
	}
	return c
}

// TestPrefixSets: the intersection and the union of random lists of
// prefixes hold exactly the addresses they should, each prefix once and
// taken from the lists.
func TestPrefixSets(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	randList := func() []netip.Prefix {
		ps := make([]netip.Prefix, rng.IntN(12))
		for i := range ps {
			switch rng.IntN(40) {
			case 0:
				ps[i] = netip.MustParsePrefix("0.0.0.0/0") // every IPv4 address
				continue
			case 1, 2, 3, 4:
				ps[i] = netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(rng.IntN(4))}), 126+rng.IntN(3)).Masked()
				continue
			}
			ps[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(rng.IntN(256))}), 24+rng.IntN(9)).Masked()
		}
		return unionPrefixes(nil, ps) // each once, as the callers' lists
	}
	holds := func(ps []netip.Prefix, a netip.Addr) bool {
		return slices.ContainsFunc(ps, func(p netip.Prefix) bool { return p.Contains(a) })
	}
	var probes []netip.Addr
	for i := range 256 {
		probes = append(probes, netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}))
	}
	for i := range 8 {
		probes = append(probes, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)}))
	}
	for round := range 2000 {
		a, b := randList(), randList()
		inter, union := intersectPrefixes(a, b), unionPrefixes(slices.Clone(a), b)
		for _, p := range probes {
			if got, want := holds(inter, p), holds(a, p) && holds(b, p); got != want {
				t.Fatalf("round %d: %v ∩ %v = %v: holds %v: %v, want %v", round, a, b, inter, p, got, want)
			}
			if got, want := holds(union, p), holds(a, p) || holds(b, p); got != want {
				t.Fatalf("round %d: %v ∪ %v = %v: holds %v: %v, want %v", round, a, b, union, p, got, want)
			}
		}
		for _, out := range [][]netip.Prefix{inter, union} {
			for i, p := range out {
				if slices.Contains(out[:i], p) || !slices.Contains(a, p) && !slices.Contains(b, p) {
					t.Fatalf("round %d: %v ∩ %v = %v, ∪ %v: %v twice or from neither list", round, a, b, inter, union, p)
				}
			}
		}
	}
}

// BenchmarkHAProxyListFiles imports a frontend and its backend that each
// let through the addresses of a list file, n of them (every second and
// every fourth address of 10.0.0.0/8 from its start): the two lists meet,
// and the file written holds what both let through.
func BenchmarkHAProxyListFiles(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("addresses=%d", n), func(b *testing.B) {
			var fe, be strings.Builder
			for i := range n {
				fmt.Fprintf(&fe, "10.%d.%d.%d\n", (2*i)>>16&255, (2*i)>>8&255, (2*i)&255)
				fmt.Fprintf(&be, "10.%d.%d.%d\n", (4*i)>>16&255, (4*i)>>8&255, (4*i)&255)
			}
			files := memFiles{"/etc/haproxy/fe.lst": fe.String(), "/etc/haproxy/be.lst": be.String(), "h": `defaults
    mode tcp
    timeout connect 5s
    timeout client 3h
    timeout server 3h

frontend amqp
    bind 192.0.2.10:5672
    acl ok src -f /etc/haproxy/fe.lst
    tcp-request connection reject if !ok
    default_backend rabbits

backend rabbits
    acl ok2 src -f /etc/haproxy/be.lst
    tcp-request content reject if !ok2
    server rmq1 192.0.2.11:5672 check
    server rmq2 192.0.2.12:5672 check
`}
			for b.Loop() {
				r, err := Import(Sources{HAProxy: "h"}, files)
				if err != nil {
					b.Fatal(err)
				}
				if got := strings.Count(string(r.YAML), "/32"); got != n/2 {
					b.Fatalf("%d addresses let through, want %d", got, n/2)
				}
			}
		})
	}
}

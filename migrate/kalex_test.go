package migrate

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dump writes a tree as "key args {children}" lines, indented, with the
// line of each statement: what the tests compare.
func dump(n *kaNode, depth int, b *strings.Builder) {
	for _, c := range n.children {
		b.WriteString(strings.Repeat("  ", depth))
		b.WriteString(itoa(c.pos.Line) + ": " + strings.Join(append([]string{c.key}, c.args...), "|"))
		if c.block {
			b.WriteString(" {")
		}
		b.WriteString("\n")
		dump(c, depth+1, b)
	}
}

func TestKeepalivedReader(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"comments", "! a comment\nrouter_id a # the id\n# another\nsmtp_server 1.2.3.4 ! relay\n",
			"2: router_id|a\n4: smtp_server|1.2.3.4\n"},
		{"quotes keep comment characters and blanks", `script "killall -0 haproxy # not a comment"` + "\n",
			"1: script|killall -0 haproxy # not a comment\n"},
		{"escaped comment characters", `auth_pass pa\#ss\!` + "\n", "1: auth_pass|pa#ss!\n"},
		// keepalived joins no lines: a '\' ending one stays on its
		// last word (blanks before it removed), in a comment too.
		{"no continuation", "notify_master /bin/x \\\n  arg\n", "1: notify_master|/bin/x\\\n2: arg\n"},
		{"no continuation after a comment", "advert_int 2 # two \\\npriority 50\n", "1: advert_int|2\\\n2: priority|50\n"},
		{"escaped backslash ends a line", "auth_pass ab\\\\\npriority 50\n", "1: auth_pass|ab\\\\\n2: priority|50\n"},
		{"definition continues", "$DEF=a \\\n b\npriority 50\n", "1: $DEF=a|b\n3: priority|50\n"},
		{"nested blocks", "vrrp_instance V {\n  authentication {\n    auth_type PASS\n  }\n  priority 100\n}\n",
			"1: vrrp_instance|V {\n  2: authentication {\n    3: auth_type|PASS\n  5: priority|100\n"},
		{"brace on its own line", "virtual_server 1.2.3.4 80\n{\n  lb_algo rr\n}\n",
			"1: virtual_server|1.2.3.4|80 {\n  3: lb_algo|rr\n"},
		{"block on one line", "unicast_peer { 10.0.0.2 }\n", "1: unicast_peer {\n  1: 10.0.0.2\n"},
		{"brace glued to words", "virtual_ipaddress{\n10.0.0.1}\n", "1: virtual_ipaddress {\n  2: 10.0.0.1\n"},
		{"CRLF", "router_id a\r\nstate MASTER\r\n", "1: router_id|a\n2: state|MASTER\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, err := readKeepalived("k.conf", memFiles{"k.conf": tc.in}, &notes{})
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			dump(root, 0, &b)
			if b.String() != tc.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tc.want)
			}
		})
	}
}

func TestKeepalivedInclude(t *testing.T) {
	files := memFiles{
		"/etc/keepalived/keepalived.conf":       "global_defs {\n  include defs.conf\n}\ninclude conf.d/*.conf\ninclude none/*.conf\n",
		"/etc/keepalived/defs.conf":             "router_id a\n",
		"/etc/keepalived/conf.d/b.conf":         "vrrp_script b {\n}\n",
		"/etc/keepalived/conf.d/a.conf":         "vrrp_script a {\n include ../inner/x.conf\n}\n",
		"/etc/keepalived/inner/x.conf":          "script x\n",
		"/etc/keepalived/conf.d/not-a-conf.txt": "garbage {",
	}
	ns := &notes{}
	root, err := readKeepalived("/etc/keepalived/keepalived.conf", files, ns)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	dump(root, 0, &b)
	want := "1: global_defs {\n  1: router_id|a\n1: vrrp_script|a {\n  1: script|x\n1: vrrp_script|b {\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	if got := root.children[0].children[0].pos.File; got != "/etc/keepalived/defs.conf" {
		t.Errorf("included statement's file = %q", got)
	}
	if len(ns.list) != 1 || ns.list[0].Pos.Line != 5 || !strings.Contains(ns.list[0].Why, "matches no file") {
		t.Errorf("notes = %v, want one for the include of line 5 that matches nothing", ns.list)
	}
}

// TestKeepalivedIncludePattern checks that an include's pattern is the
// whole rest of its line, quotes and blanks included, as keepalived reads
// it: keepalived -t says "Config files missing '"conf.d/*.conf"'" and
// reads nothing of such a line.
func TestKeepalivedIncludePattern(t *testing.T) {
	files := memFiles{
		"/k/keepalived.conf": "include \"conf.d/*.conf\"\ninclude conf.d/a.conf extra\ninclude   conf.d/a.conf\n",
		"/k/conf.d/a.conf":   "router_id a\n",
	}
	ns := &notes{}
	root, err := readKeepalived("/k/keepalived.conf", files, ns)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	dump(root, 0, &b)
	if want := "1: router_id|a\n"; b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	var got []string
	for _, n := range ns.list {
		got = append(got, n.String())
	}
	want := []string{
		`/k/keepalived.conf:1: include "conf.d/*.conf": not translated: matches no file (/k/"conf.d/*.conf"): nothing to translate; keepalived takes the quotes and blanks in it as part of the file name`,
		`/k/keepalived.conf:2: include conf.d/a.conf extra: not translated: matches no file (/k/conf.d/a.conf extra): nothing to translate; keepalived takes the quotes and blanks in it as part of the file name`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("notes\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestKeepalivedIncludeSkips checks that of the files an include matches,
// those keepalived does not read (a directory, an executable script) are
// reported and left out, and the others read: keepalived -t says
// "Configuration file 'conf.d/sub/' is a directory - skipping" and
// "... is not a regular non-executable file - skipping" and goes on.
func TestKeepalivedIncludeSkips(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string, mode os.FileMode) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("keepalived.conf", "include conf.d/*\n", 0o644)
	write("conf.d/vrrp.conf", "router_id a\n", 0o644)
	write("conf.d/check.sh", "#!/bin/sh\nf() {\n killall -0 haproxy\n}\nf || { exit 1\n", 0o755)
	write("conf.d/sub/x.conf", "router_id b\n", 0o644)
	ns := &notes{}
	root, err := readKeepalived(filepath.Join(dir, "keepalived.conf"), OSFiles{}, ns)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	dump(root, 0, &b)
	if want := "1: router_id|a\n"; b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	var whys []string
	for _, n := range ns.list {
		whys = append(whys, n.Why)
	}
	got := strings.Join(whys, "\n")
	for _, want := range []string{"conf.d/check.sh is executable: keepalived skips it", "conf.d/sub is a directory: keepalived skips it"} {
		if !strings.Contains(got, want) {
			t.Errorf("notes\n%s\nlack %q", got, want)
		}
	}
}

// includeBomb is a file that includes no file twice in a chain, but 4
// levels of 2 files that each include the next level 4 times: 8^4 reads.
func includeBomb() memFiles {
	files := memFiles{"k": "include L0_*\n"}
	for level := 0; level < 4; level++ {
		for _, n := range []string{"1", "2"} {
			files["L"+itoa(level)+"_"+n] = strings.Repeat("include L"+itoa(level+1)+"_*\n", 4)
		}
	}
	return files
}

func TestKeepalivedReaderErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files memFiles
		want  string
	}{
		{"unclosed block", memFiles{"k": "a {\n b\nc {\n}\n"}, "k:1: a: block opened here is not closed"},
		{"extra brace", memFiles{"k": "a {\n}\n}\n"}, "k:3: '}' without a block to close"},
		{"brace without keyword", memFiles{"k": "{\n}\n"}, "k:1: '{' without a keyword before it"},
		{"unterminated quote", memFiles{"k": "a\nscript \"x\n"}, "k:2: unterminated quote"},
		{"include of itself", memFiles{"k": "a\ninclude k\n"}, "k:2: include k: includes itself (through k)"},
		{"include cycle", memFiles{"k": "include j\n", "j": "\n\ninclude k\n"}, "j:3: include k: includes itself (through k -> j)"},
		{"include without a name", memFiles{"k": "include\n"}, "k:1: include: needs a file name or pattern"},
		{"include bomb", includeBomb(), "L2_2:4: include L3_1: more than 256 files included"},
		{"too deep", memFiles{"k": strings.Repeat("a {\n", maxBlockDepth+1)}, "k:33: blocks nested more than 32 deep"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readKeepalived("k", tc.files, &notes{})
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *SyntaxError", err)
			}
			if err.Error() != tc.want {
				t.Errorf("error %q, want %q", err, tc.want)
			}
		})
	}
}

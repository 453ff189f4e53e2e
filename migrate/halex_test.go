package migrate

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestHAWords(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"  server a 1.2.3.4:5672 check   # comment", []string{"server", "a", "1.2.3.4:5672", "check"}},
		{`log-format "%ci:%cp [%t] # kept"`, []string{"log-format", "%ci:%cp [%t] # kept"}},
		{`description 'it''s'`, []string{"description", "its"}},
		{`description a\ b \"c\"`, []string{"description", "a b", `"c"`}},
		{`x "a\"b"`, []string{"x", `a"b`}},
		{`x ""`, []string{"x", ""}},
		{"#", nil},
	} {
		got, err := splitWords(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("splitWords(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := splitWords(`x "open`); err == nil {
		t.Error("unterminated quote accepted")
	}
}

func TestHAProxyReader(t *testing.T) {
	in := "# head\nmaxconn 1\nglobal\n  daemon\n\ndefaults\n  mode tcp\n.if defined(X)\n  retries 9\n.else\n  retries 8\n.endif\nlisten a 1.2.3.4:5\n  server s 1.2.3.5:6\n"
	ns := &notes{}
	cfg, err := readHAProxy("h.cfg", memFiles{"h.cfg": in}, ns)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range cfg.orphans {
		got = append(got, "orphan "+itoa(l.pos.Line)+" "+strings.Join(l.words, " "))
	}
	for _, s := range cfg.sections {
		got = append(got, itoa(s.header.pos.Line)+" "+s.kind+" "+s.name)
		for _, l := range s.lines {
			got = append(got, "  "+itoa(l.pos.Line)+" "+strings.Join(l.words, " "))
		}
	}
	want := []string{"orphan 2 maxconn 1", "3 global ", "  4 daemon", "6 defaults ", "  7 mode tcp", "13 listen a", "  14 server s 1.2.3.5:6"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("sections\n%q\nwant\n%q", got, want)
	}
	var lines []int
	for _, n := range ns.list {
		lines = append(lines, n.Pos.Line)
	}
	if !reflect.DeepEqual(lines, []int{8, 9, 11}) {
		t.Errorf("notes on lines %v, want the .if and the two lines inside it: %v", lines, ns.list)
	}
}

func TestHAProxyReaderErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"global\n  log \"x\n", "h:2: unterminated quote"},
		{"global\n.if 1\n", "h:2: .if without .endif"},
		{"global\n.endif\n", "h:2: .endif without .if"},
		{".else\n", "h:1: .else without .if"},
	} {
		_, err := readHAProxy("h", memFiles{"h": tc.in}, &notes{})
		var se *SyntaxError
		if !errors.As(err, &se) || err.Error() != tc.want {
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestIPVSAdmReader(t *testing.T) {
	in := "# saved\n-A -t 10.0.0.1:5672 -s wrr -p 600\n\n-a -t 10.0.0.1:5672 -r 10.0.0.2:5672 -g -w 3\n--add-service --tcp-service [2001:db8::1]:5672 --persistent\n"
	rules, err := readIPVSAdm("r", memFiles{"r": in}, &notes{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 3 {
		t.Fatalf("%d rules, want 3", len(rules))
	}
	if r := rules[0]; r.pos.Line != 2 || r.cmd != "-A" || r.opts["-t"] != "10.0.0.1:5672" || r.opts["-s"] != "wrr" || r.opts["-p"] != "600" {
		t.Errorf("rule 0 = %+v", r)
	}
	if r := rules[1]; r.pos.Line != 4 || r.cmd != "-a" || r.opts["-r"] != "10.0.0.2:5672" || r.opts["-w"] != "3" || !reflect.DeepEqual(r.flags, []string{"-g"}) {
		t.Errorf("rule 1 = %+v", r)
	}
	if r := rules[2]; r.cmd != "-A" || r.opts["-t"] != "[2001:db8::1]:5672" || r.opts["-p"] != "" {
		t.Errorf("rule 2 = %+v", r)
	}
	for _, tc := range []struct{ in, want string }{
		{"-A -t 1.2.3.4:5\nfoo\n", `r:2: "foo" is not an ipvsadm command (-A, -a, ...): not ipvsadm -Sn output`},
		{"-a -t\n", "r:1: -t needs a value"},
	} {
		_, err := readIPVSAdm("r", memFiles{"r": tc.in}, &notes{})
		var se *SyntaxError
		if !errors.As(err, &se) || err.Error() != tc.want {
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.want)
		}
	}
}

package clidoc

import (
	"bytes"
	"flag"
	"reflect"
	"strings"
	"testing"
)

// optional is a boolean flag that also takes a value (--watch[=2s]).
type optional struct{ set string }

func (o *optional) IsBoolFlag() bool   { return true }
func (o *optional) String() string     { return o.set }
func (o *optional) Set(s string) error { o.set = s; return nil }

func TestFlagsOf(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.String("config", "/etc/x.yaml", "read `FILE`")
	fs.String("format", "console", "the format: `console|json`")
	fs.Bool("json", false, "print JSON")
	fs.Duration("every", 0, "how often")
	fs.Var(&optional{}, "watch", "again every `INTERVAL`")
	want := []Flag{
		{Name: "config", Arg: "FILE", Usage: "read FILE", Default: "/etc/x.yaml"},
		{Name: "every", Arg: "DURATION", Usage: "how often"},
		{Name: "format", Arg: "console|json", Usage: "the format: console|json", Default: "console"},
		{Name: "json", Usage: "print JSON"},
		{Name: "watch", Arg: "[INTERVAL]", Usage: "again every INTERVAL"},
	}
	got := FlagsOf(fs)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("FlagsOf:\n got %+v\nwant %+v", got, want)
	}
	if c := got[2].choices(); !reflect.DeepEqual(c, []string{"console", "json"}) || !got[2].takesArg() {
		t.Errorf("format: choices %q, takes an argument %v", c, got[2].takesArg())
	}
	if !got[4].optional() || got[4].takesArg() || !got[0].isPath() || got[1].isPath() {
		t.Errorf("watch optional %v takesArg %v; config isPath %v; every isPath %v", got[4].optional(), got[4].takesArg(), got[0].isPath(), got[1].isPath())
	}
}

func TestBlocksAndFill(t *testing.T) {
	bs := blocks("one two\nthree\n\n  verbatim  a\n    b\n\nfour")
	want := []block{
		{lines: []string{"one two three"}},
		{verbatim: true, lines: []string{"verbatim  a", "  b"}},
		{lines: []string{"four"}},
	}
	if !reflect.DeepEqual(bs, want) {
		t.Fatalf("blocks: %+v", bs)
	}
	got := fill("aaa bbb ccc dddddddddd e", "  ", 10)
	if !reflect.DeepEqual(got, []string{"  aaa bbb", "  ccc", "  dddddddddd", "  e"}) {
		t.Errorf("fill: %q", got)
	}
}

func TestRoff(t *testing.T) {
	for in, want := range map[string]string{
		`a\b-c`:  `a\eb\-c`,
		".TH x":  `\&.TH x`,
		"'quote": `\&'quote`,
	} {
		if got := roffLine(in); got != want {
			t.Errorf("roffLine(%q) = %q, want %q", in, got, want)
		}
	}
	got := roffSynopsis("x backend [--socket PATH] LISTENER/BACKEND weight N|reset")
	want := `\fBx\fR \fBbackend\fR [\fB\-\-socket\fR \fIPATH\fR] \fILISTENER/BACKEND\fR \fBweight\fR \fIN\fR|\fBreset\fR`
	if got != want {
		t.Errorf("roffSynopsis:\n got %s\nwant %s", got, want)
	}
}

func TestZshEscape(t *testing.T) {
	var b bytes.Buffer
	p := &Program{Name: "p", Commands: []Command{{Name: "c", Summary: "it's", Flags: []Flag{{Name: "x", Usage: "a [b]: c"}}}}}
	if err := WriteZsh(&b, p, "h"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `'c:it'\''s'`) || !strings.Contains(b.String(), `'--x[a \[b\]]'`) {
		t.Errorf("quoting:\n%s", b.String())
	}
}

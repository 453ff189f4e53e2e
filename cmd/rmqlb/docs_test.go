package main

import (
	"bytes"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rmqlb/rmqlb/daemon"
	"github.com/rmqlb/rmqlb/internal/clidoc"
)

var updateDocs = flag.Bool("update", false, "rewrite the manual page and the completion scripts in ../../dist from the table of commands")

// generatedHeader opens each file written from the table of commands.
const generatedHeader = `Written from rmqlb's table of commands (cmd/rmqlb/table.go): do not edit.
go test ./cmd/rmqlb -run TestGeneratedDocs -update writes it again.`

// generatedDoc is a file of the source tree written from the table of
// commands, which the package installs.
type generatedDoc struct {
	path  string // from this package's directory
	write func(io.Writer, *clidoc.Program, string) error
}

// The files written from the table of commands.
var (
	manPage    = generatedDoc{"../../dist/man/rmqlb.8", clidoc.WriteMan}
	bashScript = generatedDoc{"../../dist/completion/rmqlb.bash", clidoc.WriteBash}
	zshScript  = generatedDoc{"../../dist/completion/_rmqlb", clidoc.WriteZsh}
)

// render returns the file's content as the table of commands writes it.
func (g generatedDoc) render(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := g.write(&b, program(), generatedHeader); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestGeneratedDocs: the manual page and the completion scripts in dist/
// are what the table of commands writes (-update writes them).
func TestGeneratedDocs(t *testing.T) {
	for _, g := range []generatedDoc{manPage, bashScript, zshScript} {
		want := g.render(t)
		if *updateDocs {
			if err := os.MkdirAll(filepath.Dir(g.path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(g.path, want, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(g.path)
		if err != nil {
			t.Fatalf("%v (go test ./cmd/rmqlb -run TestGeneratedDocs -update writes it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what the table of commands writes: go test ./cmd/rmqlb -run TestGeneratedDocs -update", g.path)
		}
	}
}

// TestCommandTable: every command is documented, its forms name exactly
// its flags, -h and rmqlb help COMMAND print its help and exit 0, and
// rmqlb help lists every form.
func TestCommandTable(t *testing.T) {
	flagRE := regexp.MustCompile(`--([a-z][a-z-]*)`)
	placeholderRE := regexp.MustCompile(`^([A-Z][A-Z/_]*|[a-z]+(\|[a-z]+)+)$`)
	var help bytes.Buffer
	if code := run([]string{"help"}, &help, io.Discard); code != 0 {
		t.Fatalf("rmqlb help: exit %d", code)
	}
	p := program()
	if len(p.Commands) != len(publicCommands()) {
		t.Fatalf("program has %d commands, the table %d not internal", len(p.Commands), len(publicCommands()))
	}
	for _, c := range p.Commands {
		if c.Summary == "" || c.Doc == "" || len(c.Forms) == 0 {
			t.Errorf("%s: summary, doc and forms are required", c.Name)
		}
		var inForms []string
		for _, f := range c.Forms {
			if !strings.Contains(help.String(), strings.TrimSpace("rmqlb "+c.Name+" "+f)+"\n") {
				t.Errorf("rmqlb help lacks the form %q", "rmqlb "+c.Name+" "+f)
			}
			for _, m := range flagRE.FindAllStringSubmatch(f, -1) {
				inForms = append(inForms, m[1])
			}
		}
		var defined []string
		for _, f := range c.Flags {
			defined = append(defined, f.Name)
			a := strings.Trim(f.Arg, "[]")
			if f.Usage == "" || (a != "" && !placeholderRE.MatchString(a)) || slices.Contains([]string{"STRING", "VALUE", "DURATION", "INT", "UINT", "FLOAT"}, a) {
				t.Errorf("%s --%s: usage %q, placeholder %q: want a usage and a placeholder in capitals or words (name it with `PLACEHOLDER` in the usage)", c.Name, f.Name, f.Usage, f.Arg)
			}
		}
		slices.Sort(inForms)
		inForms = slices.Compact(inForms)
		if !slices.Equal(inForms, defined) {
			t.Errorf("%s: the forms name the flags %q, the flag set defines %q", c.Name, inForms, defined)
		}

		var out, errb bytes.Buffer
		if code := run([]string{c.Name, "-h"}, &out, &errb); code != 0 || !strings.HasPrefix(errb.String(), "usage: rmqlb "+c.Name) {
			t.Errorf("rmqlb %s -h: exit %d, stderr %q; want 0 and the command's help", c.Name, code, errb.String())
		}
		h := errb.String()
		out.Reset()
		if code := run([]string{"help", c.Name}, &out, io.Discard); code != 0 || out.String() != h {
			t.Errorf("rmqlb help %s: exit %d, output %q; want 0 and what -h prints:\n%s", c.Name, code, out.String(), h)
		}
		for _, f := range c.Flags {
			if !strings.Contains(h, "  --"+f.Name) {
				t.Errorf("rmqlb %s -h lacks --%s:\n%s", c.Name, f.Name, h)
			}
		}
		if strings.Contains(h, "STRING") || strings.Contains(h, "Usage of") {
			t.Errorf("rmqlb %s -h names a flag's type or prints flag's default usage:\n%s", c.Name, h)
		}
	}
	var errb bytes.Buffer
	if code := run([]string{"help", "frobnicate"}, io.Discard, &errb); code != 2 || !strings.Contains(errb.String(), `unknown command "frobnicate"`) {
		t.Errorf("rmqlb help frobnicate: exit %d, stderr %q", code, errb.String())
	}
	for _, args := range [][]string{{"-h"}, {"--help"}} {
		var out bytes.Buffer
		if code := run(args, &out, io.Discard); code != 0 || out.String() != help.String() {
			t.Errorf("rmqlb %s: exit %d, want 0 and rmqlb help's output", args[0], code)
		}
	}
	if code := run([]string{"version", "extra"}, io.Discard, io.Discard); code != 2 {
		t.Errorf("rmqlb version extra: exit %d, want 2", code)
	}
}

// TestManPage: groff formats the manual page without a warning (-ww, all
// of them), man renders it without one, and the text names every command
// and every flag, the files and the signals.
func TestManPage(t *testing.T) {
	cmd := exec.Command("groff", "-man", "-ww", "-z", manPage.path)
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("groff -man -ww -z %s: %v\n%s", manPage.path, err, out)
	}
	cmd = exec.Command("man", "--warnings", "-l", manPage.path)
	cmd.Env = append(os.Environ(), "MANWIDTH=80", "MAN_KEEP_FORMATTING=0", "PAGER=cat", "MANPAGER=cat", "LC_ALL=C.UTF-8")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("man --warnings -l %s: %v\n%s", manPage.path, err, stderr.String())
	}
	// Strip overstriking, which man keeps when it writes to a pipe.
	text := regexp.MustCompile(".\b").ReplaceAllString(stdout.String(), "")
	want := []string{"NAME", "rmqlb - VRRP virtual addresses", "SYNOPSIS", "EXIT STATUS", "SIGHUP", "SIGTERM",
		"/etc/rmqlb/rmqlb.yaml", "/run/rmqlb/rmqlb.sock", "README.md", "inert: true"}
	for _, c := range program().Commands {
		want = append(want, "rmqlb "+c.Name)
		for _, f := range c.Flags {
			want = append(want, "--"+f.Name)
		}
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("the rendered manual page lacks %q", w)
		}
	}
	if t.Failed() {
		t.Logf("rendered:\n%s", text)
	}
}

// complete runs bash's completion of rmqlb for the words of a command
// line, the last one being completed, and returns its candidates.
func complete(t *testing.T, dir, script string, words ...string) []string {
	t.Helper()
	const prog = `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _rmqlb; printf '%s\n' "${COMPREPLY[@]}"`
	cmd := exec.Command("bash", append([]string{"--norc", "--noprofile", "-c", prog, "bash", script}, words...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("completing %q: %v\n%s", words, err, out)
	}
	got := strings.Fields(string(out))
	slices.Sort(got)
	return got
}

// TestBashCompletion: the bash script completes commands, flags, files
// and words, and skips flags' values when it counts operands.
func TestBashCompletion(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"rmqlb.yaml", "other.conf"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	abs, err := filepath.Abs(bashScript.path)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range publicCommands() {
		names = append(names, c.doc.Name)
	}
	for _, c := range []struct {
		words []string
		want  []string
	}{
		{[]string{"rmqlb", ""}, names},
		{[]string{"rmqlb", "st"}, []string{"status"}},
		{[]string{"rmqlb", "status", "--"}, []string{"--config", "--json", "--socket", "--verbose", "--watch"}},
		{[]string{"rmqlb", "status", "--j"}, []string{"--json"}},
		{[]string{"rmqlb", "run", "--log-format", ""}, []string{"console", "json"}},
		{[]string{"rmqlb", "check-config", "--config", "rmq"}, []string{"rmqlb.yaml"}},
		{[]string{"rmqlb", "check-config", "--checks", "oth"}, []string{"other.conf"}},
		{[]string{"rmqlb", "backend", "amqp/rmq1", ""}, []string{"drain", "maint", "move-sessions", "ready", "shutdown-sessions", "weight"}},
		{[]string{"rmqlb", "backend", "--socket", "/run/x.sock", "amqp/rmq1", "d"}, []string{"drain"}},
		{[]string{"rmqlb", "backend", ""}, nil},
		{[]string{"rmqlb", "help", "ch"}, []string{"check-config"}},
		{[]string{"rmqlb", "frobnicate", ""}, nil},
	} {
		got := complete(t, dir, abs, c.words...)
		want := slices.Clone(c.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("completing %q: %q, want %q", c.words, got, want)
		}
	}
}

// TestZshCompletion: zsh reads the script, and the completion function,
// run by zsh with the completion system's functions recording their
// arguments, offers the commands, then the flags and operands of the
// command typed.
func TestZshCompletion(t *testing.T) {
	if out, err := exec.Command("zsh", "-n", zshScript.path).CombinedOutput(); err != nil {
		t.Fatalf("zsh -n %s: %v\n%s", zshScript.path, err, out)
	}
	const prog = `
_describe() { print -r -- "describe $3: ${(P)4}" }
_arguments() { print -rl -- "arguments" "$@" }
_message() { print -r -- "message $*" }
source "$1"
shift
words=("$@")
CURRENT=$#
_rmqlb
`
	for _, c := range []struct {
		words []string
		want  []string // lines of the output
	}{
		{[]string{"rmqlb", "st"}, []string{"describe rmqlb command: run:run the daemon in the foreground"}},
		{[]string{"rmqlb", "status", "--j"}, []string{"arguments", "--json[print the status as the daemon sent it]", "--watch[print the status again every INTERVAL]::INTERVAL: ", "--socket[ask the daemon at its control socket, a unix socket PATH]:PATH:_files"}},
		{[]string{"rmqlb", "run", ""}, []string{"arguments", "--log-format[the log's format]:log-format:(console json)"}},
		{[]string{"rmqlb", "backend", "a/b", ""}, []string{"1:LISTENER/BACKEND: ", "2:OPERATION:(drain maint ready weight shutdown-sessions move-sessions)"}},
		{[]string{"rmqlb", "version", ""}, []string{"message no arguments"}},
		{[]string{"rmqlb", "check-config", ""}, []string{"1:FILE:_files"}},
	} {
		out, err := exec.Command("zsh", append([]string{"-f", "-c", prog, "zsh", zshScript.path}, c.words...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("completing %q: %v\n%s", c.words, err, out)
		}
		lines := strings.Split(string(out), "\n")
		for _, w := range c.want {
			found := slices.Contains(lines, w)
			if !found && strings.HasPrefix(w, "describe ") {
				found = strings.HasPrefix(string(out), w)
			}
			if !found {
				t.Errorf("completing %q: output lacks %q:\n%s", c.words, w, out)
			}
		}
	}
}

// publicCommands are the commands of the table that are not internal.
func publicCommands() []command {
	var cs []command
	for _, c := range commands() {
		if !c.internal {
			cs = append(cs, c)
		}
	}
	return cs
}

// TestInternalCommandHidden: the advert sender subcommand runs by its
// name but is in no help, manual page or completion.
func TestInternalCommandHidden(t *testing.T) {
	c, ok := lookupCommand(daemon.SenderSubcommand)
	if !ok || !c.internal {
		t.Fatalf("%s: found %v, internal %v", daemon.SenderSubcommand, ok, c.internal)
	}
	var help bytes.Buffer
	writeHelp(&help)
	if strings.Contains(help.String(), daemon.SenderSubcommand) {
		t.Fatalf("rmqlb help lists %s:\n%s", daemon.SenderSubcommand, help.String())
	}
	for _, pc := range program().Commands {
		if pc.Name == daemon.SenderSubcommand {
			t.Fatalf("the manual page documents %s", daemon.SenderSubcommand)
		}
	}
}

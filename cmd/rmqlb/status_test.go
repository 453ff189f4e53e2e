package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rmqlb/rmqlb/internal/freeport"
)

// statusConfig is procConfig with a second backend, b, where nothing
// listens: once checked, b is DOWN and the daemon degraded.
const statusConfig = procConfig + `      - {name: b, address: B, weight: 10}
`

// startDegraded runs the daemon on statusConfig and waits until a is UP
// and b DOWN after a failed check.
func startDegraded(t *testing.T) (p *proc, cfg, bind string) {
	t.Helper()
	a := echo(t, "127.0.0.2")
	bind, metrics := freeport.Addr(t, "127.0.0.1"), freeport.Addr(t, "127.0.0.1")
	cfg = strings.NewReplacer("BIND", bind, "A", a, "B", freeport.Addr(t, "127.0.0.3"), "METRICS", metrics).Replace(statusConfig)
	p = startProc(t, cfg)
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		s := p.status()
		if len(s.Checks) == 2 && s.Checks[0].State.String() == "UP" && s.Checks[1].ConsecutiveFailures > 0 {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("a not UP and b not checked within 10 s: %+v", s.Checks)
		}
	}
	return p, cfg, bind
}

// TestStatusExitCodes runs the real binary: degraded (exit 1) with a
// backend DOWN, the verdict on the first line, the JSON with the same
// exit code; healthy (exit 0) once a reload removed it; the socket found
// through --config.
func TestStatusExitCodes(t *testing.T) {
	p, cfg, _ := startDegraded(t)
	code, out, errOut := cli(t, "status", "--config", p.path)
	first, _, _ := strings.Cut(out, "\n")
	if code != 1 || !strings.HasPrefix(first, "DEGRADED: backend amqp/b DOWN (connecting to 127.0.0.3:") {
		t.Fatalf("degraded status: exit %d, first line %q\n%s%s", code, first, out, errOut)
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("colour codes written to a pipe:\n%q", out)
	}
	code, out, _ = cli(t, "status", "--socket", p.socket, "--json")
	var js struct {
		Verdict struct {
			Degraded bool     `json:"degraded"`
			Reasons  []string `json:"reasons"`
		} `json:"verdict"`
	}
	if err := json.Unmarshal([]byte(out), &js); code != 1 || err != nil || !js.Verdict.Degraded || len(js.Verdict.Reasons) != 1 {
		t.Fatalf("status --json: exit %d, %v, verdict %+v", code, err, js.Verdict)
	}

	p.write(cfg[:strings.Index(cfg, "      - {name: b")])
	if code, out, errOut := cli(t, "reload", "--config", p.path); code != 0 {
		t.Fatalf("reload: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = cli(t, "status", "--config", p.path)
	if first, _, _ := strings.Cut(out, "\n"); code != 0 || first != "1/1 backends up" {
		t.Fatalf("healthy status: exit %d, first line %q\n%s%s", code, first, out, errOut)
	}
}

// TestBackendWeightAndShutdownSessions runs the real binary: an
// operator's weight is set, shown and reset; shutdown-sessions closes the
// backend's session.
func TestBackendWeightAndShutdownSessions(t *testing.T) {
	p, _, bind := startDegraded(t)
	if code, out, errOut := cli(t, "backend", "--config", p.path, "amqp/a", "weight", "3"); code != 0 || out != "amqp/a: weight 3 (operator's; configured 10)\n" {
		t.Fatalf("weight 3: exit %d, %q %s", code, out, errOut)
	}
	if b := p.status().Listeners[0].Backends[0]; b.Weight != 3 || b.ConfiguredWeight != 10 || !b.WeightOverride {
		t.Fatalf("status after weight 3: %+v", b)
	}
	if _, out, _ := cli(t, "status", "--socket", p.socket); !strings.Contains(out, "3 (operator, file 10)") {
		t.Errorf("status does not show the operator's weight:\n%s", out)
	}
	if code, out, _ := cli(t, "backend", "--socket", p.socket, "amqp/a", "weight", "reset"); code != 0 || out != "amqp/a: weight 10 (configured)\n" {
		t.Fatalf("weight reset: exit %d, %q", code, out)
	}
	for _, bad := range [][]string{{"amqp/a", "weight", "70000"}, {"amqp/a", "weight", "heavy"}, {"amqp/nope", "weight", "1"},
		{"amqp/nope", "shutdown-sessions"}} {
		if code, _, errOut := cli(t, append([]string{"backend", "--socket", p.socket}, bad...)...); code != 1 {
			t.Errorf("backend %q: exit %d, want 1 (%s)", bad, code, errOut)
		}
	}

	c := pingSession(t, bind)
	if code, out, errOut := cli(t, "backend", "--socket", p.socket, "amqp/a", "shutdown-sessions"); code != 0 || out != "amqp/a: 1 session closed\n" {
		t.Fatalf("shutdown-sessions: exit %d, %q %s", code, out, errOut)
	}
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatalf("session still open after shutdown-sessions: read %d bytes", n)
	} else if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("session still open after shutdown-sessions")
	}
}

// pingSession opens a session through the listener at bind and sends
// "ping", which the echo backend answers; the connection's deadline is
// 5 s away, and it is closed when the test ends.
func pingSession(t *testing.T, bind string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", bind)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	return c
}

// watchOutput is the output of a `rmqlb status --watch` process.
type watchOutput struct {
	cmd  *exec.Cmd
	out  *syncWriter
	done chan error
}

// startWatch runs `rmqlb status --watch 100ms` with stdout on w (a pipe or
// a terminal) and env added to its environment.
func startWatch(t *testing.T, socket string, stdout *os.File, env ...string) *watchOutput {
	t.Helper()
	w := &watchOutput{cmd: exec.Command(binary, "status", "--socket", socket, "--watch", "100ms"), out: &syncWriter{w: &bytes.Buffer{}}, done: make(chan error, 1)}
	w.cmd.Env = append(os.Environ(), env...)
	w.cmd.Stdout = stdout
	w.cmd.Stderr = w.out
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { w.done <- w.cmd.Wait() }()
	t.Cleanup(func() { w.cmd.Process.Kill() })
	return w
}

// interrupt sends SIGINT and returns the exit code.
func (w *watchOutput) interrupt(t *testing.T) int {
	t.Helper()
	if err := w.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-w.done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return w.cmd.ProcessState.ExitCode()
	case <-time.After(10 * time.Second):
		t.Fatal("no exit within 10 s of SIGINT")
		return -1
	}
}

// readUntil copies r into out (in a goroutine) and waits until out holds
// n occurrences of sep.
func readUntil(t *testing.T, r io.Reader, out *syncWriter, sep string, n int) {
	t.Helper()
	go io.Copy(out, r)
	for start := time.Now(); strings.Count(out.String(), sep) < n; time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("fewer than %d %q in the output within 10 s:\n%q", n, sep, out.String())
		}
	}
}

// TestStatusWatchPipe: on a pipe, --watch prints each status after a
// blank line, without colour or screen clearing, and SIGINT ends it with
// the last status's exit code.
func TestStatusWatchPipe(t *testing.T) {
	p, _, _ := startDegraded(t)
	r, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w := startWatch(t, p.socket, wr)
	wr.Close()
	out := &syncWriter{w: &bytes.Buffer{}}
	readUntil(t, r, out, "DEGRADED: ", 3)
	if code := w.interrupt(t); code != 1 {
		t.Errorf("exit %d after SIGINT, want 1 (degraded)\nstderr: %s", code, w.out.String())
	}
	text := out.String()
	if strings.Contains(text, "\x1b") {
		t.Errorf("escape codes on a pipe:\n%q", text)
	}
	if !strings.HasPrefix(text, "DEGRADED: ") || strings.Count(text, "\n\nDEGRADED: ") < 2 {
		t.Errorf("statuses not separated by a blank line:\n%s", text)
	}
}

// TestStatusWatchTerminal: on a terminal, --watch clears the screen
// before each status and paints states, unless NO_COLOR is set.
func TestStatusWatchTerminal(t *testing.T) {
	p, _, _ := startDegraded(t)
	for _, c := range []struct {
		env    []string
		colour bool
	}{{nil, true}, {[]string{"NO_COLOR=1"}, false}, {[]string{"NO_COLOR="}, true}} {
		master, tty := openPTY(t)
		w := startWatch(t, p.socket, tty, c.env...)
		tty.Close()
		out := &syncWriter{w: &bytes.Buffer{}}
		readUntil(t, master, out, clearScreen, 2)
		if code := w.interrupt(t); code != 1 {
			t.Errorf("%v: exit %d after SIGINT, want 1", c.env, code)
		}
		text := out.String()
		if !strings.HasPrefix(text, clearScreen) {
			t.Errorf("%v: output does not start by clearing the screen: %q", c.env, text[:min(len(text), 40)])
		}
		red := "\x1b[31mDEGRADED\x1b[0m: backend amqp/b DOWN"
		if got := strings.Contains(text, red) && strings.Contains(text, "\x1b[32mUP\x1b[0m"); got != c.colour {
			t.Errorf("%v: painted %v, want %v:\n%q", c.env, got, c.colour, text)
		}
		if !c.colour && strings.Contains(text, "\x1b[3") {
			t.Errorf("%v: colour codes:\n%q", c.env, text)
		}
	}
}

// openPTY opens a pseudo-terminal: its master side and its terminal.
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("opening a pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlocking the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("naming the pseudo-terminal: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("opening the terminal: %v", err)
	}
	if !isTerminal(s) {
		t.Fatal("isTerminal is false for a pseudo-terminal")
	}
	return m, s
}

// TestStatusWhileStopping runs the real binary: after SIGTERM, while a
// client's session drains, rmqlb status answers degraded (exit 1), says
// the daemon stops and for how long its sessions may take at most, and
// that the listener stopped accepting; the daemon exits 0 once the
// session has ended.
func TestStatusWhileStopping(t *testing.T) {
	a := echo(t, "127.0.0.2")
	bind, metrics := freeport.Addr(t, "127.0.0.1"), freeport.Addr(t, "127.0.0.1")
	p := startProc(t, strings.NewReplacer("BIND", bind, "A", a, "METRICS", metrics).Replace(procConfig))
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		if code, _, _ := cli(t, "status", "--socket", p.socket); code == 0 {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("not healthy within 10 s of the start")
		}
	}
	c, err := net.Dial("tcp", bind)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatalf("the session through the listener: %v", err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	const want = "DEGRADED: stopping for "
	var code int
	var out string
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		code, out, _ = cli(t, "status", "--socket", p.socket)
		if strings.Contains(out, "finishing the listeners' sessions") {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("status does not say the sessions finish within 10 s of SIGTERM: exit %d\n%s", code, out)
		}
	}
	first, _, _ := strings.Cut(out, "\n")
	if code != 1 || !strings.HasPrefix(first, want) || !strings.Contains(first, ": finishing the listeners' sessions (graceful_timeout), for at most ") {
		t.Errorf("status while the session drains: exit %d, first line %q; want 1 and %q", code, first, want+"...")
	}
	if !strings.Contains(out, "stopped accepting: 1 active") {
		t.Errorf("status does not say the listener stopped accepting with its session:\n%s", out)
	}
	c.Close()
	p.awaitExit("the session's end")
}

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/internal/freeport"
)

// binary is the rmqlb command built by TestMain for the tests that run the
// daemon as a process.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rmqlb-cmd-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "rmqlb")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building rmqlb: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is one rmqlb daemon process on a loopback-only configuration (no
// VRRP: no root needed).
type proc struct {
	t      *testing.T
	dir    string
	path   string
	socket string
	cmd    *exec.Cmd
	log    *bytes.Buffer
	exited chan struct{} // closed when the process has exited
	err    error         // its exit error, once exited is closed
}

func startProc(t *testing.T, cfg string) *proc {
	t.Helper()
	return startProcAs(t, cfg, nil, nil)
}

// startProcAs starts the daemon with the command line args returns for
// the configuration file and its control socket (nil: run --config FILE)
// and with env added to the environment.
func startProcAs(t *testing.T, cfg string, env []string, args func(path, socket string) []string) *proc {
	t.Helper()
	dir := t.TempDir()
	p := &proc{t: t, dir: dir, path: filepath.Join(dir, "rmqlb.yaml"), socket: filepath.Join(dir, "ctl.sock"), log: &bytes.Buffer{}, exited: make(chan struct{})}
	p.write(cfg)
	argv := []string{binary, "run", "--config", p.path}
	if args != nil {
		argv = args(p.path, p.socket)
	}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = &syncWriter{w: p.log}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(15 * time.Second):
			p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", p.logText())
		}
	})
	return p
}

// terminate sends SIGTERM and fails the test unless the daemon exits 0
// within 15 s.
func (p *proc) terminate() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	p.awaitExit("SIGTERM")
}

// awaitExit fails the test unless the daemon, sent SIGTERM, exits 0
// within 15 s of since (what the wait counts from).
func (p *proc) awaitExit(since string) {
	p.t.Helper()
	select {
	case <-p.exited:
		if p.err != nil {
			p.t.Fatalf("exit after SIGTERM: %v", p.err)
		}
	case <-time.After(15 * time.Second):
		p.t.Fatalf("no exit within 15 s of %s", since)
	}
}

func (p *proc) write(cfg string) {
	p.t.Helper()
	cfg = strings.ReplaceAll(cfg, "SOCKET", filepath.Join(p.dir, "ctl.sock"))
	if err := os.WriteFile(p.path, []byte(cfg), 0o600); err != nil {
		p.t.Fatal(err)
	}
}

func (p *proc) logText() string {
	return p.cmd.Stderr.(*syncWriter).String()
}

// status asks the daemon for its status until it answers (10 s).
func (p *proc) status() control.Status {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var s control.Status
		err := control.Call(p.socket, control.Request{Command: "status"}, &s, time.Second)
		if err == nil {
			return s
		}
		select {
		case <-p.exited:
			p.t.Fatalf("the daemon exited: %v\n%s", p.err, p.logText())
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no status within 10 s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// started waits up to 10 s until the daemon has started every part (its
// status says nothing of a start) and returns that status.
func (p *proc) started() control.Status {
	p.t.Helper()
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		s := p.status()
		if s.Starting == nil {
			return s
		}
		if time.Since(start) > 10*time.Second {
			p.t.Fatalf("still starting after 10 s: %+v", s.Starting)
		}
	}
}

// cli runs an rmqlb client command and returns its exit code and output.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// echo listens on ip:0 and echoes.
func echo(t *testing.T, ip string) string {
	t.Helper()
	return serve(t, ip, func(c net.Conn) { io.Copy(c, c) })
}

// serve listens on ip:0 and runs handle on each connection, which it
// closes when handle returns; the test's cleanup stops listening.
func serve(t *testing.T, ip string, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); handle(c) }()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

const procConfig = `control_socket: SOCKET
metrics_listen: METRICS
listeners:
  - name: amqp
    bind: BIND
    check: {type: tcp, interval: 100ms, rise: 1, fall: 1}
    backends:
      - {name: a, address: A, weight: 10}
`

// TestRunSIGHUPAndCommands runs the real binary: a SIGHUP while the daemon
// waits for its first checks (before it is ready: a backend's first check
// is held until the signal was sent) neither kills it nor is lost; reload,
// backend and status work over the socket; the metrics endpoint serves;
// SIGTERM ends it with exit 0.
func TestRunSIGHUPAndCommands(t *testing.T) {
	a := echo(t, "127.0.0.2")
	release := make(chan struct{})
	var releaseOnce sync.Once
	releaseChecks := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(releaseChecks)
	// A backend that holds every connection unanswered until release: an
	// AMQP check of it cannot end before (or its timeout).
	held := serve(t, "127.0.0.3", func(net.Conn) { <-release })
	bind, metrics := freeport.Addr(t, "127.0.0.1"), freeport.Addr(t, "127.0.0.1")
	cfg := strings.NewReplacer("BIND", bind, "A", a, "METRICS", metrics).Replace(procConfig)
	// The first checks wait for the held backend for up to 15 s (the
	// daemon's limit): the daemon cannot be ready before release.
	started := time.Now()
	p := startProc(t, cfg+"      - {name: held, address: "+held+", check: {type: amqp, timeout: 15s}}\n")
	for !strings.Contains(p.logText(), "starting rmqlb") {
		if time.Since(started) > 10*time.Second {
			t.Fatalf("no start-up log line within 10 s:\n%s", p.logText())
		}
		time.Sleep(time.Millisecond)
	}
	p.write(strings.Replace(cfg, "weight: 10", "weight: 7", 1)) // and without the held backend
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if since := time.Since(started); since > 10*time.Second {
		t.Fatalf("SIGHUP sent %v after the start, too near the daemon's 15 s limit of first checks to be sent before it is ready", since)
	}
	releaseChecks()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := p.status()
		if s.Reload != nil && len(s.Listeners) == 1 && len(s.Listeners[0].Backends) == 1 && s.Listeners[0].Backends[0].Weight == 7 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP at start not applied: reload %+v", s.Reload)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// rmqlb reload --dry-run: what a reload would apply, nothing applied;
	// of a bad file, exit 1.
	p.write(cfg)
	last := p.status().Reload.At
	if code, out, errOut := cli(t, "reload", "--dry-run", "--socket", p.socket); code != 0 || !strings.HasPrefix(out, "dry run: nothing was applied\nwould apply: listener amqp updated\n") {
		t.Fatalf("reload --dry-run: exit %d\n%s%s", code, out, errOut)
	}
	if s := p.status(); !s.Reload.At.Equal(last) || s.Listeners[0].Backends[0].Weight != 7 {
		t.Fatalf("after a dry run: reload %+v, backend %+v", s.Reload, s.Listeners[0].Backends[0])
	}
	p.write("listeners: [{name: amqp, bind: nowhere}]\n")
	if code, _, errOut := cli(t, "reload", "--dry-run", "--socket", p.socket); code != 1 || !strings.Contains(errOut, "a reload would refuse the file") {
		t.Fatalf("bad reload --dry-run: exit %d\n%s", code, errOut)
	}
	// Of a candidate beside the daemon's file (this test runs as root):
	// the candidate's plan, the daemon's file (bad now) untouched.
	candidate := filepath.Join(p.dir, "candidate.yaml")
	if err := os.WriteFile(candidate, []byte(strings.ReplaceAll(cfg, "SOCKET", p.socket)), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := cli(t, "reload", "--dry-run", "--file", candidate, "--socket", p.socket); code != 0 || !strings.HasPrefix(out, "dry run of "+candidate+" in place of the daemon's file: nothing was applied\nwould apply: listener amqp updated\n") {
		t.Fatalf("reload --dry-run --file: exit %d\n%s%s", code, out, errOut)
	}
	if s := p.status(); !s.Reload.At.Equal(last) || s.Listeners[0].Backends[0].Weight != 7 {
		t.Fatalf("after a dry run of a candidate: reload %+v, backend %+v", s.Reload, s.Listeners[0].Backends[0])
	}

	// rmqlb reload: applied, then refused (exit 1), then nothing.
	p.write(cfg)
	if code, out, errOut := cli(t, "reload", "--socket", p.socket); code != 0 || !strings.Contains(out, "applied: listener amqp updated") {
		t.Fatalf("reload: exit %d\n%s%s", code, out, errOut)
	}
	p.write("listeners: [{name: amqp, bind: nowhere}]\n")
	if code, _, errOut := cli(t, "reload", "--socket", p.socket); code != 1 || !strings.Contains(errOut, "refused") {
		t.Fatalf("bad reload: exit %d\n%s", code, errOut)
	}
	p.write(cfg)
	if code, out, _ := cli(t, "reload", "--socket", p.socket); code != 0 || !strings.Contains(out, "nothing changed") {
		t.Fatalf("same file: exit %d\n%s", code, out)
	}

	// rmqlb backend, once a is UP.
	for start := time.Now(); p.status().Listeners[0].Backends[0].State.String() != "UP"; time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatal("a not UP within 10 s")
		}
	}
	if code, out, errOut := cli(t, "backend", "--socket", p.socket, "amqp/a", "drain"); code != 0 || !strings.Contains(out, "amqp/a: drain") {
		t.Fatalf("backend drain: exit %d\n%s%s", code, out, errOut)
	}
	if s := p.status(); s.Listeners[0].Backends[0].State.String() != "DRAIN" {
		t.Fatalf("state after drain: %v", s.Listeners[0].Backends[0].State)
	}
	if code, _, _ := cli(t, "backend", "--socket", p.socket, "amqp/nope", "drain"); code != 1 {
		t.Fatalf("backend of an unknown name: exit %d, want 1", code)
	}
	if code, _, _ := cli(t, "backend", "--socket", p.socket, "amqp/a", "ready"); code != 0 {
		t.Fatalf("backend ready: exit %d", code)
	}

	// rmqlb status, human and JSON.
	if code, out, _ := cli(t, "status", "--socket", p.socket); code != 0 || !strings.Contains(out, "LISTENER amqp on "+bind) {
		t.Fatalf("status: exit %d\n%s", code, out)
	}
	code, out, _ := cli(t, "status", "--socket", p.socket, "--json")
	var js map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &js) != nil || js["listeners"] == nil {
		t.Fatalf("status --json: exit %d\n%s", code, out)
	}

	// The metrics endpoint.
	resp, err := http.Get("http://" + metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `rmqlb_backend_state{backend="a",listener="amqp",state="UP"} 1`) ||
		!strings.Contains(string(body), "rmqlb_listener_connections_total") {
		t.Fatalf("metrics:\n%s", body)
	}

	p.terminate()
}

// TestRunSecondInstanceLeavesFirstAlone: a second daemon with the same
// configuration exits 1 and the first keeps running.
func TestRunSecondInstanceLeavesFirstAlone(t *testing.T) {
	a := echo(t, "127.0.0.2")
	bind, metrics := freeport.Addr(t, "127.0.0.1"), freeport.Addr(t, "127.0.0.1")
	cfg := strings.NewReplacer("BIND", bind, "A", a, "METRICS", metrics).Replace(procConfig)
	p := startProc(t, cfg)
	if s := p.started(); len(s.Listeners) != 1 || !s.Listeners[0].Listening {
		t.Fatalf("the first daemon once started: %+v", s.Listeners)
	}
	second := exec.Command(binary, "run", "--config", p.path)
	out, err := second.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "another rmqlb daemon runs with this control socket") {
		t.Fatalf("second daemon: %v\n%s", err, out)
	}
	if s := p.status(); len(s.Listeners) != 1 || !s.Listeners[0].Listening {
		t.Fatalf("the first daemon after the second's attempt: %+v", s.Listeners)
	}
}

// TestRunBindErrorIsReported: a listener that cannot bind stops the start
// with the real error.
func TestRunBindErrorIsReported(t *testing.T) {
	a := echo(t, "127.0.0.2")
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "rmqlb.yaml")
	cfg := strings.NewReplacer("SOCKET", filepath.Join(dir, "ctl.sock"), "BIND", taken.Addr().String(), "A", a, "metrics_listen: METRICS\n", "").Replace(procConfig)
	os.WriteFile(path, []byte(cfg), 0o600)
	out, err := exec.Command(binary, "run", "--config", path).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "address already in use") || strings.Contains(string(out), "context canceled") {
		t.Fatalf("run with a taken port: %v\n%s", err, out)
	}
}

// syncWriter is a bytes.Buffer safe for the process's output copier and
// the test reading it.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

// TestRunSIGQUITDumpsAndRunsOn: SIGQUIT writes every goroutine's stack
// to stderr and the daemon runs on (Go's default would exit, leaving its
// VIPs behind); twice, and SIGTERM still ends it with exit 0.
func TestRunSIGQUITDumpsAndRunsOn(t *testing.T) {
	a := echo(t, "127.0.0.2")
	cfg := strings.NewReplacer("BIND", freeport.Addr(t, "127.0.0.1"), "A", a, "metrics_listen: METRICS\n", "").Replace(procConfig)
	p := startProc(t, cfg)
	p.status()
	for i := 1; i <= 2; i++ {
		if err := p.cmd.Process.Signal(syscall.SIGQUIT); err != nil {
			t.Fatal(err)
		}
		// Each dump holds the stack of the goroutine that writes it.
		for start := time.Now(); strings.Count(p.logText(), "SIGQUIT: writing every goroutine's stack") < i ||
			strings.Count(p.logText(), "main.dumpOnQuit.func1") < i; time.Sleep(10 * time.Millisecond) {
			if time.Since(start) > 10*time.Second {
				t.Fatalf("no stack dump %d within 10 s:\n%s", i, p.logText())
			}
		}
		if !strings.Contains(p.logText(), "daemon.(*Daemon).Run") {
			t.Fatalf("the dump lacks the daemon's goroutines:\n%s", p.logText())
		}
		select {
		case <-p.exited:
			t.Fatalf("the daemon exited on SIGQUIT: %v", p.err)
		default:
		}
		if s := p.status(); s.PID != p.cmd.Process.Pid {
			t.Fatalf("status from pid %d, want %d", s.PID, p.cmd.Process.Pid)
		}
	}
	p.terminate()
}

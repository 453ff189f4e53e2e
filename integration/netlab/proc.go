package netlab

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Proc is a process started in a host namespace by Host.Start. Its output
// (stdout and stderr together) goes to LogPath. The Lab owns it and kills it
// on Close; Stop, Signal and Wait may be called from any goroutine.
type Proc struct {
	// Name identifies the process in logs: "HOST/NAME".
	Name string
	// LogPath is the file with the process's output.
	LogPath string
	// Cmd is the started command; do not call Wait on it (Proc does).
	Cmd *exec.Cmd

	done    chan struct{} // closed when the process has exited
	waitErr error         // set before done is closed
	log     *os.File
}

// Start runs argv in the host's namespace with `ip netns exec`, which also
// bind-mounts /etc/netns/NS/hosts over /etc/hosts for it. ip(8) execs argv, so
// the Proc's pid is argv's and signals reach it directly. name is a short
// label for the log file; env entries are added to the current environment.
func (h *Host) Start(name string, env []string, argv ...string) (*Proc, error) {
	l := h.lab
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, fmt.Errorf("starting %s on %s: lab closed", name, h.Name)
	}
	n := len(l.procs)
	l.mu.Unlock()

	logPath := filepath.Join(l.Dir, fmt.Sprintf("%s-%s-%d.log", h.Name, name, n))
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("creating log of %s: %w", name, err)
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", h.NS}, argv...)...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	// Own process group, so that a terminal's ^C does not reach it first and
	// the test decides when it stops.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &Proc{Name: h.Name + "/" + name, LogPath: logPath, Cmd: cmd, done: make(chan struct{}), log: f}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		f.Close()
		return nil, fmt.Errorf("starting %s on %s: lab closed", name, h.Name)
	}
	if err := cmd.Start(); err != nil {
		l.mu.Unlock()
		f.Close()
		return nil, fmt.Errorf("starting %s on %s: %w", name, h.Name, err)
	}
	l.procs = append(l.procs, p)
	l.mu.Unlock()
	go func() {
		p.waitErr = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// Run runs argv in the host's namespace and returns its standard output. The
// error includes standard error and wraps the command's error (an
// *exec.ExitError when it ran and failed).
func (h *Host) Run(argv ...string) ([]byte, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", h.NS}, argv...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("running %s on %s: %w: %s", strings.Join(argv, " "), h.Name, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

// Pid returns the process id.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Signal sends sig to the process. Signalling an exited process is a no-op.
func (p *Proc) Signal(sig os.Signal) error {
	if p.Exited() {
		return nil
	}
	if err := p.Cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signalling %s: %w", p.Name, err)
	}
	return nil
}

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Done returns a channel closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Wait waits up to timeout for the process to exit and returns its exit error
// (nil for exit status 0).
func (p *Proc) Wait(timeout time.Duration) error {
	if p.Exited() { // a select would pick at random when both are ready
		return p.waitErr
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return p.waitErr
	case <-t.C:
		return fmt.Errorf("waiting for %s: still running after %v", p.Name, timeout)
	}
}

// Stop sends SIGTERM, waits up to timeout, then sends SIGKILL. It returns the
// exit error of a process that stopped on SIGTERM in time, or an error saying
// it had to be killed.
func (p *Proc) Stop(timeout time.Duration) error {
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	if err := p.Wait(timeout); err == nil || p.Exited() {
		return err
	}
	p.kill()
	p.waitQuiet()
	return fmt.Errorf("stopping %s: killed after %v without exit on SIGTERM", p.Name, timeout)
}

func (p *Proc) kill() {
	if !p.Exited() {
		_ = p.Cmd.Process.Signal(syscall.SIGKILL)
	}
}

func (p *Proc) waitQuiet() {
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

// Output returns the process's output so far.
func (p *Proc) Output() string {
	b, _ := os.ReadFile(p.LogPath)
	return string(b)
}

// Tail returns the last n lines of the process's output.
func (p *Proc) Tail(n int) string {
	lines := strings.Split(strings.TrimRight(p.Output(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func syscallKill(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }

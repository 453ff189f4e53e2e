package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a long-running process the bench started (servers, proxies). The
// bench owns it and stops it with stop, or with procSet.stopAll at exit.
type proc struct {
	name   string
	cmd    *exec.Cmd
	done   chan struct{}
	err    error // set before done is closed
	stderr *bytes.Buffer
}

// procSet tracks every long-running process so that exit paths can stop them.
type procSet struct {
	mu    sync.Mutex
	procs map[*proc]struct{}
}

func (s *procSet) start(name string, cmd *exec.Cmd) (*proc, error) {
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), stderr: new(bytes.Buffer)}
	if cmd.Stderr == nil {
		cmd.Stderr = &limitedWriter{buf: p.stderr, max: 64 << 10}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	s.mu.Lock()
	if s.procs == nil {
		s.procs = make(map[*proc]struct{})
	}
	s.procs[p] = struct{}{}
	s.mu.Unlock()
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// stop sends SIGTERM to the process group, waits up to grace, then SIGKILLs.
func (s *procSet) stop(p *proc, grace time.Duration) {
	select {
	case <-p.done:
	default:
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
			syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	}
	s.mu.Lock()
	delete(s.procs, p)
	s.mu.Unlock()
}

func (s *procSet) stopAll() {
	s.mu.Lock()
	ps := make([]*proc, 0, len(s.procs))
	for p := range s.procs {
		ps = append(ps, p)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func() { defer wg.Done(); s.stop(p, 5*time.Second) }()
	}
	wg.Wait()
}

// alive reports an error if p has exited.
func (p *proc) alive() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited: %v: %s", p.name, p.err, strings.TrimSpace(p.stderr.String()))
	default:
		return nil
	}
}

type limitedWriter struct {
	mu  sync.Mutex
	buf *bytes.Buffer
	max int
}

func (w *limitedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if room := w.max - w.buf.Len(); room > 0 {
		w.buf.Write(b[:min(len(b), room)])
	}
	return len(b), nil
}

// procStats is what /proc says about one process.
type procStats struct {
	RSSKiB int64 // VmRSS
	FDs    int   // entries of /proc/PID/fd
}

func readProcStats(pid int) (procStats, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procStats{}, fmt.Errorf("reading status of %d: %w", pid, err)
	}
	defer f.Close()
	var st procStats
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			fields := strings.Fields(v)
			if len(fields) >= 1 {
				st.RSSKiB, _ = strconv.ParseInt(fields[0], 10, 64)
			}
		}
	}
	if st.RSSKiB == 0 {
		return procStats{}, fmt.Errorf("reading VmRSS of %d: not found", pid)
	}
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return procStats{}, fmt.Errorf("listing fds of %d: %w", pid, err)
	}
	st.FDs = len(ents)
	return st, nil
}

// runOutput runs cmd to completion (bounded by ctx) and returns its stdout.
func runOutput(ctx context.Context, cmd *exec.Cmd) ([]byte, error) {
	var out, errb bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &limitedWriter{buf: &errb, max: 64 << 10}
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("running %s: %w: %s", strings.Join(cmd.Args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}

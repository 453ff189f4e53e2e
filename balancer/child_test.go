package balancer

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Tests that need a process of their own (a lowered open-files limit, the
// CPU time of the proxy alone) re-execute the test binary as a child that
// runs one child test. A child test is an ordinary test function that
// skips unless childEnv names it; it talks to its parent in lines starting
// with childPrefix on stdout and reads commands, one a line, on stdin.

const (
	childEnv    = "RMQLB_BALANCER_CHILD"
	childPrefix = "CHILD "
)

// isChild reports whether this process is the child that runs test name.
func isChild(name string) bool { return os.Getenv(childEnv) == name }

// childSay sends one line to the parent.
func childSay(format string, args ...any) {
	fmt.Printf(childPrefix+format+"\n", args...)
}

// child is a running child test process.
type child struct {
	t     *testing.T
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string // the child's lines after childPrefix; closed at its EOF
	log   strings.Builder
	done  chan struct{} // closed when stdout is drained
}

// startChild runs the child test name in a re-executed test binary, with
// env (KEY=value) added to its environment, and kills it on cleanup.
func startChild(t *testing.T, name string, env ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.count=1", "-test.v")
	cmd.Env = append(append(os.Environ(), childEnv+"="+name), env...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting child test %s: %v", name, err)
	}
	c := &child{t: t, cmd: cmd, in: in, lines: make(chan string, 64), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer close(c.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			c.log.WriteString(line + "\n")
			if rest, ok := strings.CutPrefix(line, childPrefix); ok {
				c.lines <- rest
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-c.done
		cmd.Wait()
		if t.Failed() {
			t.Logf("child output:\n%s", c.log.String())
		}
	})
	return c
}

// expect waits for the child's next line, which must start with word, and
// returns the rest of it.
func (c *child) expect(word string) string {
	c.t.Helper()
	select {
	case line, ok := <-c.lines:
		if !ok {
			c.t.Fatalf("child exited before saying %q; its output:\n%s", word, c.output())
		}
		rest, found := strings.CutPrefix(line, word)
		if !found {
			c.t.Fatalf("child said %q, want %q", line, word)
		}
		return strings.TrimSpace(rest)
	case <-time.After(30 * time.Second):
		c.t.Fatalf("child did not say %q within 30 s", word)
		return ""
	}
}

// send writes one command line to the child.
func (c *child) send(cmd string) {
	c.t.Helper()
	if _, err := io.WriteString(c.in, cmd+"\n"); err != nil {
		c.t.Fatalf("sending %q to the child: %v", cmd, err)
	}
}

// finish closes the child's stdin and fails the test unless the child
// test passes.
func (c *child) finish() {
	c.t.Helper()
	c.in.Close()
	<-c.done
	if err := c.cmd.Wait(); err != nil {
		c.t.Fatalf("child test failed (%v); its output:\n%s", err, c.output())
	}
	c.t.Logf("child output:\n%s", c.output())
}

// output returns what the child printed so far (stdout is drained).
func (c *child) output() string {
	select {
	case <-c.done:
		return c.log.String()
	case <-time.After(5 * time.Second):
		return "(child output still open)"
	}
}

// cpuTime returns the CPU time (user + system, all threads) the child has
// used so far, from /proc/PID/stat (in clock ticks of 10 ms).
func (c *child) cpuTime() time.Duration {
	c.t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
	if err != nil {
		c.t.Fatal(err)
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		c.t.Fatalf("parsing /proc/PID/stat: %q", b)
	}
	const tick = 10 * time.Millisecond // USER_HZ is 100 on Linux
	return time.Duration(utime+stime) * tick
}

// fdFiller holds the fds exhaustFds opened.
type fdFiller struct {
	old     unix.Rlimit
	fillers []int
}

// exhaustFds lowers this process's soft open-files limit to just above the
// highest fd open now and opens /dev/null until no fd is left, so that the
// next socket, accept4 or pipe2 fails with EMFILE. For child tests only:
// the limit is the whole process's.
func exhaustFds(t *testing.T) *fdFiller {
	t.Helper()
	f := &fdFiller{}
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &f.old); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	highest := 0
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			highest = max(highest, n)
		}
	}
	lim := f.old
	lim.Cur = uint64(highest + 16)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	for {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == unix.EMFILE {
			break
		}
		if err != nil {
			t.Fatalf("filling the fd table: %v", err)
		}
		f.fillers = append(f.fillers, fd)
	}
	return f
}

// freeOne closes one filler: one fd is free.
func (f *fdFiller) freeOne() {
	if n := len(f.fillers); n > 0 {
		unix.Close(f.fillers[n-1])
		f.fillers = f.fillers[:n-1]
	}
}

// restore closes the fillers and restores the limit; it may be called
// more than once.
func (f *fdFiller) restore() {
	for _, fd := range f.fillers {
		unix.Close(fd)
	}
	f.fillers = nil
	unix.Setrlimit(unix.RLIMIT_NOFILE, &f.old)
}

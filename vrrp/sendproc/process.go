package sendproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/rmqlb/rmqlb/internal/clock"
	"github.com/rmqlb/rmqlb/internal/rawio"
	"github.com/rmqlb/rmqlb/vrrp/sendwire"
)

// ProcessConfig configures a Process.
type ProcessConfig struct {
	// Command returns a new command that runs Serve (the daemon's binary
	// with its hidden sender subcommand). Process gives it the socket pair
	// of requests as ExtraFiles[0] and that of liveness messages as
	// ExtraFiles[1], descriptors 3 and 4 in the process (Serve's ctrl and
	// alive). Required.
	Command func() *exec.Cmd
	// Logger gets a line when the process starts, dies or is killed. Nil:
	// zap.NewNop().
	Logger *zap.Logger
	// Registerer receives rmqlb_vrrp_sender_restarts_total. Nil: none.
	Registerer prometheus.Registerer
	// AckTimeout bounds the wait for the process to acknowledge an
	// update or a stop; a process that does not is killed (and
	// restarted). Zero means DefaultAckTimeout.
	AckTimeout time.Duration
	// Clock times the restarts and the wait for a new process's Ready.
	// Nil: the real clock.
	Clock clock.Clock
	// RestartDelay is the wait before the process is started again after
	// it died; doubled (up to 30 s) each time it dies within 10 s of its
	// start. Zero means DefaultRestartDelay.
	RestartDelay time.Duration
}

// Defaults of ProcessConfig.
const (
	DefaultAckTimeout = 250 * time.Millisecond
	// killWait bounds the wait for a killed process to end.
	killWait            = 2 * time.Second
	DefaultRestartDelay = time.Second
	// readyTimeout bounds the wait for a new process's Ready message.
	readyTimeout = 5 * time.Second
	// stableRun: a process that ran this long is restarted after
	// RestartDelay; one that failed sooner, after twice the last delay,
	// up to maxRestartDelay.
	stableRun       = 10 * time.Second
	maxRestartDelay = 30 * time.Second
)

// Process runs the sender process for the daemon and restarts it when it
// dies. Run owns the process and the goroutines; Sender, Restarts and
// State are safe from any goroutine, before, during and after Run.
type Process struct {
	cfg      ProcessConfig
	log      *zap.Logger
	restartC prometheus.Counter

	mu       sync.Mutex // guards the fields below
	cur      *child     // the running process; nil: none
	senders  []*Sender
	restarts int
	sched    string // how the running process is scheduled (its Ready)
	lastErr  string // why the last process ended
	gen      uint64 // of the last process started
}

// child is one sender process.
type child struct {
	gen    uint64
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process was reaped

	mu     sync.RWMutex // writes hold it for reading; closing for writing
	fd     int          // the daemon's end of the socket pair of requests
	alive  int          // the daemon's end of the socket pair of liveness messages
	closed bool
}

// NewProcess returns a Process; nothing runs until Run.
func NewProcess(cfg ProcessConfig) (*Process, error) {
	if cfg.Command == nil {
		return nil, errors.New("creating the VRRP advert sender: no command")
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = DefaultAckTimeout
	}
	if cfg.RestartDelay <= 0 {
		cfg.RestartDelay = DefaultRestartDelay
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	p := &Process{cfg: cfg, log: cfg.Logger}
	if p.log == nil {
		p.log = zap.NewNop()
	}
	if cfg.Registerer != nil {
		p.restartC = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "rmqlb", Subsystem: "vrrp", Name: "sender_restarts_total",
			Help: "Times the VRRP advert sender process died and was started again."})
		if err := cfg.Registerer.Register(p.restartC); err != nil {
			return nil, fmt.Errorf("registering the VRRP advert sender's metrics: %w", err)
		}
	}
	return p, nil
}

// Restarts returns how many times the process died and was started
// again.
func (p *Process) Restarts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.restarts
}

// Running reports whether a sender process runs and is ready, and pid
// is its process ID.
func (p *Process) Running() (pid int, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil {
		return 0, false
	}
	return p.cur.cmd.Process.Pid, true
}

// Run runs the sender process until ctx is done, starting it again
// (after RestartDelay) whenever it dies. It returns nil when ctx is done,
// once the process has exited.
func (p *Process) Run(ctx context.Context) error {
	delay := p.cfg.RestartDelay
	for {
		started := p.cfg.Clock.Now()
		err := p.runOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		// A process that keeps failing at once (a program that cannot
		// run) is started less and less often, up to maxRestartDelay.
		if p.cfg.Clock.Now().Sub(started) < stableRun {
			delay = min(2*delay, maxRestartDelay)
		} else {
			delay = p.cfg.RestartDelay
		}
		p.mu.Lock()
		p.restarts++
		p.lastErr = err.Error()
		n := p.restarts
		p.mu.Unlock()
		if p.restartC != nil {
			p.restartC.Inc()
		}
		p.log.Error("VRRP advert sender process ended; the instances send their adverts themselves until it runs again",
			zap.Error(err), zap.Int("restarts", n), zap.Duration("restart_in", delay))
		t := p.cfg.Clock.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C():
		}
	}
}

// runOnce runs one process until it ends (its error) or ctx is done.
func (p *Process) runOnce(ctx context.Context) error {
	fds, live, err := socketPairs()
	if err != nil {
		return fmt.Errorf("starting the VRRP advert sender: %w", err)
	}
	theirs := []*os.File{os.NewFile(uintptr(fds[1]), "vrrp-sender"), os.NewFile(uintptr(live[1]), "vrrp-sender-alive")}
	rd, err := pollReader(fds[0])
	if err != nil {
		for _, f := range theirs {
			f.Close()
		}
		unix.Close(fds[0])
		unix.Close(live[0])
		return fmt.Errorf("starting the VRRP advert sender: %w", err)
	}
	cmd := p.cfg.Command()
	cmd.ExtraFiles = theirs
	err = cmd.Start()
	for _, f := range theirs {
		f.Close()
	}
	if err != nil {
		rd.Close()
		unix.Close(fds[0])
		unix.Close(live[0])
		return fmt.Errorf("starting the VRRP advert sender: %w", err)
	}
	p.mu.Lock()
	p.gen++
	c := &child{gen: p.gen, cmd: cmd, fd: fds[0], alive: live[0], exited: make(chan struct{})}
	p.mu.Unlock()
	ready := make(chan string, 1)
	readDone := make(chan error, 1)
	go func() {
		err := p.read(rd, c, ready)
		rd.Close()
		readDone <- err
	}()
	waitDone := make(chan error, 1)
	go func() {
		<-readDone
		err := cmd.Wait()
		close(c.exited)
		waitDone <- err
	}()
	var ended error
	t := p.cfg.Clock.NewTimer(readyTimeout)
	select {
	case sched := <-ready:
		t.Stop()
		p.log.Info("VRRP advert sender process runs", zap.Int("pid", cmd.Process.Pid), zap.String("scheduling", sched))
		p.mu.Lock()
		p.cur, p.sched = c, sched
		senders := append([]*Sender(nil), p.senders...)
		p.mu.Unlock()
		for _, s := range senders {
			s.restart(c)
		}
		select {
		case <-ctx.Done():
		case ended = <-waitDone:
		}
	case <-ctx.Done():
		t.Stop()
	case ended = <-waitDone:
		t.Stop()
	case <-t.C():
		ended = errors.New("did not report ready in time: killed")
	}
	p.mu.Lock()
	if p.cur == c {
		p.cur = nil
	}
	senders := append([]*Sender(nil), p.senders...)
	p.mu.Unlock()
	for _, s := range senders {
		s.lost(c)
	}
	if ended == nil && ctx.Err() != nil {
		// Closing our end makes the process exit.
		_ = unix.Shutdown(c.fd, unix.SHUT_RDWR)
		t := time.NewTimer(2 * time.Second)
		select {
		case <-c.exited:
		case <-t.C:
			p.kill(c)
		}
		t.Stop()
	} else {
		p.kill(c)
	}
	c.mu.Lock()
	c.closed = true
	unix.Close(c.fd)
	unix.Close(c.alive)
	c.mu.Unlock()
	if ended == nil {
		ended = errors.New("exited")
	}
	return fmt.Errorf("VRRP advert sender process %d: %w", cmd.Process.Pid, ended)
}

// signalKill sends c SIGKILL and shuts its socket pair down, without
// waiting for it to end.
func (p *Process) signalKill(c *child) {
	select {
	case <-c.exited:
		return
	default:
	}
	_ = c.cmd.Process.Kill()
	_ = unix.Shutdown(c.fd, unix.SHUT_RDWR)
}

// kill kills c and waits until it was reaped, at most killWait.
func (p *Process) kill(c *child) {
	p.signalKill(c)
	// Bounded: kill runs on an instance's event loop, which must go on
	// (sending its adverts itself) even if the process cannot be reaped
	// at once (stuck in the kernel); it sends nothing meanwhile.
	t := time.NewTimer(killWait)
	defer t.Stop()
	select {
	case <-c.exited:
	case <-t.C:
		p.log.Warn("the killed VRRP advert sender process has not ended yet; going on without it", zap.Int("pid", c.cmd.Process.Pid))
	}
}

// pollReader returns a reader of the socket fd (of a socket pair) that
// waits in the runtime's poller, on a descriptor of its own: the caller
// closes it, and fd stays the caller's. It puts the socket in
// non-blocking mode, which the writes on fd (MSG_DONTWAIT) do not mind.
// Should the poller not take the descriptor (epoll_ctl failed), the
// socket goes back to blocking mode and the reader reads it blocking, as
// a plain read(2) would.
//
// A goroutine blocked in read(2) holds its thread, and its processor of
// the Go runtime, in a system call; while it does, the runtime's monitor
// thread cannot sleep long and polls, every 20 us at first and then at
// doubling steps, until it takes that processor away after 10 ms: dozens
// of wake-ups each time the read returns and blocks again, which a
// master's process makes happen every second with its report. A
// goroutine waiting in the poller holds no thread, and its reads, which
// never block then, are raw system calls (see package rawio).
func pollReader(fd int) (*msgReader, error) {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("duplicating the socket of the VRRP advert sender: %w", err)
	}
	if err := unix.SetNonblock(dup, true); err != nil {
		unix.Close(dup)
		return nil, fmt.Errorf("setting the socket of the VRRP advert sender non-blocking: %w", err)
	}
	r := &msgReader{f: os.NewFile(uintptr(dup), "vrrp-sender"), polled: true}
	if r.f.SetReadDeadline(time.Time{}) != nil { // not in the poller
		r.polled = false
		if err := unix.SetNonblock(dup, false); err != nil {
			r.f.Close()
			return nil, fmt.Errorf("setting the socket of the VRRP advert sender blocking: %w", err)
		}
	}
	if r.polled {
		if r.rc, err = r.f.SyscallConn(); err != nil {
			r.f.Close()
			return nil, fmt.Errorf("reading the socket of the VRRP advert sender: %w", err)
		}
	}
	return r, nil
}

// msgReader reads the sender process's messages (pollReader). Its Read
// is for one goroutine; Close may be called from any.
type msgReader struct {
	f      *os.File
	rc     syscall.RawConn // f's, when polled
	polled bool            // f waits in the poller and does not block
	// Read's state, for readFn (a method value made once: Read allocates
	// nothing).
	buf    []byte
	n      int
	err    error
	readFn func(fd uintptr) bool
}

// Read reads one message into b; io.EOF once the socket was shut down or
// the process ended.
func (r *msgReader) Read(b []byte) (int, error) {
	if !r.polled {
		return r.f.Read(b)
	}
	if r.readFn == nil {
		r.readFn = r.read
	}
	r.buf, r.n, r.err = b, 0, nil
	err := r.rc.Read(r.readFn)
	r.buf = nil
	switch {
	case err != nil:
		return 0, err
	case r.err != nil:
		return 0, r.err
	case r.n == 0:
		return 0, io.EOF
	}
	return r.n, nil
}

// read is Read's read(2); false asks to wait until the socket is
// readable.
func (r *msgReader) read(fd uintptr) bool {
	r.n, r.err = rawio.Read(int(fd), r.buf)
	return r.err != unix.EAGAIN
}

// Close closes the reader's descriptor.
func (r *msgReader) Close() error { return r.f.Close() }

// read reads c's messages from rd (c's socket, through the poller) until
// the socket closes: the first, Ready, goes to ready; the others to the
// senders.
func (p *Process) read(rd io.Reader, c *child, ready chan<- string) error {
	buf := make([]byte, 4096)
	var m sendwire.Message
	first := true
	for {
		n, err := rd.Read(buf)
		if err == io.EOF { // a read of 0: the socket was shut down, or the process ended
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading from the VRRP advert sender: %w", err)
		}
		if err := sendwire.Decode(buf[:n], &m); err != nil {
			p.log.Warn("bad message from the VRRP advert sender; ignored", zap.Error(err))
			continue
		}
		if first {
			first = false
			if m.Type == sendwire.TypeReady {
				ready <- m.Text
				continue
			}
		}
		if s := p.sender(m.Instance); s != nil {
			s.handle(c, &m)
		}
	}
}

func (p *Process) sender(id uint16) *Sender {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.senders {
		if s.id == id {
			return s
		}
	}
	return nil
}

// current returns the running process, or nil.
func (p *Process) current() *child {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur
}

// unread reports whether messages of c wait on the daemon's end of the
// socket pair, not read yet.
func (c *child) unread() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return false
	}
	n, err := unix.IoctlGetInt(c.fd, unix.SIOCINQ)
	return err == nil && n > 0
}

// write sends b (and, when fd >= 0, the descriptor fd) to c.
func (c *child) write(b []byte, fd int) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return errors.New("the sender process ended")
	}
	var oob []byte
	if fd >= 0 {
		oob = unix.UnixRights(fd)
	}
	for {
		_, err := unix.SendmsgN(c.fd, b, oob, nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
		if err != unix.EINTR {
			return err
		}
	}
}

// socketPairs makes the two socket pairs between the daemon and the
// sender process (element 0 the daemon's end, 1 the process's): requests
// and liveness messages. On error none is left open.
func socketPairs() (ctrl, alive [2]int, err error) {
	if ctrl, err = unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0); err != nil {
		return ctrl, alive, fmt.Errorf("socket pair: %w", err)
	}
	if alive, err = unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0); err != nil {
		unix.Close(ctrl[0])
		unix.Close(ctrl[1])
		return ctrl, alive, fmt.Errorf("socket pair: %w", err)
	}
	return ctrl, alive, nil
}

// writeAlive sends the liveness message b to c, without blocking: one
// the socket pair has no room for (a process that reads none) is
// dropped. It allocates nothing.
func (c *child) writeAlive(b []byte) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return
	}
	_ = rawio.Send(c.alive, b)
}

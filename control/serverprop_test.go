package control

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

// TestServerSequences runs a real Server, on a real socket, through random
// sequences of steps, each a crowd of concurrent clients or a change of
// the server, and checks it after every step against a model written from
// the documentation (Server's and Serve's doc comments, README.md's
// control_socket key and "Commands"), not from the code:
//
//   - A well-formed request line (a Request in JSON and its newline, at
//     most MaxRequest bytes with it) is answered exactly once, with its
//     handler's result or error, in one line, and the connection is then
//     closed; the handler is called once for it, even when its client left
//     without reading. A request its client ends by closing its write side,
//     without the newline, is read to that end: answered too.
//   - A line longer than MaxRequest is answered "longer than MaxRequest
//     bytes" (or, when its client is still writing, the connection is
//     closed); a line that is not a Request in JSON, or cut short by its
//     client, and a client refused by its peer credentials, get an error
//     (or the closed connection, when they left): the handler never
//     runs for any of them. A client that closes before a byte gets
//     nothing. Nothing crashes and nothing hangs.
//   - At most MaxConns connections are served at once, over every listener
//     the Server serves (Relisten's and the one it replaces): the handlers
//     running at once and the connections being served (sampled all along)
//     never exceed it; one beyond it is answered ErrBusy, and nothing else
//     is: a crowd that fits beside the connections held gets no ErrBusy,
//     one beside MaxConns held gets nothing else, and at least as many of a
//     crowd are served as there were free slots.
//   - A connection holds its slot until it is answered, or until Timeout:
//     a client that never sends is answered (or closed) after Timeout and
//     its slot freed; one that goes away frees its slot at once, whether it
//     had sent nothing or was not reading its answer.
//   - A socket file removed is told by SocketInPlace and placed again by
//     Relisten; the requests in flight on the old listener are answered.
//   - Stopping Serve (its context) cancels the context of every handler
//     running; once the clients still connected have gone, Serve returns,
//     the socket file is gone, and no goroutine and no file descriptor of
//     the sequence is left.
//
// A sequence's Timeout is a minute (clients held stay held), or, for one
// in five, two seconds, to see a client that never sends bounded by it.
// Peers refused by their credentials are connected from a thread running
// as nobody (as root only).
//
// Each sequence's seed is logged on failure; -ctlseq.seed replays one with
// its trace, -ctlseq.runs and -ctlseq.steps run more and longer ones:
//
//	go test ./control -run TestServerSequences -ctlseq.runs=300
//	go test ./control -run TestServerSequences -ctlseq.seed=17
var (
	csSeed  = flag.Uint64("ctlseq.seed", 0, "run the control server sequence of this seed only, with its trace")
	csFirst = flag.Uint64("ctlseq.first", 1, "first seed of the control server sequences")
	csRuns  = flag.Int("ctlseq.runs", 6, "control server sequences to run")
	csSteps = flag.Int("ctlseq.steps", 12, "steps per control server sequence")
)

func TestServerSequences(t *testing.T) {
	defer goleak.VerifyNone(t)
	// The runtime's poller descriptors are made by the first socket: made
	// here, before any sequence counts descriptors.
	if ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "warm.sock")); err == nil {
		ln.Close()
	}
	if *csSeed != 0 {
		res := runCSSequence(*csSeed, *csSteps)
		t.Logf("seed %d trace:\n%s", *csSeed, strings.Join(res.trace, "\n"))
		if res.err != "" {
			t.Fatalf("seed %d: %s", *csSeed, res.err)
		}
		t.Logf("stats: %+v", res.stats)
		return
	}
	var total csStats
	for i := range *csRuns {
		seed := *csFirst + uint64(i)
		res := runCSSequence(seed, *csSteps)
		total.add(res.stats)
		if res.err != "" {
			t.Fatalf("seed %d: %s (replay with -ctlseq.seed=%d)\ntrace:\n%s", seed, res.err, seed, strings.Join(res.trace, "\n"))
		}
	}
	t.Logf("seeds %d..%d: %+v", *csFirst, *csFirst+uint64(*csRuns)-1, total)
}

// csStats counts what the sequences exercised.
type csStats struct {
	Seqs, Steps, Clients, Answered, Busy, Refused, Held, Relistens, Cancelled, TimedOut int
}

func (s *csStats) add(o csStats) {
	s.Seqs += o.Seqs
	s.Steps += o.Steps
	s.Clients += o.Clients
	s.Answered += o.Answered
	s.Busy += o.Busy
	s.Refused += o.Refused
	s.Held += o.Held
	s.Relistens += o.Relistens
	s.Cancelled += o.Cancelled
	s.TimedOut += o.TimedOut
}

type csResult struct {
	trace []string
	err   string
	stats csStats
}

// csHandler is the sequences' Handler. The command says what it does:
// "ok" answers csAnswer, "fail" an error, "big" a string of Args[1] bytes,
// "block" waits for the test to release it or for its context to end.
// Args[0] is the request's id. It counts its calls by id and the calls
// running at once.
type csHandler struct {
	mu        sync.Mutex
	calls     map[string]int
	running   int
	maxSeen   int
	blocks    map[string]*csBlock
	violation string
}

// csBlock is a "block" request's handler, as the test sees it.
type csBlock struct {
	started   chan struct{} // closed once the handler runs
	release   chan struct{} // closed by the test: the handler answers
	cancelled chan struct{} // closed by the handler when its context ended first
}

// csAnswer is the result of "ok".
type csAnswer struct {
	ID   string   `json:"id"`
	Args []string `json:"args"`
}

func (h *csHandler) block(id string) *csBlock {
	h.mu.Lock()
	defer h.mu.Unlock()
	b := h.blocks[id]
	if b == nil {
		b = &csBlock{started: make(chan struct{}), release: make(chan struct{}), cancelled: make(chan struct{})}
		h.blocks[id] = b
	}
	return b
}

func (h *csHandler) count(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls[id]
}

func (h *csHandler) handle(max int) Handler {
	return func(ctx context.Context, req Request) (any, error) {
		if len(req.Args) == 0 {
			return nil, errors.New("no id")
		}
		id := req.Args[0]
		h.mu.Lock()
		h.calls[id]++
		h.running++
		if h.running > h.maxSeen {
			h.maxSeen = h.running
		}
		if h.running > max && h.violation == "" {
			h.violation = fmt.Sprintf("%d handlers ran at once, MaxConns %d", h.running, max)
		}
		h.mu.Unlock()
		defer func() {
			h.mu.Lock()
			h.running--
			h.mu.Unlock()
		}()
		switch req.Command {
		case "ok":
			return csAnswer{ID: id, Args: req.Args[1:]}, nil
		case "fail":
			return nil, errors.New("failed " + id)
		case "big":
			var n int
			fmt.Sscan(req.Args[1], &n)
			return strings.Repeat("b", n), nil
		case "block":
			b := h.block(id)
			close(b.started)
			select {
			case <-b.release:
				return "released " + id, nil
			case <-ctx.Done():
				close(b.cancelled)
				return nil, ctx.Err()
			}
		}
		return nil, fmt.Errorf("unknown command %q", req.Command)
	}
}

// csKind is what a client of a crowd does.
type csKind int

const (
	ckOK          csKind = iota // a request, its answer read
	ckFail                      // a request its handler fails
	ckBig                       // a request with a result larger than the socket's buffers
	ckPadded                    // a request padded to exactly MaxRequest bytes with its newline
	ckNoNewline                 // a request without its newline, then the write side closed
	ckMalformed                 // a line that is not a Request
	ckOversize                  // a line one byte or much longer than MaxRequest
	ckCut                       // part of a request, then closed without reading
	ckSendClose                 // a request, then closed without reading
	ckSilentClose               // connects and closes
	ckRefusedPeer               // a request from a peer running as nobody
	ckCount
)

var ckNames = [ckCount]string{"ok", "fail", "big", "padded", "no-newline", "malformed", "oversize", "cut", "send-close", "silent-close", "refused-peer"}

// csHeld is a client that holds a slot until the test releases it.
type csHeld struct {
	kind string // "stuck" (never sends), "block" (its handler waits), "unread" (never reads its big answer)
	id   string
	c    *net.UnixConn
	on   int // the Serve (index in csSeq.serves) it is served by
}

// csServe is one Serve running.
type csServe struct {
	cancel context.CancelFunc
	done   chan error
}

type csSeq struct {
	rng     *rand.Rand
	seed    uint64
	trace   []string
	stats   csStats
	dir     string
	path    string
	srv     *Server
	h       *csHandler
	ln      net.Listener
	serves  []csServe
	held    []csHeld
	next    int
	short   bool
	nobody  bool
	maxConn int
	maxReq  int
}

func (q *csSeq) logf(format string, args ...any) {
	q.trace = append(q.trace, fmt.Sprintf(format, args...))
}

func (q *csSeq) id() string {
	q.next++
	return fmt.Sprintf("s%d-%d", q.seed, q.next)
}

func runCSSequence(seed uint64, steps int) (res csResult) {
	q := &csSeq{rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), seed: seed}
	defer func() { res.trace, res.stats = q.trace, q.stats }()
	// No collection during the sequence: a connection left open must
	// not be closed by a finalizer, unseen. The limit collects anyway
	// should the heap grow too large.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(1 << 30))
	fdsBefore := fdTable()
	dir, err := os.MkdirTemp("", "ctlseq-")
	if err != nil {
		return csResult{err: err.Error()}
	}
	defer os.RemoveAll(dir)
	q.dir = dir
	q.path = filepath.Join(dir, "run", "rmqlb.sock")
	q.nobody = os.Geteuid() == 0
	if q.nobody {
		os.Chmod(dir, 0o755)
	}
	q.maxConn = 1 + q.rng.IntN(4)
	q.maxReq = 128 + q.rng.IntN(2048)
	q.short = q.rng.IntN(5) == 0
	timeout := time.Minute
	if q.short {
		timeout = 2 * time.Second
	}
	q.h = &csHandler{calls: map[string]int{}, blocks: map[string]*csBlock{}}
	q.srv = &Server{Path: q.path, Handler: q.h.handle(q.maxConn), MaxConns: q.maxConn, MaxRequest: q.maxReq, Timeout: timeout}
	q.logf("seed %d: MaxConns %d, MaxRequest %d, Timeout %v", seed, q.maxConn, q.maxReq, timeout)
	q.stats.Seqs = 1

	ln, err := q.srv.Listen()
	if err != nil {
		return csResult{err: "Listen: " + err.Error()}
	}
	q.ln = ln
	q.openUp()
	q.serve(ln)

	// The connections being served, sampled all along.
	mon := make(chan struct{})
	monDone := make(chan string, 1)
	go func(mon <-chan struct{}) {
		worst := 0
		for {
			if n := countServing(); n > worst {
				worst = n
			}
			select {
			case <-mon:
				monDone <- fmt.Sprint(worst)
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}(mon)
	var failure string
	monStopped := false
	stopMon := func() {
		if monStopped {
			return
		}
		monStopped = true
		close(mon)
		var worst int
		fmt.Sscan(<-monDone, &worst)
		if worst > q.maxConn && failure == "" {
			failure = fmt.Sprintf("%d connections were served at once, MaxConns %d", worst, q.maxConn)
		}
	}
	defer func() {
		stopMon()
		// Whatever happened, nothing of the sequence is left running.
		for _, hc := range q.held {
			hc.c.Close()
		}
		q.h.mu.Lock()
		for _, b := range q.h.blocks {
			select {
			case <-b.release:
			default:
				close(b.release)
			}
		}
		q.h.mu.Unlock()
		for _, s := range q.serves {
			s.cancel()
			select {
			case <-s.done:
			case <-time.After(20 * time.Second):
				if res.err == "" {
					res.err = "Serve did not return"
				}
			}
		}
		if res.err == "" {
			res.err = failure
		}
	}()

	stoodOut := false // a short sequence's client that never sends, seen timed out
	for step := range steps {
		q.stats.Steps++
		var err error
		switch r := q.rng.IntN(20); {
		case q.short && !stoodOut && r < 3:
			stoodOut = true
			err = q.stepNeverSends()
		case !q.short && r < 5:
			err = q.stepHold()
		case !q.short && r < 8 && len(q.held) > 0:
			err = q.stepRelease(q.rng.IntN(len(q.held)))
		case r < 10:
			err = q.stepRelisten()
		default:
			err = q.stepCrowd()
		}
		if err == nil {
			err = q.quiesce()
		}
		if err == nil {
			err = q.checkHandler()
		}
		if err != nil {
			return csResult{err: fmt.Sprintf("step %d: %v", step, err)}
		}
	}
	if err := q.stepShutdown(); err != nil {
		return csResult{err: "shutdown: " + err.Error()}
	}
	stopMon()
	if failure != "" {
		return csResult{err: failure}
	}
	if err := q.checkHandler(); err != nil {
		return csResult{err: err.Error()}
	}
	if _, err := os.Lstat(q.path); !errors.Is(err, os.ErrNotExist) {
		return csResult{err: fmt.Sprintf("socket file left after Serve returned: %v", err)}
	}
	// Every connection and listener was closed when Serve returned, and
	// the test's own ones are: no descriptor is left, without waiting.
	// Should one be, the failure names it, and says whether it closed
	// later (a close that Serve did not wait for) or not (a leak).
	if after := fdTable(); len(after) != len(fdsBefore) {
		var extra []string
		for fd, what := range after {
			if fdsBefore[fd] != what {
				extra = append(extra, fd+" "+what+" "+unixLine(what))
			}
		}
		start := time.Now()
		werr := waitFor(func() bool { return len(fdTable()) == len(fdsBefore) })
		return csResult{err: fmt.Sprintf("%d file descriptors before the sequence, %d after; new %q; gone after %v: %v", len(fdsBefore), len(after), extra, time.Since(start), werr)}
	}
	return csResult{}
}

// openUp lets nobody connect to the socket, so that only the peer
// credentials refuse it.
func (q *csSeq) openUp() {
	if q.nobody {
		os.Chmod(filepath.Dir(q.path), 0o755)
		os.Chmod(q.path, 0o666)
	}
}

func (q *csSeq) serve(ln net.Listener) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.srv.Serve(ctx, ln) }()
	q.serves = append(q.serves, csServe{cancel: cancel, done: done})
}

func (q *csSeq) checkHandler() error {
	q.h.mu.Lock()
	defer q.h.mu.Unlock()
	if q.h.violation != "" {
		return errors.New(q.h.violation)
	}
	return nil
}

// quiesce waits until the server has accepted every connection made so
// far and serves the held ones only. A client that closes at once cannot
// tell whether it was accepted: a connection made after it, answered
// (ErrBusy or not), tells, since the listener's queue is first in, first
// out.
func (q *csSeq) quiesce() error {
	c, err := q.dial(false)
	if err != nil {
		return fmt.Errorf("connecting the sentinel: %v", err)
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	// Refused at once (ErrBusy), it may be closed before it wrote, or
	// read: any end but the deadline's is an answer.
	_, _ = c.Write(append(request("ok", "sentinel"), '\n'))
	_, err = bufio.NewReader(c).ReadBytes('\n')
	c.Close()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("the sentinel was not answered: %v", err)
	}
	if err := waitFor(func() bool { return countServeGoroutines() == len(q.held) }); err != nil {
		return fmt.Errorf("the server still has %d connection goroutines, %d clients hold one", countServeGoroutines(), len(q.held))
	}
	return nil
}

// waitFor polls cond until it holds, or fails after 20 s: a hang.
func waitFor(cond func() bool) error {
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

// countServeGoroutines counts the server's connection goroutines.
func countServeGoroutines() int {
	return countStacks("created by github.com/rmqlb/rmqlb/control.(*Server).Serve in goroutine")
}

// countServing counts the connections being served: goroutines in
// serveConn, each of which holds a slot.
func countServing() int {
	return countStacks("control.(*Server).serveConn(")
}

var stacks struct {
	sync.Mutex
	buf []byte
}

func countStacks(s string) int {
	stacks.Lock()
	defer stacks.Unlock()
	if stacks.buf == nil {
		stacks.buf = make([]byte, 1<<20)
	}
	var buf []byte
	for {
		n := runtime.Stack(stacks.buf, true)
		if n < len(stacks.buf) {
			buf = stacks.buf[:n]
			break
		}
		stacks.buf = make([]byte, 2*len(stacks.buf))
	}
	count := 0
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte(s)) {
			count++
		}
	}
	return count
}

// unixLine returns the line of /proc/net/unix of the socket what (a link
// target of /proc/self/fd, "socket:[inode]"): its flags, state and path
// tell a listener from a connection, and whose it is.
func unixLine(what string) string {
	ino, ok := strings.CutPrefix(what, "socket:[")
	if !ok {
		return ""
	}
	ino = strings.TrimSuffix(ino, "]")
	b, _ := os.ReadFile("/proc/net/unix")
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 7 && f[6] == ino {
			return l
		}
	}
	return "(not in /proc/net/unix)"
}

// fdTable returns the process's open file descriptors and what each
// refers to.
func fdTable() map[string]string {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil
	}
	fds := make(map[string]string, len(ents))
	for _, e := range ents {
		fds[e.Name()], _ = os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
	}
	return fds
}

// dial connects to the socket as the test's user, or as nobody.
func (q *csSeq) dial(asNobody bool) (*net.UnixConn, error) {
	if !asNobody {
		c, err := net.Dial("unix", q.path)
		if err != nil {
			return nil, err
		}
		return c.(*net.UnixConn), nil
	}
	type dialed struct {
		c   *net.UnixConn
		err error
	}
	ch := make(chan dialed, 1)
	go func() {
		// Only this thread runs as nobody (its effective uid, which
		// SO_PEERCRED reports), and only for the connect; a thread that
		// could not come back stays locked and ends with the goroutine.
		runtime.LockOSThread()
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- dialed{err: err}
			return
		}
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, ^uintptr(0), 65534, ^uintptr(0)); e != 0 {
			unix.Close(fd)
			runtime.UnlockOSThread()
			ch <- dialed{err: e}
			return
		}
		cerr := unix.Connect(fd, &unix.SockaddrUnix{Name: q.path})
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, ^uintptr(0), 0, ^uintptr(0)); e != 0 {
			unix.Close(fd)
			ch <- dialed{err: e}
			return
		}
		runtime.UnlockOSThread()
		if cerr != nil {
			unix.Close(fd)
			ch <- dialed{err: cerr}
			return
		}
		f := os.NewFile(uintptr(fd), "nobody")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			ch <- dialed{err: err}
			return
		}
		ch <- dialed{c: c.(*net.UnixConn)}
	}()
	d := <-ch
	return d.c, d.err
}

// csClient is one client of a crowd and what it saw.
type csClient struct {
	kind  csKind
	id    string
	line  []byte // what it sends
	noEOL bool
	// outcome
	answer  *Response
	lines   int
	readErr error
	dialErr error
}

func request(cmd, id string, args ...string) []byte {
	b, _ := json.Marshal(Request{Command: cmd, Args: append([]string{id}, args...)})
	return b
}

// makeClient draws a client of the crowd.
func (q *csSeq) makeClient() *csClient {
	k := csKind(q.rng.IntN(int(ckCount)))
	if k == ckRefusedPeer && !q.nobody {
		k = ckOK
	}
	cl := &csClient{kind: k, id: q.id()}
	switch k {
	case ckOK, ckSendClose, ckRefusedPeer:
		cl.line = append(request("ok", cl.id, strings.Repeat("a", q.rng.IntN(40))), '\n')
	case ckFail:
		cl.line = append(request("fail", cl.id), '\n')
	case ckBig:
		cl.line = append(request("big", cl.id, fmt.Sprint(300<<10+q.rng.IntN(600<<10))), '\n')
	case ckPadded:
		b := request("ok", cl.id)
		pad := q.maxReq - len(b) - 1
		if pad < 0 {
			pad = 0
		}
		cl.line = append(append(bytes.Repeat([]byte(" "), pad), b...), '\n')
	case ckNoNewline:
		cl.line, cl.noEOL = request("ok", cl.id), true
	case ckMalformed:
		bad := []string{`{"command":`, `nope`, `[1,2]`, `{"command":5}`, `{"args":"x"}`, `"ok"`, `{}}`, "\x00\xff", ``}
		cl.line = append([]byte(bad[q.rng.IntN(len(bad))]), '\n')
	case ckOversize:
		n := q.maxReq + 1
		if q.rng.IntN(3) == 0 {
			n = q.maxReq + 1 + q.rng.IntN(1<<20)
		}
		b := request("ok", cl.id)
		cl.line = append(append(bytes.Repeat([]byte(" "), max(0, n-len(b)-1)), b...), '\n')
	case ckCut:
		b := request("ok", cl.id)
		cl.line = b[:1+q.rng.IntN(len(b)-2)]
	}
	return cl
}

// run is the client's part: connect, send, read what comes until EOF.
func (cl *csClient) run(q *csSeq) {
	c, err := q.dial(cl.kind == ckRefusedPeer)
	if err != nil {
		cl.dialErr = err
		return
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	switch cl.kind {
	case ckSilentClose:
		return
	case ckCut, ckSendClose:
		c.Write(cl.line)
		return
	}
	_, werr := c.Write(cl.line)
	if cl.noEOL && werr == nil {
		c.CloseWrite()
	}
	b, err := io.ReadAll(c)
	cl.readErr = err
	cl.lines = bytes.Count(b, []byte("\n"))
	if i := bytes.IndexByte(b, '\n'); i >= 0 && i == len(b)-1 {
		var r Response
		if json.Unmarshal(b[:i], &r) == nil {
			cl.answer = &r
		}
	} else if len(b) > 0 {
		cl.lines = -1 // something that is not one line
	}
}

// stepCrowd runs a crowd of concurrent clients beside the ones held.
func (q *csSeq) stepCrowd() error {
	k := 1 + q.rng.IntN(q.maxConn+3)
	if q.rng.IntN(4) == 0 {
		k = q.maxConn + 1 + q.rng.IntN(8) // a burst beyond MaxConns
	}
	cls := make([]*csClient, k)
	var kinds []string
	for i := range cls {
		cls[i] = q.makeClient()
		kinds = append(kinds, ckNames[cls[i].kind])
	}
	q.logf("crowd of %d beside %d held: %s", k, len(q.held), strings.Join(kinds, " "))
	var wg sync.WaitGroup
	for _, cl := range cls {
		wg.Add(1)
		go func() { defer wg.Done(); cl.run(q) }()
	}
	wg.Wait()
	// The handlers of clients that did not wait run on: counted once the
	// server is idle again.
	if err := q.quiesce(); err != nil {
		return err
	}
	q.stats.Clients += k
	free := q.maxConn - len(q.held)
	busy := 0
	for _, cl := range cls {
		if cl.dialErr != nil {
			return fmt.Errorf("client %s (%s): connecting: %v", cl.id, ckNames[cl.kind], cl.dialErr)
		}
		if cl.answer != nil && cl.answer.Error == ErrBusy.Error() {
			busy++
			if n := q.h.count(cl.id); n != 0 {
				return fmt.Errorf("client %s (%s) answered ErrBusy, yet its handler ran %d times", cl.id, ckNames[cl.kind], n)
			}
			continue
		}
		if err := q.checkClient(cl, free > 0 && k <= free); err != nil {
			return fmt.Errorf("client %s (%s): %v", cl.id, ckNames[cl.kind], err)
		}
	}
	q.stats.Busy += busy
	q.logf("  %d busy, %d free slots", busy, free)
	switch {
	case free <= 0 && busy != countAnswering(cls):
		return fmt.Errorf("%d of %d clients that read were answered ErrBusy while all %d slots were held", busy, countAnswering(cls), q.maxConn)
	case free > 0 && k <= free && busy > 0:
		return fmt.Errorf("%d clients answered ErrBusy, a crowd of %d beside %d of %d slots held", busy, k, len(q.held), q.maxConn)
	case free > 0 && busy > max(0, k-free):
		return fmt.Errorf("%d of a crowd of %d answered ErrBusy, with %d slots free", busy, k, free)
	}
	return nil
}

// countAnswering counts the clients of a crowd that read their answer.
func countAnswering(cls []*csClient) int {
	n := 0
	for _, cl := range cls {
		switch cl.kind {
		case ckSilentClose, ckCut, ckSendClose:
		default:
			n++
		}
	}
	return n
}

// checkClient checks what a client not answered ErrBusy saw, and its
// handler's calls. served: the client certainly had a slot.
func (q *csSeq) checkClient(cl *csClient, served bool) error {
	calls := q.h.count(cl.id)
	one := func() error {
		if cl.lines != 1 || cl.answer == nil {
			return fmt.Errorf("%d lines read (%v), want one answer", cl.lines, cl.readErr)
		}
		if cl.readErr != nil {
			return fmt.Errorf("reading after the answer: %v", cl.readErr)
		}
		return nil
	}
	errorOnly := func(want string, mayClose bool) error {
		// Answered with the error or, for a client still writing, closed
		// (its read may then fail, after the answer too).
		if calls != 0 {
			return fmt.Errorf("handler called %d times", calls)
		}
		if cl.answer == nil {
			if cl.lines != 0 || !mayClose {
				return fmt.Errorf("%d lines read (%v), want an error", cl.lines, cl.readErr)
			}
			return nil
		}
		if cl.lines != 1 || cl.readErr != nil && !mayClose {
			return fmt.Errorf("%d lines read (%v), want one answer", cl.lines, cl.readErr)
		}
		if !strings.Contains(cl.answer.Error, want) || cl.answer.Result != nil {
			return fmt.Errorf("answered %+v, want an error with %q", cl.answer, want)
		}
		return nil
	}
	switch cl.kind {
	case ckOK, ckPadded, ckFail, ckBig, ckNoNewline:
		if err := one(); err != nil {
			return err
		}
		q.stats.Answered++
		if calls != 1 {
			return fmt.Errorf("handler called %d times for an answered request", calls)
		}
		switch cl.kind {
		case ckFail:
			if cl.answer.Error != "failed "+cl.id || cl.answer.Result != nil {
				return fmt.Errorf("answered %+v, want the handler's error", cl.answer)
			}
		case ckBig:
			var s string
			var n int
			var req Request
			json.Unmarshal(bytes.TrimSpace(cl.line), &req)
			fmt.Sscan(req.Args[1], &n)
			if cl.answer.Error != "" || json.Unmarshal(cl.answer.Result, &s) != nil || len(s) != n {
				return fmt.Errorf("answered %q and %d bytes, want %d bytes", cl.answer.Error, len(cl.answer.Result), n)
			}
		default:
			var a csAnswer
			var req Request
			json.Unmarshal(cl.line, &req)
			if cl.answer.Error != "" || json.Unmarshal(cl.answer.Result, &a) != nil || a.ID != cl.id || fmt.Sprint(a.Args) != fmt.Sprint(req.Args[1:]) {
				return fmt.Errorf("answered %+v, want its own result", cl.answer)
			}
		}
	case ckMalformed:
		return errorOnly("reading request: ", false)
	case ckOversize:
		return errorOnly(fmt.Sprintf("reading request: longer than %d bytes", q.maxReq), true)
	case ckRefusedPeer:
		q.stats.Refused++
		return errorOnly("refused: uid 65534", false)
	case ckCut, ckSilentClose:
		if calls != 0 {
			return fmt.Errorf("handler called %d times", calls)
		}
	case ckSendClose:
		if calls > 1 || served && calls != 1 {
			return fmt.Errorf("handler called %d times for a request sent whole", calls)
		}
	}
	return nil
}

// stepHold adds a client that holds a slot: while all are held, a new one
// must be answered ErrBusy.
func (q *csSeq) stepHold() error {
	id := q.id()
	kind := []string{"stuck", "block", "unread"}[q.rng.IntN(3)]
	q.logf("hold %s %s (%d held before)", kind, id, len(q.held))
	c, err := q.dial(false)
	if err != nil {
		return fmt.Errorf("connecting: %v", err)
	}
	full := len(q.held) >= q.maxConn
	switch kind {
	case "block":
		_, err = c.Write(append(request("block", id), '\n'))
	case "unread":
		_, err = c.Write(append(request("big", id, fmt.Sprint(4<<20)), '\n'))
	}
	if err != nil && !full { // refused, it may be closed before it wrote
		c.Close()
		return fmt.Errorf("sending: %v", err)
	}
	if full {
		// No slot: ErrBusy, at once, and nothing else.
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		b, err := io.ReadAll(c)
		c.Close()
		// Closed unread: the read may fail after the answer.
		if want := mustJSON(Response{Error: ErrBusy.Error()}) + "\n"; string(b) != want {
			return fmt.Errorf("%s beside %d held (MaxConns %d): read %.200q, %v; want ErrBusy", kind, len(q.held), q.maxConn, b, err)
		}
		q.stats.Busy++
		if n := q.h.count(id); n != 0 {
			return fmt.Errorf("answered ErrBusy, yet its handler ran %d times", n)
		}
		return nil
	}
	switch kind {
	case "block":
		b := q.h.block(id)
		select {
		case <-b.started:
		case <-time.After(20 * time.Second):
			c.Close()
			return errors.New("its handler never ran")
		}
	case "unread":
		if err := waitFor(func() bool { return q.h.count(id) == 1 }); err != nil {
			c.Close()
			return errors.New("its handler never ran")
		}
	}
	q.held = append(q.held, csHeld{kind: kind, id: id, c: c, on: len(q.serves) - 1})
	q.stats.Held++
	// Accepted (a stuck one cannot be told otherwise): later connections
	// come after it.
	if err := waitFor(func() bool { return countServeGoroutines() >= len(q.held) }); err != nil {
		return fmt.Errorf("%s %s was never accepted", kind, id)
	}
	return nil
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// stepRelease lets held client i go: a blocked handler is released and its
// client reads the answer; the others close their end.
func (q *csSeq) stepRelease(i int) error {
	hc := q.held[i]
	q.held = append(q.held[:i:i], q.held[i+1:]...)
	q.logf("release %s %s", hc.kind, hc.id)
	defer hc.c.Close()
	if hc.kind != "block" {
		hc.c.Close()
		return nil
	}
	close(q.h.block(hc.id).release)
	_ = hc.c.SetDeadline(time.Now().Add(30 * time.Second))
	b, err := io.ReadAll(hc.c)
	want := mustJSON(Response{Result: json.RawMessage(mustJSON("released " + hc.id))}) + "\n"
	if string(b) != want || err != nil {
		return fmt.Errorf("released %s: read %q, %v; want %q", hc.id, b, err, want)
	}
	if n := q.h.count(hc.id); n != 1 {
		return fmt.Errorf("released %s: handler called %d times", hc.id, n)
	}
	return nil
}

// stepRelisten removes the socket file; the server places a new one and
// serves it, and the old listener is closed, its requests in flight
// answered there.
func (q *csSeq) stepRelisten() error {
	q.logf("remove the socket file, relisten (%d held)", len(q.held))
	if err := os.Remove(q.path); err != nil {
		return err
	}
	if in, err := SocketInPlace(q.ln); in || err != nil {
		return fmt.Errorf("SocketInPlace after the file was removed: %v, %v", in, err)
	}
	next, err := q.srv.Relisten(q.ln)
	if err != nil {
		return fmt.Errorf("Relisten: %v", err)
	}
	q.openUp()
	q.serve(next)
	if err := q.ln.Close(); err != nil {
		return fmt.Errorf("closing the old listener: %v", err)
	}
	q.ln = next
	q.stats.Relistens++
	if in, err := SocketInPlace(next); !in || err != nil {
		return fmt.Errorf("SocketInPlace after Relisten: %v, %v", in, err)
	}
	return nil
}

// stepNeverSends: a client that connects and sends nothing is answered,
// or closed, after Timeout, and its slot is freed though it stays.
func (q *csSeq) stepNeverSends() error {
	q.logf("a client that never sends, Timeout %v", q.srv.Timeout)
	start := time.Now()
	c, err := q.dial(false)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(q.srv.Timeout + 20*time.Second))
	b, err := io.ReadAll(c)
	took := time.Since(start)
	if err != nil {
		return fmt.Errorf("the server never let go of a client that never sent: %v after %v", err, took)
	}
	if took < q.srv.Timeout-100*time.Millisecond {
		return fmt.Errorf("a client that never sent was let go after %v, Timeout %v", took, q.srv.Timeout)
	}
	if len(b) > 0 && !strings.Contains(string(b), "reading request: ") {
		return fmt.Errorf("a client that never sent read %q", b)
	}
	q.stats.TimedOut++
	return nil
}

// stepShutdown stops every Serve while the held clients are there: the
// handlers running see their context cancelled and answer; once the
// clients that never send or never read have gone, Serve returns.
func (q *csSeq) stepShutdown() error {
	q.logf("shutdown with %d held", len(q.held))
	for _, s := range q.serves {
		s.cancel()
	}
	for _, hc := range q.held {
		if hc.kind != "block" {
			continue
		}
		b := q.h.block(hc.id)
		select {
		case <-b.cancelled:
			q.stats.Cancelled++
		case <-time.After(20 * time.Second):
			return fmt.Errorf("the handler of %s was not cancelled", hc.id)
		}
		_ = hc.c.SetDeadline(time.Now().Add(30 * time.Second))
		got, err := io.ReadAll(hc.c)
		if want := mustJSON(Response{Error: context.Canceled.Error()}) + "\n"; string(got) != want || err != nil {
			return fmt.Errorf("%s at shutdown: read %q, %v; want %q", hc.id, got, err, want)
		}
	}
	// The connections of clients that never send, or never read, are in
	// flight still: the Serve serving them has not returned.
	inFlight := map[int]bool{}
	for _, hc := range q.held {
		if hc.kind != "block" {
			inFlight[hc.on] = true
		}
	}
	for i, s := range q.serves {
		if inFlight[i] {
			continue
		}
		select {
		case err := <-s.done:
			s.done <- err
		case <-time.After(20 * time.Second):
			return fmt.Errorf("Serve %d, with nothing in flight, did not return", i)
		}
	}
	for i := range inFlight {
		select {
		case <-q.serves[i].done:
			return fmt.Errorf("Serve %d returned while connections were in flight", i)
		default:
		}
	}
	for _, hc := range q.held {
		hc.c.Close()
	}
	q.held = nil
	for i, s := range q.serves {
		select {
		case err := <-s.done:
			if err != nil {
				return fmt.Errorf("Serve: %v", err)
			}
		case <-time.After(20 * time.Second):
			return fmt.Errorf("Serve %d did not return", i)
		}
		s.done <- nil // for the deferred clean-up
	}
	// Each waited for its connections.
	if n := countServing(); n != 0 {
		return fmt.Errorf("every Serve returned while %d connections were served", n)
	}
	// Their last instruction, wg.Done, may still be under way.
	if err := waitFor(func() bool { return countServeGoroutines() == 0 }); err != nil {
		return fmt.Errorf("%d connection goroutines left after Serve returned", countServeGoroutines())
	}
	return nil
}

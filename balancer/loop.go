package balancer

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/rmqlb/rmqlb/internal/logcount"
)

// Event-loop constants.
const (
	maxEvents      = 256                    // epoll_wait batch
	acceptBatch    = 64                     // accept4 calls per listener event
	acceptPause    = 100 * time.Millisecond // after EMFILE & co.: see accept
	chunkBudget    = 16                     // reads per direction per turn before yielding
	scratchSize    = 16 << 10               // recv(2) size; a full read switches to splice
	maxIdleBufs    = 32                     // idle stash buffers kept per loop
	epollConnFlags = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET
)

// loop is one event loop: an epoll instance, the sessions it owns and their
// fds, a timer heap, a pipe pool and a command queue. Everything except the
// command queue (cmdMu) is owned by the loop's goroutine; other goroutines
// reach a loop only through post.
type loop struct {
	l     *Listener
	epfd  int
	evfd  int
	lnfd  int // listening socket while accepting, -1 after
	local netip.AddrPort
	// lnOpts are the options accepted sockets inherit from the listening
	// socket.
	lnOpts connOpts

	sessions sessionPool
	head     *session // intrusive list of live sessions
	nsess    int
	// closed are the sessions closed this turn, given back to the pool at
	// its end (recycle).
	closed []*session
	tok    uint32 // registration tokens (epoll data), never 0
	timers timerHeap
	pipes  pipePool
	bufs   []*stash // idle stash buffers
	// scratch receives every recv(2); its bytes are written on or copied
	// to a stash buffer before the next read.
	scratch *stash
	ready   []*session // sessions with work left after their budget
	spare   []*session
	// now is the loop's time, read after every epoll_wait: the real
	// (monotonic) time since epoch. Session deadlines (connect and session
	// timeouts), their times of traffic and the accept pause are on this
	// time, not on the Listener's injected clock, because epoll_wait's
	// timeout, which wakes the loop for them, runs on real time. A time
	// of the loop takes 8 bytes in a session (a time.Time takes 24).
	now time.Duration
	// epoch is the Listener's (a second before it was made, so that no
	// time of the loop is 0: 0 stands for none); the loops of a listener
	// share it, so their times compare.
	epoch time.Time
	ev    unix.EpollEvent

	acceptPausedUntil time.Duration // loop time; 0: not paused
	// resumeFailed: the last attempt to watch the listening socket again
	// after a pause failed (logged once, retried every acceptPause).
	resumeFailed bool
	// ctlFault, set by tests only, makes epoll_ctl (ctl, and ctlSession
	// for the sessions' sockets) fail with the error it returns for op and
	// fd, if not nil.
	ctlFault func(op, fd int) error
	// fdLimitLog counts the clients refused for the file descriptor
	// limit, logged at most every logcount.Every (loop time), so that a
	// flood of clients cannot flood the log.
	fdLimitLog logcount.Counter
	// fdStarved: the last accept4 failed for lack of file descriptors.
	fdStarved bool
	// reserve is an fd (of /dev/null) held back so that, at the fd limit,
	// pending connections can still be accepted in order to be refused;
	// -1 while it could not be opened.
	reserve int
	exit    bool

	cmdMu   sync.Mutex
	cmds    []func(*loop)
	stopped bool // set by the loop when it exits; guarded by cmdMu
}

func newLoop(l *Listener, lnfd int, local netip.AddrPort, lnOpts connOpts) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("creating epoll instance: %w", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("creating eventfd: %w", err)
	}
	epoch := l.epoch
	lp := &loop{l: l, epfd: epfd, evfd: evfd, lnfd: -1, local: local, lnOpts: lnOpts, now: time.Since(epoch), epoch: epoch,
		scratch: new(stash), reserve: openReserve()}
	if err := lp.ctl(unix.EPOLL_CTL_ADD, evfd, unix.EPOLLIN, 0); err != nil {
		lp.closeFds()
		return nil, fmt.Errorf("watching eventfd: %w", err)
	}
	if err := lp.ctl(unix.EPOLL_CTL_ADD, lnfd, unix.EPOLLIN|unix.EPOLLEXCLUSIVE, 0); err != nil {
		lp.closeFds()
		return nil, fmt.Errorf("watching listening socket: %w", err)
	}
	lp.lnfd = lnfd
	return lp, nil
}

// ctl is epoll_ctl with the event built in the loop's scratch space.
func (lp *loop) ctl(op, fd int, events uint32, tok uint32) error {
	if lp.ctlFault != nil {
		if err := lp.ctlFault(op, fd); err != nil {
			return err
		}
	}
	lp.ev = unix.EpollEvent{Events: events, Fd: int32(fd), Pad: int32(tok)}
	return unix.EpollCtl(lp.epfd, op, fd, &lp.ev)
}

// closeFds closes the loop's epoll and eventfd, its reserve fd and its idle
// pipes; called once the loop's goroutine has exited (or never started).
func (lp *loop) closeFds() {
	lp.pipes.closeAll()
	if lp.reserve >= 0 {
		unix.Close(lp.reserve)
		lp.reserve = -1
	}
	lp.cmdMu.Lock() // a post in progress writes to evfd under it
	if lp.evfd >= 0 {
		unix.Close(lp.evfd)
		lp.evfd = -1
	}
	lp.cmdMu.Unlock()
	if lp.epfd >= 0 {
		unix.Close(lp.epfd)
		lp.epfd = -1
	}
}

// post queues fn to run on the loop's goroutine and wakes it. It reports
// false if the loop has exited (fn will not run).
func (lp *loop) post(fn func(*loop)) bool {
	lp.cmdMu.Lock()
	if lp.stopped {
		lp.cmdMu.Unlock()
		return false
	}
	lp.cmds = append(lp.cmds, fn)
	// Under cmdMu, so that closeFds cannot close evfd (and the number be
	// reused) between the check above and the write.
	var one = [8]byte{1}
	unix.Write(lp.evfd, one[:])
	lp.cmdMu.Unlock()
	return true
}

// run is the loop's goroutine body. It returns nil after shutdown, or an
// error if epoll_wait fails.
func (lp *loop) run() error {
	events := make([]unix.EpollEvent, maxEvents)
	defer func() {
		lp.cmdMu.Lock()
		lp.stopped = true
		cmds := lp.cmds
		lp.cmds = nil
		lp.cmdMu.Unlock()
		for _, fn := range cmds { // let waiters (broadcast) finish
			fn(lp)
		}
		lp.closeAll()
	}()
	busy := false // the last wait returned events
	for !lp.exit {
		n, err := lp.wait(events, busy)
		if err != nil {
			if err == unix.EINTR {
				// A signal (the runtime's preemption among them) ended
				// the wait: the next one goes through the runtime, so
				// that signals cannot stretch a held wait beyond
				// holdMillis.
				busy = false
				continue
			}
			return fmt.Errorf("waiting for events: %w", err)
		}
		busy = n > 0
		lp.now = time.Since(lp.epoch)
		for i := range n {
			lp.dispatch(&events[i])
		}
		lp.runReady()
		lp.runTimers()
		lp.recycle()
	}
	return nil
}

// recycle gives the sessions closed this turn back to the pool, except
// those still in lp.ready: runReady skips them, and a later turn's
// recycle takes them.
func (lp *loop) recycle() {
	keep := lp.closed[:0]
	for _, s := range lp.closed {
		if s.queued {
			keep = append(keep, s)
			continue
		}
		lp.sessions.put(s)
	}
	clear(lp.closed[len(keep):])
	lp.closed = keep
}

// waitMillis returns the epoll_wait timeout: 0 when sessions have work
// left, until the next timer otherwise, -1 if none.
func (lp *loop) waitMillis() int {
	if len(lp.ready) > 0 {
		return 0
	}
	var next time.Duration
	if s := lp.timers.peek(); s != nil {
		next = s.deadline
	}
	if lp.acceptPausedUntil != 0 && (next == 0 || lp.acceptPausedUntil < next) {
		next = lp.acceptPausedUntil
	}
	if next == 0 {
		return -1
	}
	d := next - time.Since(lp.epoch)
	if d <= 0 {
		return 0
	}
	// epoll_wait takes an int of milliseconds; beyond it a wait would
	// wrap to a negative one, which waits forever.
	if d >= math.MaxInt32*time.Millisecond {
		return math.MaxInt32
	}
	return int((d + time.Millisecond - 1) / time.Millisecond)
}

func (lp *loop) dispatch(ev *unix.EpollEvent) {
	// The loop's own fds (eventfd, listening socket) are registered with
	// token 0 and their fd as data; a session's sockets with a token and
	// the session's index in the pool.
	tok := uint32(ev.Pad)
	if tok == 0 {
		switch int(ev.Fd) {
		case lp.evfd:
			lp.runCmds()
		case lp.lnfd:
			lp.accept()
		}
		return
	}
	s := lp.sessions.at(uint32(ev.Fd))
	if s == nil {
		return
	}
	e := ev.Events
	switch {
	case tok == s.cli.tok:
		if e&unix.EPOLLERR != 0 && s.state == stateConnecting && !hasInput(s.cli.fd) {
			// The client failed before its backend connection was made
			// and sent nothing: there is nothing to pass on.
			s.abort(EndClientReset, fmt.Errorf("client socket: %w", errOr(socketError(s.cli.fd))))
			return
		}
		s.noteEvents(&s.cli, e)
	case tok == s.srv.tok:
		if s.state == stateConnecting {
			if e&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
				s.connectDone(e)
			}
			return
		}
		s.noteEvents(&s.srv, e)
	default:
		return // stale event of a closed registration
	}
	s.pump()
}

// noteEvents records an event's readiness on k. A failure (EPOLLERR) is
// recorded, not acted on at once: what the socket received before must
// still be read and passed on (the reads return the error after it). A
// failure, or the first announced FIN or hang-up, starts the session's FIN
// timeout: the FIN may wait unread behind bytes the other side does not
// take, and the session must not live on for that.
func (s *session) noteEvents(k *sock, events uint32) {
	failed, hup := k.failed, k.hup
	k.note(events)
	if k.failed && !failed {
		s.noteEnd(s.resetOf(k))
	}
	if (k.failed && !failed || k.hup && !hup) && s.state == stateEstablished {
		s.schedule()
	}
}

// hasInput reports whether bytes wait in fd's receive queue.
func hasInput(fd int) bool {
	n, err := unix.IoctlGetInt(fd, unix.SIOCINQ)
	return err == nil && n > 0
}

// errOr returns err, or a generic error if it is nil.
func errOr(err error) error {
	if err == nil {
		return errors.New("error condition on socket")
	}
	return err
}

func (lp *loop) runCmds() {
	var buf [8]byte
	unix.Read(lp.evfd, buf[:])
	lp.cmdMu.Lock()
	cmds := lp.cmds
	lp.cmds = nil
	lp.cmdMu.Unlock()
	for _, fn := range cmds {
		fn(lp)
	}
}

// runReady gives sessions that used up their budget another turn.
func (lp *loop) runReady() {
	if len(lp.ready) == 0 {
		return
	}
	cur := lp.ready
	lp.ready = lp.spare[:0]
	for i, s := range cur {
		cur[i] = nil
		s.queued = false
		s.pump() // nothing for a closed session (recycle takes it)
	}
	lp.spare = cur[:0]
}

func (lp *loop) runTimers() {
	if lp.acceptPausedUntil != 0 && lp.now >= lp.acceptPausedUntil {
		lp.acceptPausedUntil = 0
		lp.resumeAccepting()
	}
	for {
		s := lp.timers.peek()
		if s == nil || lp.now < s.deadline {
			return
		}
		lp.timers.stop(s)
		s.timerFired()
	}
}

// accept takes up to acceptBatch pending connections.
//
// At the fd limit (EMFILE, ENFILE) accept4 fails and the connection stays
// queued, so the listening socket stays readable: the loop stops watching
// it for acceptPause instead of spinning, giving sessions time to end and
// free fds. If accept4 fails again after the pause, the connections still
// queued are refused (accepted into the fd held in reserve and reset at
// once, counted in RefusedFdLimit) rather than left waiting for as long as
// the limit lasts. Other failures for lack of memory pause too.
func (lp *loop) accept() {
	for range acceptBatch {
		if lp.lnfd < 0 {
			return
		}
		fd, client, err := accept(lp.lnfd)
		if err != nil {
			switch err {
			case unix.EAGAIN:
				lp.fdStarved = false
				return
			case unix.EINTR, unix.ECONNABORTED:
				continue
			case unix.EMFILE, unix.ENFILE:
				if lp.fdStarved {
					lp.refusePending()
				} else {
					lp.l.log.Warn("accepting connection: out of file descriptors; pausing accept", zap.Error(err))
				}
				lp.fdStarved = true
				lp.pauseAccepting()
				return
			case unix.ENOBUFS, unix.ENOMEM:
				lp.l.log.Warn("accepting connection; pausing accept", zap.Error(err))
				lp.pauseAccepting()
				return
			default:
				lp.l.log.Warn("accepting connection", zap.Error(err))
				return
			}
		}
		lp.fdStarved = false
		lp.newSession(fd, client)
	}
}

// refusePending resets the connections queued on the listening socket
// while no fd is free: it releases the reserve fd, accepts each connection
// into the freed slot and closes it with a reset, and takes the reserve
// back.
func (lp *loop) refusePending() {
	if lp.reserve < 0 {
		if lp.reserve = openReserve(); lp.reserve < 0 {
			return
		}
	}
	unix.Close(lp.reserve)
	lp.reserve = -1
	n := 0
	for range acceptBatch {
		fd, sa, err := unix.Accept4(lp.lnfd, unix.SOCK_CLOEXEC)
		if err == unix.EINTR || err == unix.ECONNABORTED {
			continue
		}
		if err != nil {
			break
		}
		lp.l.refusedFdLimit.Add(1) // before the client can see the reset
		resetClose(fd)
		n++
		if lp.l.params.Load().logSessions {
			lp.l.logSession(sessionEnd{client: fromSockaddr(sa), why: EndFdLimit})
		}
	}
	lp.reserve = openReserve()
	if refused, ok := lp.fdLimitLog.Add(lp.l.epoch.Add(lp.now), n); ok {
		lp.l.log.Warn("refused connections: out of file descriptors (logged at most every 10s)", zap.Int("refused", refused))
	}
}

// openReserve opens the fd a loop holds in reserve; -1 if it cannot.
func openReserve() int {
	fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return fd
}

func (lp *loop) pauseAccepting() {
	if lp.lnfd < 0 {
		return
	}
	lp.ctl(unix.EPOLL_CTL_DEL, lp.lnfd, 0, 0)
	lp.acceptPausedUntil = lp.now + acceptPause
}

// resumeAccepting watches the listening socket again after a pause. If
// epoll refuses it (ENOMEM, or ENOSPC at fs.epoll.max_user_watches) the
// pause is extended by acceptPause and resuming is tried again then: the
// loop must not stop accepting for good. The first failure in a row is
// logged.
func (lp *loop) resumeAccepting() {
	if lp.lnfd < 0 {
		return
	}
	if lp.reserve < 0 {
		lp.reserve = openReserve()
	}
	if err := lp.ctl(unix.EPOLL_CTL_ADD, lp.lnfd, unix.EPOLLIN|unix.EPOLLEXCLUSIVE, 0); err != nil {
		if !lp.resumeFailed {
			lp.l.log.Warn("resuming accept; retrying every 100ms", zap.Error(err))
		}
		lp.resumeFailed = true
		lp.acceptPausedUntil = lp.now + acceptPause
		return
	}
	if lp.resumeFailed {
		lp.l.log.Info("accepting again")
		lp.resumeFailed = false
	}
}

// stopAccepting removes the listening socket from the loop (graceful stop).
// The caller closes the socket once every loop has done this.
func (lp *loop) stopAccepting() {
	if lp.lnfd < 0 {
		return
	}
	if lp.acceptPausedUntil == 0 {
		lp.ctl(unix.EPOLL_CTL_DEL, lp.lnfd, 0, 0)
	}
	lp.acceptPausedUntil = 0
	lp.lnfd = -1
}

// shutdown closes every session and makes run return.
func (lp *loop) shutdown() {
	lp.stopAccepting()
	lp.closeAll()
	lp.exit = true
}

// closeAll closes every session of the loop (the listener stops).
func (lp *loop) closeAll() {
	why := lp.l.stopEnd()
	for s := lp.head; s != nil; {
		next := s.next
		s.close(why)
		s = next
	}
}

// shutdownBackend closes the sessions of b, for why (it was marked down,
// or removed); sessions still connecting to b are redispatched, neither
// counted as b's connect failures nor using up a retry.
func (lp *loop) shutdownBackend(b *backend, why EndReason) {
	for s := lp.head; s != nil; {
		next := s.next
		if s.be == b {
			if s.state == stateConnecting {
				s.redispatch(why)
			} else {
				s.close(why)
			}
		}
		s = next
	}
}

// closeSessions closes every live session that match selects, connecting
// or established, as why says, and returns how many it closed.
func (lp *loop) closeSessions(match func(*session) bool, why EndReason) int {
	n := 0
	for s := lp.head; s != nil; {
		next := s.next
		if match(s) {
			s.close(why)
			n++
		}
		s = next
	}
	return n
}

// register adds fd to the epoll set for s and returns the registration
// token; the event's data is s's index in the pool and the token, which
// tells the side and a current registration from a stale one.
func (lp *loop) register(fd int, s *session) (uint32, error) {
	lp.tok++
	if lp.tok == 0 {
		lp.tok = 1
	}
	tok := lp.tok
	if err := lp.ctlSession(unix.EPOLL_CTL_ADD, fd, s, tok); err != nil {
		return 0, fmt.Errorf("watching socket: %w", err)
	}
	return tok, nil
}

// ctlSession is epoll_ctl for a socket of s registered with token tok.
func (lp *loop) ctlSession(op, fd int, s *session, tok uint32) error {
	if lp.ctlFault != nil {
		if err := lp.ctlFault(op, fd); err != nil {
			return err
		}
	}
	lp.ev = unix.EpollEvent{Events: epollConnFlags, Fd: int32(s.idx), Pad: int32(tok)}
	return unix.EpollCtl(lp.epfd, op, fd, &lp.ev)
}

// release closes fd (which also removes it from epoll), with a reset if
// reset is true.
func (lp *loop) release(fd int, reset bool) {
	if reset {
		resetClose(fd)
		return
	}
	unix.Close(fd)
}

func (lp *loop) link(s *session) {
	s.next = lp.head
	if lp.head != nil {
		lp.head.prev = s
	}
	lp.head = s
	lp.nsess++
}

func (lp *loop) unlink(s *session) {
	if s.prev != nil {
		s.prev.next = s.next
	} else {
		lp.head = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	}
	s.prev, s.next = nil, nil
	lp.nsess--
}

// stash holds the bytes of one read that the destination did not take.
type stash [scratchSize]byte

// getBuf borrows a stash buffer.
func (lp *loop) getBuf() *stash {
	if n := len(lp.bufs); n > 0 {
		b := lp.bufs[n-1]
		lp.bufs[n-1] = nil
		lp.bufs = lp.bufs[:n-1]
		return b
	}
	return new(stash)
}

// putBuf returns a stash buffer.
func (lp *loop) putBuf(b *stash) {
	if len(lp.bufs) < maxIdleBufs {
		lp.bufs = append(lp.bufs, b)
	}
}

package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/rmqlb/rmqlb/internal/ctxclose"
	"github.com/rmqlb/rmqlb/internal/logcount"
)

// DefaultMaxRequest bounds a request line when Server.MaxRequest is 0.
const DefaultMaxRequest = 64 << 10

// DefaultMaxConns bounds the connections served at once when
// Server.MaxConns is 0.
const DefaultMaxConns = 64

// ErrBusy is the error a connection beyond Server.MaxConns is answered
// with.
var ErrBusy = errors.New("the daemon serves too many control connections at once; try again")

// ErrAnswered is matched (errors.Is) by the error of Listen and Relisten
// when another process answers on the socket at the path: another daemon
// runs with it.
var ErrAnswered = errors.New("another daemon answers")

// Handler answers one request. Its result is marshalled to JSON. It is
// called from the server's connection goroutines and must be safe for
// concurrent use.
type Handler func(ctx context.Context, req Request) (any, error)

// Server serves a Handler on a unix socket. Its zero value is not usable;
// set Path and Handler. A Server serves one listener from Listen or
// Inherit, and after that each listener Relisten gives it when the socket
// file was removed from Path: Serve runs once for each.
//
// Who may ask: the socket file is mode 0600 (0660 with Group), and every
// connection's peer credentials (SO_PEERCRED) are checked as well: root,
// the daemon's own user, and members of Group (primary or supplementary
// group) are answered; anybody else's connection is closed with an error.
type Server struct {
	// Path of the socket. Its directory is created (0755) when missing; a
	// stale socket left by a dead daemon is replaced, but a socket some
	// live process answers on is not, and a file that is not a socket is
	// never removed.
	Path string
	// Handler answers requests.
	Handler Handler
	// Logger; nil logs nothing.
	Logger *zap.Logger
	// Timeout bounds reading a request, answering it and writing the
	// response. Default: 5s. A client that sends no complete request
	// within it is answered with that error and closed.
	Timeout time.Duration
	// CommandTimeouts replaces Timeout, once a request is read, for the
	// commands it names: those that wait for long by design (an upgrade
	// waits for the successor process to take over). Nil: none.
	CommandTimeouts map[string]time.Duration
	// Group, when set, names a group whose members may use the socket
	// too: the socket file becomes mode 0660 and is owned by it. Empty
	// (the default): root and the daemon's user only. Listen and Inherit
	// read it; SetGroup changes the group of a running server.
	Group string
	// MaxRequest bounds a request line in bytes. Default:
	// DefaultMaxRequest.
	MaxRequest int
	// MaxConns bounds the connections served at once (each holds a
	// descriptor, which the proxy needs too, for up to Timeout), over
	// every listener the Server serves: a listener Relisten replaced
	// still holds its connections in flight. One beyond it is answered
	// with ErrBusy at once and closed, unread. The first Serve reads it.
	// Default: DefaultMaxConns.
	MaxConns int

	// gid is the control group's id plus one, 0 without a group: set by
	// Listen, Inherit and SetGroup, read by every connection's check.
	gid atomic.Int64
	// slots holds one token per connection served, over every Serve:
	// made by the first, with room for MaxConns.
	slotsOnce sync.Once
	slots     chan struct{}
}

// connSlots returns the server's connection slots and their number.
func (s *Server) connSlots() chan struct{} {
	s.slotsOnce.Do(func() {
		max := s.MaxConns
		if max <= 0 {
			max = DefaultMaxConns
		}
		s.slots = make(chan struct{}, max)
	})
	return s.slots
}

// groupID returns the control group's id, and false without one.
func (s *Server) groupID() (int, bool) {
	g := s.gid.Load()
	return int(g - 1), g > 0
}

// Listen creates the socket. It is created under a temporary name in a
// private directory beside Path, given its mode and owner there, and
// renamed into place, so that it is never connectable by others, not even
// for a moment. It fails when another daemon already answers on Path or
// when Path is something other than a socket.
func (s *Server) Listen() (net.Listener, error) {
	dir := filepath.Dir(s.Path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating control socket directory: %w", err)
	}
	if fi, err := os.Lstat(s.Path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("creating control socket: %s exists and is not a socket (%v); not removing it", s.Path, fi.Mode().Type())
		}
		if c, err := net.DialTimeout("unix", s.Path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("creating control socket: %w on %s", ErrAnswered, s.Path)
		}
	}
	tmp, err := os.MkdirTemp(dir, ".rmqlb-ctl-")
	if err != nil {
		return nil, fmt.Errorf("creating control socket: %w", err)
	}
	defer os.RemoveAll(tmp) // MkdirTemp makes it 0700
	staged := filepath.Join(tmp, "s")
	ln, err := net.Listen("unix", staged)
	if err != nil {
		return nil, fmt.Errorf("creating control socket: %w", err)
	}
	ul := ln.(*net.UnixListener)
	ul.SetUnlinkOnClose(false)
	fail := func(what string, err error) (net.Listener, error) {
		ln.Close()
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	gid, err := lookupGroup(s.Group)
	if err != nil {
		return fail("looking up the control socket's group", err)
	}
	if err := setAccess(staged, gid); err != nil {
		return fail("creating control socket", err)
	}
	// The file keeps its device and inode when renamed.
	fi, err := os.Lstat(staged)
	if err != nil {
		return fail("creating control socket", err)
	}
	s.gid.Store(int64(gid + 1))
	if err := os.Rename(staged, s.Path); err != nil {
		return fail("placing control socket", err)
	}
	return &placedListener{UnixListener: ul, path: s.Path, file: fi}, nil
}

// Relisten places a new socket at Path, listening, for a server whose
// listener ln is no longer there (SocketInPlace reports false: the socket
// file was removed, or replaced, while the daemon ran). It makes the
// listener as Listen does, with Listen's refusals: a socket some live
// process answers on is not replaced, a file that is not a socket is not
// removed, and a missing directory is created. On success closing ln
// leaves the file at Path alone; the caller serves the new listener
// (Serve) and closes ln, or stops the Serve that serves it: the requests
// in flight there are answered. On error ln serves on as it was.
func (s *Server) Relisten(ln net.Listener) (net.Listener, error) {
	pl, ok := ln.(*placedListener)
	if !ok {
		return nil, errors.New("re-creating the control socket: not a control socket listener")
	}
	next, err := s.Listen()
	if err != nil {
		return nil, err
	}
	// Closing ln must not remove the new file even should it have ln's
	// inode number again (a freed inode may be reused at once).
	pl.keep.Store(true)
	return next, nil
}

// SocketInPlace reports whether the path of ln, a listener from Listen,
// Inherit or Relisten, still leads to ln's socket: false when the file is
// gone (or its directory is) or is another file than the one placed or
// inherited (another device or inode). Any other failure to look is
// returned with false: then it is not known.
func SocketInPlace(ln net.Listener) (bool, error) {
	pl, ok := ln.(*placedListener)
	if !ok {
		return false, errors.New("looking at the control socket: not a control socket listener")
	}
	return pl.inPlace()
}

// setAccess gives the socket file at path its mode and group: 0600
// without a group (gid -1), or 0660 owned by group gid.
func setAccess(path string, gid int) error {
	mode := os.FileMode(0o600)
	if gid >= 0 {
		mode = 0o660
		if err := os.Lchown(path, -1, gid); err != nil {
			return fmt.Errorf("setting control socket group: %w", err)
		}
	}
	if err := os.Chmod(path, mode); err != nil {
		return fmt.Errorf("setting control socket mode: %w", err)
	}
	return nil
}

// lookupGroup resolves the group named group into its id, -1 for "".
func lookupGroup(group string) (int, error) {
	if group == "" {
		return -1, nil
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return -1, err
	}
	return strconv.Atoi(g.Gid)
}

// SetGroup changes the control group of a server that listens (a reload
// of control_group): the socket file becomes mode 0660 owned by group, or
// 0600 with group "", and from then on the new group's members are
// answered and the old group's refused. Connections accepted before are
// answered as they were. On error nothing changed. SetGroup is safe to
// call while Serve runs, but not concurrently with itself.
func (s *Server) SetGroup(group string) error {
	gid, err := lookupGroup(group)
	if err != nil {
		return fmt.Errorf("looking up the control socket's group %q: %w", group, err)
	}
	if err := setAccess(s.Path, gid); err != nil {
		return err
	}
	s.gid.Store(int64(gid + 1))
	return nil
}

// Inherit returns a listener on the control socket handed over by the
// daemon this process succeeds (see ListenerFile): the same socket, at the
// same path, never closed in between, so a client is never refused. The
// socket file gets this Server's mode and Group (a changed control group
// applies). The listener removes the socket file when closed.
func (s *Server) Inherit(f *os.File) (net.Listener, error) {
	defer f.Close()
	gid, err := lookupGroup(s.Group)
	if err != nil {
		return nil, fmt.Errorf("looking up the control socket's group: %w", err)
	}
	if err := setAccess(s.Path, gid); err != nil {
		return nil, fmt.Errorf("inheriting the control socket: %w", err)
	}
	// The file the predecessor placed: what SocketInPlace compares with.
	fi, err := os.Lstat(s.Path)
	if err != nil {
		return nil, fmt.Errorf("inheriting the control socket: %w", err)
	}
	s.gid.Store(int64(gid + 1))
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("inheriting the control socket: %w", err)
	}
	ul, ok := ln.(*net.UnixListener)
	if !ok {
		ln.Close()
		return nil, errors.New("inheriting the control socket: not a unix socket")
	}
	ul.SetUnlinkOnClose(false)
	return &placedListener{UnixListener: ul, path: s.Path, file: fi}, nil
}

// ListenerFile returns a copy of the control socket of ln (a listener
// from Listen or Inherit) for the daemon's successor process; ln serves on
// unchanged. The caller owns the file.
func ListenerFile(ln net.Listener) (*os.File, error) {
	pl, ok := ln.(*placedListener)
	if !ok {
		return nil, errors.New("handing over the control socket: not a control socket listener")
	}
	f, err := pl.UnixListener.File()
	if err != nil {
		return nil, fmt.Errorf("handing over the control socket: %w", err)
	}
	return f, nil
}

// KeepSocketFile makes closing ln leave the socket file in place: another
// process serves the same socket on (a successor that took it over, or
// the predecessor when a successor gives up).
func KeepSocketFile(ln net.Listener) error {
	pl, ok := ln.(*placedListener)
	if !ok {
		return errors.New("keeping the control socket file: not a control socket listener")
	}
	pl.keep.Store(true)
	return nil
}

// placedListener removes the socket file from its final place on Close
// (the net package would remove the staging name), unless the socket was
// handed over or another file took its place.
type placedListener struct {
	*net.UnixListener
	path string
	file os.FileInfo // the socket file as placed at path: its device and inode
	keep atomic.Bool
	once sync.Once
}

// inPlace reports whether path still leads to the socket file placed.
func (l *placedListener) inPlace() (bool, error) {
	fi, err := os.Lstat(l.path)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("looking at the control socket: %w", err)
	}
	return os.SameFile(fi, l.file), nil
}

func (l *placedListener) Close() error {
	// The file goes first: once Accept fails, nothing is left behind.
	// Another file at the path (another daemon's socket) is left alone.
	l.once.Do(func() {
		if in, _ := l.inPlace(); in && !l.keep.Load() {
			os.Remove(l.path)
		}
	})
	return l.UnixListener.Close()
}

// Serve answers connections on ln until ctx is done, then closes ln
// (removing the socket file) and waits for the connections in flight. When
// it returns, ln is closed and its connections are: none of their file
// descriptors is left.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	log := s.Logger
	if log == nil {
		log = zap.NewNop()
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	// Accept fails as soon as Close has begun: Serve waits for the close
	// to end, so that nothing of ln is left once it has returned.
	defer ctxclose.OnDone(ctx, ln)()
	slots := s.connSlots()
	var busy, acceptErrs logcount.Counter // refused connections, failed accepts
	// Clients that sent no request in time, counted by their connections'
	// goroutines.
	silent := new(logcount.SyncCounter)
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Out of file descriptors or similar: logged at most every
			// 10 s; wait a little, or until stopped, before accepting
			// again.
			if n, ok := acceptErrs.Count(time.Now()); ok {
				log.Warn("accepting control connections", zap.Error(err), zap.Int("failures", n))
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		select {
		case slots <- struct{}{}:
		default:
			refuseBusy(c)
			if n, ok := busy.Count(time.Now()); ok {
				log.Warn("refused control connections: too many at once", zap.Int("max", cap(slots)), zap.Int("refused", n))
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			s.serveConn(ctx, c, log, silent)
		}()
	}
}

// refuseBusy answers c with ErrBusy and closes it, on the accepting
// goroutine: the write goes to an empty socket buffer, bounded anyway.
func refuseBusy(c net.Conn) {
	defer c.Close()
	_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	_ = writeResponse(c, Response{Error: ErrBusy.Error()}, nil)
}

func (s *Server) serveConn(ctx context.Context, c net.Conn, log *zap.Logger, silent *logcount.SyncCounter) {
	defer c.Close()
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	_ = c.SetDeadline(time.Now().Add(timeout))
	var req Request
	var resp Response
	// The request is read first (bounded by MaxRequest and the timeout),
	// so that a refused client reads why instead of a broken pipe.
	err := s.readRequest(c, &req)
	var cred peerCred
	if err == nil {
		cred, err = s.authorize(c)
	}
	var files []*os.File
	if errors.Is(err, errNoRequest) {
		// Nobody to answer: a probe that only connects, or a client
		// that gave up before it wrote.
		log.Debug("control client closed without a request")
		return
	}
	quiet := errors.Is(err, os.ErrDeadlineExceeded)
	if quiet {
		// A client that holds a connection (one of MaxConns) and sends
		// no request, or not all of one: it is told why, within a
		// moment of its own now that the deadline has passed, and
		// counted; who it was (its process, if it is still there) is
		// logged, since it keeps others' commands waiting.
		err = fmt.Errorf("reading request: no complete request within %v", timeout)
		_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		cred, _ = s.authorize(c)
		log.Debug("control client sent no request in time", zap.Duration("timeout", timeout),
			zap.Int32("peer_uid", cred.uid), zap.Int32("peer_pid", cred.pid))
		if n, ok := silent.Count(time.Now()); ok {
			log.Warn("closed control connections that sent no request in time", zap.Duration("timeout", timeout),
				zap.Int("clients", n), zap.Int32("last_peer_uid", cred.uid), zap.Int32("last_peer_pid", cred.pid))
		}
	}
	if err != nil {
		resp.Error = err.Error()
	} else {
		if long, ok := s.CommandTimeouts[req.Command]; ok && long > timeout {
			timeout = long
			_ = c.SetDeadline(time.Now().Add(timeout))
		}
		ctx, cancel := context.WithTimeout(withPeer(ctx, cred), timeout)
		res, herr := s.Handler(ctx, req)
		cancel()
		if wf, ok := res.(WithFiles); ok {
			res, files = wf.Result, wf.Files
		}
		if herr != nil {
			resp.Error = herr.Error()
		} else if resp.Result, err = json.Marshal(res); err != nil {
			resp.Error = fmt.Sprintf("encoding result: %v", err)
			resp.Result = nil
		}
	}
	if resp.Error != "" {
		log.Debug("control request failed", zap.String("command", req.Command), zap.String("error", resp.Error),
			zap.Int32("peer_uid", cred.uid), zap.Int32("peer_pid", cred.pid))
	}
	if resp.Error != "" {
		closeFiles(files)
		files = nil
	}
	if err := writeResponse(c, resp, files); err != nil {
		level := log.Warn
		if quiet || errors.Is(err, unix.EPIPE) || errors.Is(err, unix.ECONNRESET) {
			// The client left before its answer (a timeout of its own,
			// Ctrl-C), or did not read the answer to a request it never
			// sent: nothing the daemon can mend.
			level = log.Debug
		}
		level("writing control response", zap.String("command", req.Command), zap.Error(err))
	}
}

// errNoRequest is readRequest's error for a client that closed its end
// before sending a byte.
var errNoRequest = errors.New("reading request: closed by the client before a request")

// readRequest reads one request line of at most MaxRequest bytes.
func (s *Server) readRequest(c net.Conn, req *Request) error {
	max := s.MaxRequest
	if max <= 0 {
		max = DefaultMaxRequest
	}
	line, err := bufio.NewReader(io.LimitReader(c, int64(max)+1)).ReadBytes('\n')
	if len(line) > max {
		return fmt.Errorf("reading request: longer than %d bytes", max)
	}
	if errors.Is(err, io.EOF) && len(line) == 0 {
		return errNoRequest
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading request: %w", err)
	}
	if err := json.Unmarshal(line, req); err != nil {
		return fmt.Errorf("reading request: %w", err)
	}
	return nil
}

// peerCred is who is on the other end of a connection.
type peerCred struct {
	pid, uid, gid int32
}

type peerKey struct{}

func withPeer(ctx context.Context, c peerCred) context.Context {
	return context.WithValue(ctx, peerKey{}, c)
}

// PeerPID returns the process id of the client whose request a Handler
// answers (from SO_PEERCRED), and false outside a request.
func PeerPID(ctx context.Context) (int, bool) {
	c, ok := ctx.Value(peerKey{}).(peerCred)
	return int(c.pid), ok
}

// PeerPrivileged reports whether the client whose request a Handler
// answers is root or the daemon's own user, not merely a member of the
// control group: for commands that only those may give.
func PeerPrivileged(ctx context.Context) bool {
	c, ok := ctx.Value(peerKey{}).(peerCred)
	return ok && (c.uid == 0 || int(c.uid) == os.Getuid())
}

// authorize checks the peer's credentials: root, the daemon's own user or
// a member of Group.
func (s *Server) authorize(c net.Conn) (peerCred, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return peerCred{}, errors.New("refused: not a unix socket connection")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return peerCred{}, fmt.Errorf("reading peer credentials: %w", err)
	}
	var ucred *unix.Ucred
	var gerr error
	if err := raw.Control(func(fd uintptr) {
		ucred, gerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return peerCred{}, fmt.Errorf("reading peer credentials: %w", err)
	}
	if gerr != nil {
		return peerCred{}, fmt.Errorf("reading peer credentials: %w", gerr)
	}
	cred := peerCred{pid: ucred.Pid, uid: int32(ucred.Uid), gid: int32(ucred.Gid)}
	if ucred.Uid == 0 || int(ucred.Uid) == os.Getuid() {
		return cred, nil
	}
	if gid, ok := s.groupID(); ok && (int(ucred.Gid) == gid || inGroups(int(ucred.Pid), gid)) {
		return cred, nil
	}
	return cred, fmt.Errorf("refused: uid %d is not root, the daemon's user or in the control group", ucred.Uid)
}

// inGroups reports whether process pid has gid among its supplementary
// groups (the "Groups:" line of /proc/PID/status).
func inGroups(pid, gid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "Groups:")
		if !ok {
			continue
		}
		for _, f := range strings.Fields(rest) {
			if g, err := strconv.Atoi(f); err == nil && g == gid {
				return true
			}
		}
		return false
	}
	return false
}

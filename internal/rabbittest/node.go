package rabbittest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode"
)

// Paths of the Debian package's scripts.
const (
	ServerBin  = "/usr/lib/rabbitmq/bin/rabbitmq-server"
	CtlBin     = "/usr/lib/rabbitmq/bin/rabbitmqctl"
	UpgradeBin = "/usr/lib/rabbitmq/bin/rabbitmq-upgrade"
	EPMDBin    = "/usr/bin/epmd"
)

// markerEnv is set in the environment of every process a Node or EPMD starts; Stop kills every
// process that still carries its value.
const markerEnv = "RMQLB_RABBITTEST_MARK"

// DefaultCookie is the Erlang cookie used when Options.Cookie is empty. Nodes that form a cluster
// need the same cookie.
const DefaultCookie = "RMQLBRABBITTESTCOOKIE"

// Options configure a Node. The zero value starts a single node on 127.0.0.1 with free ports.
type Options struct {
	// Name is the node name prefix; the node is named Name-RANDOM@Host. Zero: "rt".
	Name string
	// Host is the host part of the node name. It must resolve (inside NetNS, through
	// /etc/netns/NS/hosts) to an address of the node. Zero: the machine's short host name in the
	// root namespace; required with NetNS.
	Host string
	// IP is the address of the AMQP listener. Zero: 127.0.0.1.
	IP netip.Addr
	// Port is the AMQP port. Zero: a free port (root namespace) or 5672 (NetNS).
	Port uint16
	// DistPort is the Erlang distribution port. Zero: a free port (root namespace) or 25672.
	DistPort uint16
	// EPMD is a shared epmd to register with (a cluster in the root namespace). Nil: the node
	// starts and owns its own epmd on EPMDPort.
	EPMD *EPMD
	// EPMDPort is the port of the node's own epmd when EPMD is nil. Zero: a free port (root
	// namespace) or 4369 (NetNS). Nodes of one cluster in separate namespaces must use the same
	// number.
	EPMDPort uint16
	// NetNS runs the node under `ip netns exec NetNS`. Zero: the root namespace.
	NetNS string
	// Cookie is the Erlang cookie. Zero: DefaultCookie.
	Cookie string
	// Config holds extra rabbitmq.conf lines (new-style sysctl format).
	Config []string
	// AdvancedConfig is the content of advanced.config (Erlang terms, e.g. settings of the
	// aten failure detector, which rabbitmq.conf has no keys for). Zero: no advanced.config.
	AdvancedConfig string
	// ErlArgs are extra flags of the node's Erlang VM, handed to rabbitmq-server in
	// RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS, which its script puts after its own defaults: a flag
	// given here overrides the default one (e.g. "+sbwt", "medium"; see VMArgs for what the VM
	// got). The script splits the variable at white space, so an element must not contain any.
	// Zero: RabbitMQ's defaults only (RabbitMQ 3.10's include +sbwt none +sbwtdcpu none
	// +sbwtdio none, scheduler busy waiting off).
	ErlArgs []string
	// Plugins lists plugins to enable (e.g. "rabbitmq_management"). Zero: none.
	Plugins []string
	// BootTimeout bounds the wait for the boot. Zero: 90 s.
	BootTimeout time.Duration
	// MaxOpenFiles sets the server's open-files limit (soft and hard,
	// `ulimit -n`), which bounds its connections: RabbitMQ refuses clients
	// beyond about 90 % of it. It must not exceed this process's hard
	// limit. Zero: this process's original soft limit, which os/exec hands
	// to its children.
	MaxOpenFiles int
}

// Node is a running RabbitMQ node. Fields are read-only after Start.
type Node struct {
	// NodeName is the Erlang node name, e.g. rt-1a2b3c@vm.
	NodeName string
	// Addr is the AMQP listener.
	Addr netip.AddrPort
	// Dir is the node's private directory (removed by Stop).
	Dir string
	// NetNS is the namespace the node runs in ("" = root).
	NetNS string

	opts     Options
	env      []string
	marker   string
	cmd      *exec.Cmd
	epmd     *EPMD // owned (started by this node) or nil
	waitDone chan struct{}

	mu      sync.Mutex
	stopped bool
}

// Available reports why real nodes cannot be started here (not root, binaries missing), or nil.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("rabbittest: needs root (runs rabbitmq-server as root)")
	}
	for _, b := range []string{ServerBin, CtlBin, EPMDBin} {
		if _, err := os.Stat(b); err != nil {
			return fmt.Errorf("rabbittest: %s missing: %w", b, err)
		}
	}
	return nil
}

// StartT starts a node for the test t, skipping the test when Available reports a reason and
// failing it when the node does not boot. The node is stopped by t.Cleanup.
func StartT(t testing.TB, o Options) *Node {
	t.Helper()
	if err := Available(); err != nil {
		t.Skip(err)
	}
	n, err := Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Stop(); err != nil {
			t.Error(err)
		}
	})
	return n
}

// Start starts a node and waits for it to boot. On error nothing is left running. The caller
// owns the node and must call Stop.
func Start(ctx context.Context, o Options) (*Node, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	becomeSubreaper()
	if o.Name == "" {
		o.Name = "rt"
	}
	if o.Cookie == "" {
		o.Cookie = DefaultCookie
	}
	if !o.IP.IsValid() {
		o.IP = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	if o.BootTimeout == 0 {
		o.BootTimeout = 90 * time.Second
	}
	for _, a := range o.ErlArgs {
		if a == "" || strings.ContainsFunc(a, unicode.IsSpace) {
			return nil, fmt.Errorf("starting RabbitMQ node: Erlang VM argument %q: empty or with white space (the server's script splits them at white space)", a)
		}
	}
	if o.Host == "" {
		if o.NetNS != "" {
			return nil, errors.New("starting RabbitMQ node: Options.Host is required with NetNS")
		}
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("starting RabbitMQ node: %w", err)
		}
		o.Host, _, _ = strings.Cut(h, ".")
	}
	var err error
	if o.Port == 0 {
		o.Port, err = pickPort(o.NetNS, 5672, o.IP.String())
	}
	if err == nil && o.DistPort == 0 {
		o.DistPort, err = pickPort(o.NetNS, 25672, "")
	}
	if err == nil && o.EPMD == nil && o.EPMDPort == 0 {
		o.EPMDPort, err = pickPort(o.NetNS, 4369, "")
	}
	if err != nil {
		return nil, fmt.Errorf("starting RabbitMQ node: picking ports: %w", err)
	}
	if o.EPMD != nil {
		o.EPMDPort = o.EPMD.Port
	}

	dir, err := os.MkdirTemp("", "rabbittest-")
	if err != nil {
		return nil, fmt.Errorf("starting RabbitMQ node: %w", err)
	}
	n := &Node{
		NodeName: fmt.Sprintf("%s-%s@%s", o.Name, randHex(3), o.Host),
		Addr:     netip.AddrPortFrom(o.IP, o.Port),
		Dir:      dir,
		NetNS:    o.NetNS,
		opts:     o,
		marker:   markerPrefix() + "node-" + randHex(8),
	}
	if err := n.prepare(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting RabbitMQ node %s: %w", n.NodeName, err)
	}
	if err := n.start(ctx); err != nil {
		n.Stop()
		return nil, fmt.Errorf("starting RabbitMQ node %s: %w", n.NodeName, err)
	}
	return n, nil
}

func (n *Node) prepare() error {
	home := filepath.Join(n.Dir, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(home, ".erlang.cookie"), []byte(n.opts.Cookie), 0o400); err != nil {
		return err
	}
	conf := []string{
		fmt.Sprintf("listeners.tcp.default = %s", n.Addr),
		"loopback_users = none",
	}
	conf = append(conf, n.opts.Config...)
	if err := os.WriteFile(n.path("rabbitmq.conf"), []byte(strings.Join(conf, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	plugins := "[" + strings.Join(n.opts.Plugins, ",") + "]."
	if err := os.WriteFile(n.path("enabled_plugins"), []byte(plugins+"\n"), 0o644); err != nil {
		return err
	}
	// rabbitmq-server reads RABBITMQ_ADVANCED_CONFIG_FILE only when the file exists.
	if n.opts.AdvancedConfig != "" {
		if err := os.WriteFile(n.path("advanced.config"), []byte(n.opts.AdvancedConfig+"\n"), 0o644); err != nil {
			return err
		}
	}
	n.env = append(os.Environ(),
		"HOME="+home,
		"RABBITMQ_NODENAME="+n.NodeName,
		"RABBITMQ_USE_LONGNAME=false",
		"RABBITMQ_MNESIA_BASE="+n.path("mnesia"),
		"RABBITMQ_LOG_BASE="+n.path("log"),
		"RABBITMQ_CONFIG_FILE="+n.path("rabbitmq.conf"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+n.path("enabled_plugins"),
		"RABBITMQ_ADVANCED_CONFIG_FILE="+n.path("advanced.config"),
		"RABBITMQ_PID_FILE="+n.path("pid"),
		"RABBITMQ_DIST_PORT="+strconv.Itoa(int(n.opts.DistPort)),
		"RABBITMQ_CTL_DIST_PORT_MIN=0",
		"RABBITMQ_CTL_DIST_PORT_MAX=0",
		"ERL_EPMD_PORT="+strconv.Itoa(int(n.opts.EPMDPort)),
	)
	if len(n.opts.ErlArgs) > 0 {
		n.env = append(n.env, "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="+strings.Join(n.opts.ErlArgs, " "))
	}
	// Last: Ctl replaces it with the marker of rabbitmqctl processes.
	n.env = append(n.env, markerEnv+"="+n.marker)
	return nil
}

func (n *Node) start(ctx context.Context) error {
	if n.opts.EPMD == nil && n.epmd == nil {
		e, err := startEPMD(n.opts.NetNS, n.opts.EPMDPort, n.marker)
		if err != nil {
			return err
		}
		n.epmd = e
	}
	// Appended to, so that a Restart keeps the output of the runs before it.
	out, err := os.OpenFile(n.path("server.out"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	if n.opts.MaxOpenFiles > 0 {
		// sh's ulimit, then exec: the limit is in place before beam starts.
		n.cmd = n.command("sh", "-c", `ulimit -n "$1" && exec "$2"`, "sh", strconv.Itoa(n.opts.MaxOpenFiles), ServerBin)
	} else {
		n.cmd = n.command(ServerBin)
	}
	n.cmd.Stdout = out
	n.cmd.Stderr = out
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := startOwned(n.cmd); err != nil {
		return err
	}
	done := make(chan struct{})
	n.waitDone = done
	go func(cmd *exec.Cmd) {
		waitOwned(cmd)
		close(done)
	}(n.cmd)
	wctx, cancel := context.WithTimeout(ctx, n.opts.BootTimeout)
	defer cancel()
	if err := n.waitPidFile(wctx); err != nil {
		return fmt.Errorf("waiting for boot: %w (server output: %s)", err, n.tail("server.out"))
	}
	// `wait` returns once the rabbit app runs, which starts the listeners; from the root
	// namespace make sure the listener accepts (a namespace's addresses are not reachable
	// from here).
	if n.NetNS != "" {
		return nil
	}
	var d net.Dialer
	for {
		c, err := d.DialContext(wctx, "tcp", n.Addr.String())
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-wctx.Done():
			return fmt.Errorf("waiting for AMQP listener %s: %w", n.Addr, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitPidFile runs `rabbitmqctl wait` on the node's pid file until the
// node's application runs. RabbitMQ creates the file and then writes its pid
// into it, and a wait that reads it in between fails at once with
// garbage_in_pid_file: that failure is retried every 100 ms until ctx ends
// or the server exits.
func (n *Node) waitPidFile(ctx context.Context) error {
	for {
		out, err := n.Ctl(ctx, "wait", "--timeout", "60", n.path("pid"))
		if err == nil || !pidFileUnwritten(out) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last wait: %v)", ctx.Err(), err)
		case <-n.waitDone:
			return fmt.Errorf("server exited (last wait: %w)", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// pidFileUnwritten reports whether rabbitmqctl's output says the pid file it
// waited on held no pid (yet).
func pidFileUnwritten(out string) bool {
	return strings.Contains(out, "garbage_in_pid_file")
}

func (n *Node) command(name string, args ...string) *exec.Cmd {
	var cmd *exec.Cmd
	if n.NetNS != "" {
		cmd = exec.Command("ip", append([]string{"netns", "exec", n.NetNS, name}, args...)...)
	} else {
		cmd = exec.Command(name, args...)
	}
	cmd.Env = n.env
	cmd.Dir = n.Dir
	return cmd
}

// Ctl runs rabbitmqctl against the node (right node name, cookie, epmd port and namespace) and
// returns its combined output. ctx bounds the call: a frozen node makes rabbitmqctl hang.
func (n *Node) Ctl(ctx context.Context, args ...string) (string, error) {
	return n.tool(ctx, CtlBin, args...)
}

// Upgrade runs rabbitmq-upgrade against the node as Ctl runs rabbitmqctl: "drain" puts it in
// maintenance mode (its client listeners stop), "revive" takes it out.
func (n *Node) Upgrade(ctx context.Context, args ...string) (string, error) {
	return n.tool(ctx, UpgradeBin, args...)
}

// tool runs one of RabbitMQ's CLI tools (bin) against the node.
func (n *Node) tool(ctx context.Context, bin string, args ...string) (string, error) {
	name := filepath.Base(bin)
	cmd := n.command(bin, append([]string{"-n", n.NodeName}, args...)...)
	// Not the node's marker: Stop must not reap a rabbitmqctl that os/exec waits for.
	cmd.Env = append(n.env[:len(n.env)-1:len(n.env)-1], ctlMarkerEnv+"="+n.marker)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	if err := startOwned(cmd); err != nil {
		return "", fmt.Errorf("running %s %s: %w", name, strings.Join(args, " "), err)
	}
	done := make(chan error, 1)
	go func() { done <- waitOwned(cmd) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		err = ctx.Err()
	}
	reapErlangOrphans()
	if err != nil {
		return buf.String(), fmt.Errorf("running %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(buf.String()))
	}
	return buf.String(), nil
}

// MustCtl is Ctl with a 60 s timeout that fails t on error.
func (n *Node) MustCtl(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := n.Ctl(ctx, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Pid returns the process id of the node's beam.smp.
func (n *Node) Pid() (int, error) {
	b, err := os.ReadFile(n.path("pid"))
	if err != nil {
		return 0, fmt.Errorf("reading pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("parsing pid file: %w", err)
	}
	return pid, nil
}

// Freeze stops the broker's Erlang VM with SIGSTOP: the kernel still completes TCP handshakes on
// its listener but nothing answers. It returns once every thread of the VM is stopped: kill(2)
// only queues the signal, and a scheduler thread running on another CPU may answer a client
// before it takes it.
func (n *Node) Freeze() error {
	if err := n.signal(syscall.SIGSTOP); err != nil {
		return err
	}
	pid, err := n.Pid()
	if err != nil {
		return err
	}
	return waitStopped(pid, 10*time.Second)
}

// waitStopped waits until every thread of process pid is stopped (state T in
// /proc/PID/task/TID/stat), or timeout.
func waitStopped(pid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		running, err := runningThreads(pid)
		if err != nil {
			return fmt.Errorf("waiting for beam %d to stop: %w", pid, err)
		}
		if running == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting for beam %d to stop: %d threads still not stopped after %v", pid, running, timeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// runningThreads counts the threads of process pid that are not stopped.
func runningThreads(pid int) (int, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	running := 0
	for _, task := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, task.Name(), "stat"))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // the thread exited
			}
			return 0, err
		}
		// The state is the field after the command, which is in
		// parentheses and may hold spaces.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 >= len(b) {
			return 0, fmt.Errorf("reading %s: no state in %q", task.Name(), b)
		}
		if b[i+2] != 'T' && b[i+2] != 't' {
			running++
		}
	}
	return running, nil
}

// Thaw resumes a frozen broker with SIGCONT.
func (n *Node) Thaw() error { return n.signal(syscall.SIGCONT) }

func (n *Node) signal(sig syscall.Signal) error {
	pid, err := n.Pid()
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("sending %v to beam %d: %w", sig, pid, err)
	}
	return nil
}

// URL returns the AMQP URL of the node for user guest on vhost "/".
func (n *Node) URL() string { return "amqp://guest:guest@" + n.Addr.String() + "/" }

// LogFile returns the path of the node's main log file.
func (n *Node) LogFile() string {
	return filepath.Join(n.Dir, "log", n.NodeName+".log")
}

// Stop kills the node (also when frozen) and everything it started, and removes its directory.
// It is idempotent.
func (n *Node) Stop() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopped {
		return nil
	}
	n.stopped = true
	if n.cmd != nil && n.cmd.Process != nil {
		// beam first, so that its parent (the script's shell) reaps it; then the group.
		if pid, err := n.Pid(); err == nil {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-n.waitDone:
		case <-time.After(10 * time.Second):
		}
	}
	err := killMarked(n.marker, 10*time.Second)
	if n.epmd != nil {
		if e := n.epmd.Stop(); err == nil {
			err = e
		}
	}
	if err == nil && os.Getenv("RABBITTEST_KEEP") == "" {
		os.RemoveAll(n.Dir)
	}
	if err != nil {
		return fmt.Errorf("stopping RabbitMQ node %s: %w", n.NodeName, err)
	}
	return nil
}

func (n *Node) path(name string) string { return filepath.Join(n.Dir, name) }

func (n *Node) tail(name string) string {
	b, _ := os.ReadFile(n.path(name))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// pickPort returns def inside a namespace, else a port that is free on host (all addresses when
// host is empty) right now. It picks from 20000-32767, below Linux's ephemeral range
// (ip_local_port_range starts at 32768): a port the kernel handed out for ":0" goes back into
// that range when the probe closes, where the outgoing connections of tests running in parallel
// (other packages' load tests make thousands) can take it as their source port before the
// broker binds it, and the broker then fails with eaddrinuse.
func pickPort(netns string, def uint16, host string) (uint16, error) {
	if netns != "" {
		return def, nil
	}
	var err error
	for range 100 {
		port := uint16(20000 + mrand.IntN(12768))
		var l net.Listener
		l, err = net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(int(port))))
		if err != nil {
			continue
		}
		l.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no free port in 20000-32767: %w", err)
}

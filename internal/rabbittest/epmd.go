package rabbittest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// EPMD is an Erlang port mapper daemon run in the foreground by this package, so that stopping it
// is killing one process. Share one between the nodes of a cluster in the root namespace
// (Options.EPMD); nodes without one start their own.
type EPMD struct {
	// Port is the TCP port epmd listens on (ERL_EPMD_PORT of its nodes).
	Port uint16
	// NetNS is the namespace it runs in ("" = root).
	NetNS string

	marker string
	cmd    *exec.Cmd
	done   chan struct{}

	mu      sync.Mutex
	stopped bool
}

// StartEPMD starts an epmd in netns ("" = root namespace) on port (0 = a free port in the root
// namespace, 4369 in a namespace). The caller owns it and must call Stop after its nodes.
func StartEPMD(netns string, port uint16) (*EPMD, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if port == 0 {
		p, err := pickPort(netns, 4369, "")
		if err != nil {
			return nil, fmt.Errorf("starting epmd: %w", err)
		}
		port = p
	}
	return startEPMD(netns, port, markerPrefix()+"epmd-"+randHex(8))
}

func startEPMD(netns string, port uint16, marker string) (*EPMD, error) {
	args := []string{EPMDBin, "-port", strconv.Itoa(int(port))}
	if netns != "" {
		args = append([]string{"ip", "netns", "exec", netns}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "ERL_EPMD_PORT="+strconv.Itoa(int(port)), markerEnv+"="+marker)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := startOwned(cmd); err != nil {
		return nil, fmt.Errorf("starting epmd on port %d: %w", port, err)
	}
	e := &EPMD{Port: port, NetNS: netns, marker: marker, cmd: cmd, done: make(chan struct{})}
	go func() {
		waitOwned(cmd)
		close(e.done)
	}()
	// Wait until it listens (only checkable from the root namespace; in a namespace epmd binds
	// within milliseconds and erl retries its registration anyway).
	if netns == "" {
		deadline := time.Now().Add(5 * time.Second)
		for {
			c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))), time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-e.done:
				return nil, fmt.Errorf("starting epmd on port %d: exited early", port)
			default:
			}
			if time.Now().After(deadline) {
				e.Stop()
				return nil, fmt.Errorf("starting epmd on port %d: %w", port, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	} else {
		time.Sleep(100 * time.Millisecond)
	}
	return e, nil
}

// Stop kills epmd. It is idempotent.
func (e *EPMD) Stop() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return nil
	}
	e.stopped = true
	syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-e.done:
	case <-time.After(5 * time.Second):
	}
	if err := killMarked(e.marker, 5*time.Second); err != nil {
		return fmt.Errorf("stopping epmd on port %d: %w", e.Port, err)
	}
	return nil
}

package rabbittest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ctlMarkerEnv marks rabbitmqctl processes of a node: they are children that os/exec waits
// for, so killMarked must not reap them.
const ctlMarkerEnv = "RMQLB_RABBITTEST_CTL"

var subreaperOnce sync.Once

// owned holds the pids of the children that os/exec waits for: a node's
// server, an epmd, a CLI tool's run, of every node of this process. A
// reap (reapErlangOrphans, killMarked) never takes one of them, whichever
// node it runs for: rabbitmqctl runs as beam.smp, and a reap of another
// node's orphans could otherwise take a run that has just exited, whose
// Wait then fails with ECHILD. The mutex is held by a start until the
// child's pid is in pids and by a reap from its scan to its last wait4,
// so that no reap falls between the two. A process-wide set, as the
// subreaper setting is.
var owned = struct {
	sync.Mutex
	pids map[int]bool
}{pids: map[int]bool{}}

// startOwned starts cmd and adds its pid to owned; waitOwned waits for
// it and then removes it.
func startOwned(cmd *exec.Cmd) error {
	owned.Lock()
	defer owned.Unlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	owned.pids[cmd.Process.Pid] = true
	return nil
}

// waitOwned waits for cmd, which startOwned started, and removes it from
// owned.
func waitOwned(cmd *exec.Cmd) error {
	err := cmd.Wait()
	owned.Lock()
	delete(owned.pids, cmd.Process.Pid)
	owned.Unlock()
	return err
}

// becomeSubreaper makes this process the reaper of orphaned descendants. Killing beam.smp
// orphans erl_child_setup and inet_gethost (they run in sessions of their own); without it they
// would be reparented to PID 1, which on some machines (micro-VM inits) never reaps, and stay
// zombies named beam.smp/erl_child_setup for ever. killMarked reaps them instead.
func becomeSubreaper() {
	subreaperOnce.Do(func() { unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) })
}

// killMarked SIGKILLs every process whose environment holds markerEnv=marker, reaps those that
// were orphaned to this process and waits until none is left or timeout passes. Processes that
// os/exec waits for (owned) are left to their Wait; only zombies that were seen alive with the
// marker are reaped, so exec.Cmd children of other code are never stolen.
func killMarked(marker string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	seen := map[int]bool{}
	defer reapErlangOrphans()
	for {
		var left []proc
		for _, p := range scanProcs(markerEnv + "=" + marker) {
			if p.marked {
				seen[p.pid] = true
			}
			if !seen[p.pid] {
				continue
			}
			if p.zombie {
				if p.ppid == os.Getpid() {
					owned.Lock()
					if !owned.pids[p.pid] {
						var ws syscall.WaitStatus
						syscall.Wait4(p.pid, &ws, syscall.WNOHANG, nil)
						left = append(left, p)
					}
					owned.Unlock()
				}
				continue
			}
			left = append(left, p)
			syscall.Kill(p.pid, syscall.SIGKILL)
		}
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v survived SIGKILL", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// erlangComms are the command names of the processes an Erlang VM leaves behind as orphans.
var erlangComms = map[string]bool{"beam.smp": true, "erl_child_setup": true, "inet_gethost": true, "epmd": true}

// reapErlangOrphans reaps zombie children of this process (a subreaper, see becomeSubreaper)
// named like Erlang's helper processes: orphans of rabbitmqctl runs and of killed nodes, and
// never a child that os/exec waits for (owned).
func reapErlangOrphans() {
	owned.Lock()
	defer owned.Unlock()
	for _, p := range scanProcs("\x00") {
		if p.zombie && p.ppid == os.Getpid() && erlangComms[p.comm] && !owned.pids[p.pid] {
			var ws syscall.WaitStatus
			syscall.Wait4(p.pid, &ws, syscall.WNOHANG, nil)
		}
	}
}

type proc struct {
	comm      string
	pid, ppid int
	zombie    bool
	marked    bool // environ holds the wanted prefix (never true for zombies: no environ)
}

func (p proc) String() string { return fmt.Sprintf("%d(ppid %d, zombie %v)", p.pid, p.ppid, p.zombie) }

// scanProcs lists live processes whose environment contains an entry starting with want
// ("VAR=value...") and every zombie (whose environ is empty).
func scanProcs(want string) []proc {
	ents, _ := os.ReadDir("/proc")
	var out []proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		j := bytes.IndexByte(stat, '(')
		if j < 0 || j > i {
			continue
		}
		p := proc{comm: string(stat[j+1 : i]), pid: pid, ppid: ppid, zombie: f[0] == "Z"}
		if p.zombie {
			out = append(out, p)
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			if bytes.HasPrefix(kv, []byte(want)) {
				p.marked = true
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// Leftovers lists processes started by Nodes and EPMDs of this process that are still alive:
// tests call it at the end (e.g. in TestMain) to prove Stop left nothing behind.
func Leftovers() []int {
	var pids []int
	for _, w := range []string{markerEnv, ctlMarkerEnv} {
		for _, p := range scanProcs(w + "=" + markerPrefix()) {
			if p.marked {
				pids = append(pids, p.pid)
			}
		}
	}
	return pids
}

// markerPrefix is the start of every marker of this process, so that Leftovers does not see the
// nodes of other test processes running at the same time.
func markerPrefix() string { return "p" + strconv.Itoa(os.Getpid()) + "-" }

package notify

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sys/unix"

	"github.com/rmqlb/rmqlb/internal/clock"
)

// TestRunnerSequences drives the real Runner, over the fake clock and with
// hooks that are real shell scripts, through random sequences of state
// changes, reloads, hook outcomes, Run's start and stop, and checks it
// after every step against a small reference model written from the
// documentation (the package documentation, the doc comments of Runner,
// Notify, SetConfig, Run, Snapshot, Result and Options, README.md's
// "Notify hooks"), not from the code:
//
//   - Notify queues the hook of ev.Kind configured at that moment (its
//     argument vector and timeout, which a later SetConfig does not
//     change) and returns at once; a change whose kind has no hook is
//     neither queued nor counted. A SetConfig that does not validate
//     changes nothing.
//   - The hooks run one at a time, strictly in the order of the changes
//     queued; none runs before Run. At most QueueLen changes wait (not
//     counting the one running); a change that finds the queue full takes
//     the place of the last one waiting, whose hook is dropped: counted in
//     Snapshot.Dropped and in rmqlb_notify_runs_total{state=the dropped
//     hook's, result="dropped"}, and logged, the first drop of a run of
//     drops as a warning and the next ones at debug level. After Run has
//     returned every change's hook is dropped so.
//   - A hook runs in /, its standard input /dev/null, with exactly the
//     inherited environment (Options.Env, the last value of a duplicated
//     key) plus RMQLB_INSTANCE, RMQLB_STATE, RMQLB_PREV_STATE, RMQLB_VIPS
//     (the prefixes, space separated, of the change as notified: Notify
//     keeps its own copy) and RMQLB_REASON, which replace inherited ones
//     of the same name.
//   - Its outcome: exit status 0 is ok; another status or a signal it sent
//     itself is failed; a hook still running at its timeout on the
//     runner's clock, or that exited while a child of its group keeps its
//     output open, is timeout, and its whole process group is killed; a
//     program that cannot be started is error. Each run is counted once in
//     Snapshot.Runs and in rmqlb_notify_runs_total by state and result;
//     the ones not ok in Failures, with LastError and LastErrorAt (the
//     start); Last is the last finished run with its state, result, error,
//     start and duration on the runner's clock. Snapshot.Queued and
//     Running say what waits and whether a hook runs now; Configured lists
//     the hooks of the configuration now.
//   - The hook's output is logged line by line with its stream, at most
//     MaxOutputLines per run; the rest are counted in one line.
//   - When Run's context is done it runs the hooks still queued and those
//     queued while one of them runs (the stop hook notified just before
//     among them) and then returns; afterwards no process of any hook
//     (the hook or a child of its group) and no goroutine is left.
//
// A hook tells the test its process ids and which hook it is through one
// named pipe, and then waits for the test's command through another; the
// test reads its environment (/proc/PID/environ, what execve got), working
// directory and standard input meanwhile. The commands: exit with a status, kill itself with a signal,
// print lines and exit, exit leaving a child that holds its output, or
// nothing (it hangs until its timeout).
// A hook configured with a child starts one (sleep) before it reports.
//
// Each sequence's seed is logged on failure; -notifyseq.seed replays one
// with its trace, -notifyseq.runs and -notifyseq.steps run more and longer
// ones:
//
//	go test ./notify -run TestRunnerSequences -notifyseq.runs=1000
//	go test ./notify -run TestRunnerSequences -notifyseq.seed=17
var (
	nsSeed  = flag.Uint64("notifyseq.seed", 0, "run the notify runner sequence of this seed only, with its trace")
	nsFirst = flag.Uint64("notifyseq.first", 1, "first seed of the notify runner sequences")
	nsRuns  = flag.Int("notifyseq.runs", 20, "notify runner sequences to run")
	nsSteps = flag.Int("notifyseq.steps", 40, "steps per notify runner sequence")
	nsTail  = flag.Int("notifyseq.tail", 120, "lines of a failing sequence's trace printed (0: all)")
)

func TestRunnerSequences(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	if *nsSeed != 0 {
		res := runNSSequence(*nsSeed, *nsSteps, ignore)
		t.Logf("seed %d trace:\n%s", *nsSeed, strings.Join(res.trace, "\n"))
		if res.err != "" {
			t.Fatalf("seed %d: %s", *nsSeed, res.err)
		}
		t.Logf("stats: %s", res.stats)
		return
	}
	total := nsStats{}
	for i := range *nsRuns {
		seed := *nsFirst + uint64(i)
		res := runNSSequence(seed, *nsSteps, ignore)
		total.add(res.stats)
		if res.err != "" {
			tr := res.trace
			if n := *nsTail; n > 0 && len(tr) > n {
				tr = append([]string{fmt.Sprintf("(%d lines before)", len(tr)-n)}, tr[len(tr)-n:]...)
			}
			t.Fatalf("seed %d: %s (replay with -notifyseq.seed=%d)\ntrace:\n%s", seed, res.err, seed, strings.Join(tr, "\n"))
		}
	}
	t.Logf("seeds %d..%d: %s", *nsFirst, *nsFirst+uint64(*nsRuns)-1, total)
}

// nsStats counts what the sequences exercised.
type nsStats struct {
	seqs, steps, notifies, reloads, badReloads, ticks, killedChildren int
	results                                                           map[Result]int
	outputLines, droppedAfterStop                                     int
}

func (s *nsStats) add(o nsStats) {
	s.seqs += o.seqs
	s.steps += o.steps
	s.notifies += o.notifies
	s.reloads += o.reloads
	s.badReloads += o.badReloads
	s.ticks += o.ticks
	s.killedChildren += o.killedChildren
	s.outputLines += o.outputLines
	s.droppedAfterStop += o.droppedAfterStop
	if s.results == nil {
		s.results = map[Result]int{}
	}
	for k, v := range o.results {
		s.results[k] += v
	}
}

func (s nsStats) String() string {
	return fmt.Sprintf("%d sequences, %d steps, %d notifies, %d reloads (%d refused), %d ticks; results ok %d failed %d timeout %d error %d dropped %d (%d after stop); %d children killed with their group, %d output lines",
		s.seqs, s.steps, s.notifies, s.reloads, s.badReloads, s.ticks,
		s.results[ResultOK], s.results[ResultFailed], s.results[ResultTimeout], s.results[ResultError], s.results[ResultDropped], s.droppedAfterStop,
		s.killedChildren, s.outputLines)
}

type nsResult struct {
	err   string
	trace []string
	stats nsStats
}

// nsHookScript is the hook of the sequences: $1 the directory of the
// pipes, $2 the hook's tag (which configuration and kind), $3 1 to start
// a child first. It reports "PID CHILD" and its tag, then runs the test's
// command. It uses the shell's builtins only (but for its child), so that
// a run costs one process.
const nsHookScript = `exec 3<&0 # its standard input, for the test: the read below redirects 0
d=$1
child=
if [ "$3" = 1 ]; then sleep 1000 & child=$!; fi
echo "$$ $child
$2" > "$d/hello"
read cmd a b < "$d/cmd"
reap() { if [ -n "$child" ]; then kill $child; { wait $child; } 2>/dev/null; fi; }
case $cmd in
exit) reap; exit $a;;
sig) reap; kill -$a $$; sleep 1000;;
leave) exit $a;;
print)
	reap
	i=0; while [ $i -lt $a ]; do echo "out $i"; i=$((i+1)); done
	i=0; while [ $i -lt $b ]; do echo "err $i" >&2; i=$((i+1)); done
	exit 0;;
esac
exit 99
`

// nsProg is what a configured hook's program is.
type nsProg uint8

const (
	nsScript  nsProg = iota // the hook script, without a child
	nsChild                 // the hook script, starting a child
	nsMissing               // a path that does not exist: error
	nsNoExec                // a file without execute bit: error
)

// nsJob is a change queued in the model: the event and the hook
// configured when it was notified.
type nsJob struct {
	ev      Event
	argv    []string
	prog    nsProg
	timeout time.Duration
}

// nsRun is the hook the model runs now.
type nsRun struct {
	job      nsJob
	start    time.Time
	hello    bool     // the hook has reported
	pids     []int    // the hook and its child
	pidfds   []int    // pidfds of pids
	left     bool     // it exited (with leftStatus), its child holds the output
	leftCode int      // its exit status
	out, err int      // lines printed on stdout and stderr
	printed  bool     // a print command was sent
	outcome  *RunInfo // set when the test's command decided it (not a timeout)
}

// nsLog is a log entry the model expects (drops), in order.
type nsLog struct {
	level zapcore.Level
	state string
	why   string
}

type nsSeq struct {
	r     *rand.Rand
	steps int // steps of the sequence
	trace []string
	stats nsStats

	dir       string
	hook      string
	noexec    string
	helloF    *os.File
	hello     *bufio.Reader
	cmdF      *os.File
	clk       *clock.Fake
	reg       *prometheus.Registry
	logs      *observer.ObservedLogs
	logSeen   int
	runner    *Runner
	ctx       context.Context
	cancel    context.CancelFunc
	runDone   chan error
	gen       int
	env       []string
	maxQueue  int
	allPidfds []int // every pid seen, closed at the end

	// The model.
	cfg      Config
	progs    map[Kind]nsProg
	queue    []nsJob
	running  *nsRun
	started  bool
	stopped  bool
	closed   bool
	dropping bool
	snap     Snapshot
	metrics  map[string]float64 // "state,result"
	dropLogs []nsLog

	expectOutput   []*nsRun // finished runs whose output checkLogs checks
	badConfigTaken bool     // SetConfig took an invalid configuration or refused a valid one
}

func (s *nsSeq) logf(format string, args ...any) {
	s.trace = append(s.trace, fmt.Sprintf("%v ", s.clk.Now().Sub(t0))+fmt.Sprintf(format, args...))
}

func runNSSequence(seed uint64, steps int, ignore goleak.Option) (res nsResult) {
	s := &nsSeq{r: rand.New(rand.NewPCG(seed, 0x4e07)), clk: clock.NewFake(t0), reg: prometheus.NewRegistry(),
		metrics: map[string]float64{}, progs: map[Kind]nsProg{}}
	s.stats.seqs = 1
	s.stats.results = map[Result]int{}
	err := s.run(steps)
	cerr := s.cleanup(err != nil)
	if err == nil && cerr != nil {
		err = cerr
	}
	if err == nil {
		if lerr := goleak.Find(ignore); lerr != nil {
			err = fmt.Errorf("goroutines left after Run returned: %w", lerr)
		}
	}
	res.trace, res.stats = s.trace, s.stats
	if err != nil {
		res.err = err.Error()
	}
	return res
}

// setup makes the pipes, the programs and the runner.
func (s *nsSeq) setup() error {
	var err error
	if s.dir, err = os.MkdirTemp("", "notifyseq"); err != nil {
		return err
	}
	s.hook = filepath.Join(s.dir, "hook")
	if err := os.WriteFile(s.hook, []byte("#!/bin/sh\n"+nsHookScript), 0o755); err != nil {
		return err
	}
	s.noexec = filepath.Join(s.dir, "noexec")
	if err := os.WriteFile(s.noexec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		return err
	}
	// The test holds both pipes open for reading and writing: a hook's
	// open never waits, and the test reads with a deadline.
	for _, p := range []struct {
		name string
		f    **os.File
	}{{"hello", &s.helloF}, {"cmd", &s.cmdF}} {
		path := filepath.Join(s.dir, p.name)
		if err := unix.Mkfifo(path, 0o600); err != nil {
			return err
		}
		if *p.f, err = os.OpenFile(path, os.O_RDWR, 0); err != nil {
			return err
		}
	}
	s.hello = bufio.NewReader(s.helloF)

	s.env = []string{"PATH=/usr/bin:/bin"}
	for _, e := range []string{"LANG=C", "RMQLB_STATE=stale", "RMQLB_VIPS=stale", "RMQLB_EXTRA=kept", "DUP=first", "DUP=last", "EMPTY="} {
		if s.r.IntN(2) == 0 {
			s.env = append(s.env, e)
		}
	}
	s.maxQueue = 1 + s.r.IntN(4)
	qlen := s.maxQueue
	if s.maxQueue == 4 && s.r.IntN(2) == 0 {
		s.maxQueue, qlen = DefaultQueueLen, 0
	}
	s.cfg = s.randConfig()
	core, logs := observer.New(zap.DebugLevel)
	s.logs = logs
	s.logf("queue %d env %q config %s", s.maxQueue, s.env, s.cfgString(s.cfg))
	s.runner, err = NewRunner("v", s.cfg, Options{Logger: zap.New(core), Clock: s.clk, Registerer: s.reg, Env: s.env, QueueLen: qlen})
	if err != nil {
		return err
	}
	for _, k := range Kinds {
		for _, res := range []Result{ResultOK, ResultFailed, ResultTimeout, ResultError, ResultDropped} {
			s.metrics[k.Key()+","+string(res)] = 0
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.runDone = make(chan error, 1)
	return nil
}

// randConfig draws a configuration; its programs' kinds go to s.progs
// when it is applied.
func (s *nsSeq) randConfig() Config {
	s.gen++
	var c Config
	for _, k := range Kinds {
		var argv []string
		switch n := s.r.IntN(20); {
		case n < 3:
		case n < 5:
			argv = []string{filepath.Join(s.dir, fmt.Sprintf("missing-%d", s.gen))}
		case n < 6:
			argv = []string{s.noexec, "x"}
		case n < 13:
			argv = []string{s.hook, s.dir, fmt.Sprintf("g%d-%s", s.gen, k.Key()), "0"}
		default:
			argv = []string{s.hook, s.dir, fmt.Sprintf("g%d-%s", s.gen, k.Key()), "1"}
		}
		switch k {
		case Master:
			c.Master = argv
		case Backup:
			c.Backup = argv
		case Fault:
			c.Fault = argv
		case Stop:
			c.Stop = argv
		}
	}
	c.Timeout = []time.Duration{0, time.Millisecond, time.Second, 2500 * time.Millisecond, MaxTimeout}[s.r.IntN(5)]
	return c
}

// progOf returns what argv runs.
func (s *nsSeq) progOf(argv []string) nsProg {
	switch {
	case argv[0] == s.noexec:
		return nsNoExec
	case argv[0] != s.hook:
		return nsMissing
	case argv[3] == "1":
		return nsChild
	}
	return nsScript
}

func (s *nsSeq) cfgString(c Config) string {
	var b strings.Builder
	for _, k := range Kinds {
		argv := c.Argv(k)
		switch {
		case argv == nil:
			fmt.Fprintf(&b, "%s:- ", k.Key())
		case len(argv) == 0:
			fmt.Fprintf(&b, "%s:[] ", k.Key())
		case argv[0] == s.hook:
			fmt.Fprintf(&b, "%s:%s/child=%s ", k.Key(), argv[2], argv[3])
		default:
			fmt.Fprintf(&b, "%s:%s ", k.Key(), filepath.Base(argv[0]))
		}
	}
	fmt.Fprintf(&b, "timeout %v", c.Timeout)
	return b.String()
}

func (s *nsSeq) run(steps int) error {
	if err := s.setup(); err != nil {
		return fmt.Errorf("setting up: %w", err)
	}
	if s.r.IntN(3) > 0 {
		s.start()
	}
	s.steps = steps
	for i := 0; i < steps; i++ {
		s.stats.steps++
		if err := s.step(); err != nil {
			return err
		}
		if err := s.settle(); err != nil {
			return err
		}
	}
	// The end, as the daemon's: the stop hook, then Run's context done;
	// the hooks still queued run, then Run returns.
	if !s.started {
		s.start()
	}
	if s.r.IntN(5) > 0 {
		s.notify(Event{Kind: Stop, Prev: "MASTER", Reason: "shutdown", VIPs: s.randVIPs()})
	}
	if !s.stopped {
		s.stop()
	}
	if err := s.settle(); err != nil {
		return err
	}
	for n := 0; !s.closed; n++ {
		if n > 1000 {
			return errors.New("the hooks do not end")
		}
		if s.running == nil {
			return errors.New("model: not closed, but nothing runs")
		}
		if s.r.IntN(4) == 0 || s.running.left {
			if err := s.timeout(); err != nil {
				return err
			}
		} else if err := s.finish(); err != nil {
			return err
		}
		if err := s.settle(); err != nil {
			return err
		}
	}
	// Closed: every change is dropped.
	s.notify(Event{Kind: Kinds[s.r.IntN(len(Kinds))], Prev: "BACKUP", Reason: "late"})
	return s.settle()
}

func (s *nsSeq) start() {
	s.logf("Run")
	s.started = true
	go func() { s.runDone <- s.runner.Run(s.ctx) }()
}

func (s *nsSeq) stop() {
	s.logf("stop (Run's context done)")
	s.stopped = true
	s.cancel()
}

// step does one random thing.
func (s *nsSeq) step() error {
	run := s.running
	for {
		switch n := s.r.IntN(100); {
		case n < 40:
			s.notify(s.randEvent())
			return nil
		case n < 60:
			if run == nil || run.left {
				continue
			}
			return s.finish()
		case n < 67:
			if run == nil {
				continue
			}
			return s.timeout()
		case n < 77:
			return s.tick()
		case n < 89:
			s.reload()
			return nil
		case n < 97:
			if s.started {
				continue
			}
			s.start()
			return nil
		default:
			// Mostly near the end: after a stop every change is dropped.
			if s.stopped || s.r.IntN(3) > 0 || s.stats.steps < s.steps*2/3 {
				continue
			}
			s.stop()
			return nil
		}
	}
}

var nsReasons = []string{"startup", "shutdown", "priority 0 advertisement received", "higher priority advertisement received",
	"link down on eth0", "", "a=b c=d", "naïve 'quoted' \"reason\" $HOME `x`"}

func (s *nsSeq) randVIPs() []netip.Prefix {
	all := []netip.Prefix{netip.MustParsePrefix("10.9.0.100/24"), netip.MustParsePrefix("10.9.0.101/32"),
		netip.MustParsePrefix("fd00::1/64"), netip.MustParsePrefix("192.168.1.100/24")}
	n := s.r.IntN(len(all) + 1)
	s.r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	return all[:n]
}

func (s *nsSeq) randEvent() Event {
	prev := []string{"INIT", "BACKUP", "MASTER", "FAULT"}
	return Event{Kind: Kinds[s.r.IntN(len(Kinds))], Prev: prev[s.r.IntN(len(prev))], Reason: nsReasons[s.r.IntN(len(nsReasons))], VIPs: s.randVIPs(), Priority: s.r.IntN(256)}
}

// notify notifies ev to the runner and the model.
func (s *nsSeq) notify(ev Event) {
	s.stats.notifies++
	s.logf("Notify %s prev %s reason %q vips %v", ev.Kind, ev.Prev, ev.Reason, ev.VIPs)
	vips := slices.Clone(ev.VIPs)
	s.runner.Notify(ev)
	// The runner keeps its own copy of the VIPs.
	for i := range ev.VIPs {
		ev.VIPs[i] = netip.MustParsePrefix("127.0.0.1/8")
	}
	ev.VIPs = vips

	argv := s.cfg.Argv(ev.Kind)
	if argv == nil {
		return
	}
	j := nsJob{ev: ev, argv: argv, prog: s.progOf(argv), timeout: s.cfg.Timeout}
	if j.timeout == 0 {
		j.timeout = DefaultTimeout
	}
	if s.closed || len(s.queue) >= s.maxQueue {
		dropped := ev.Kind
		why := "the hooks have stopped"
		if !s.closed {
			dropped = s.queue[len(s.queue)-1].ev.Kind
			s.queue[len(s.queue)-1] = j
			why = "too many state changes wait for their hooks"
		} else {
			s.stats.droppedAfterStop++
		}
		s.logf("  model: %s dropped (%s)", dropped, why)
		s.snap.Dropped++
		s.count(dropped, ResultDropped)
		lvl := zapcore.DebugLevel
		if !s.dropping {
			lvl = zapcore.WarnLevel
		}
		s.dropping = true
		s.dropLogs = append(s.dropLogs, nsLog{level: lvl, state: dropped.String(), why: why})
		return
	}
	s.dropping = false
	s.queue = append(s.queue, j)
}

func (s *nsSeq) count(k Kind, res Result) {
	s.metrics[k.Key()+","+string(res)]++
	s.stats.results[res]++
}

// reload gives the runner a new configuration, or one that does not
// validate.
func (s *nsSeq) reload() {
	s.stats.reloads++
	if s.r.IntN(6) == 0 {
		s.stats.badReloads++
		bad := s.randConfig()
		switch s.r.IntN(3) {
		case 0:
			bad.Master = []string{"hook"}
		case 1:
			bad.Timeout = MaxTimeout + time.Second
		default:
			bad.Stop = []string{}
		}
		err := s.runner.SetConfig(bad)
		s.logf("SetConfig (invalid) %s: %v", s.cfgString(bad), err)
		if err == nil {
			s.trace = append(s.trace, "  SetConfig took an invalid configuration")
			s.badConfigTaken = true
		}
		return
	}
	c := s.randConfig()
	s.logf("SetConfig %s", s.cfgString(c))
	if err := s.runner.SetConfig(c); err != nil {
		s.logf("  SetConfig: %v", err)
		s.badConfigTaken = true
		return
	}
	// The runner keeps its own copy.
	mine := c.clone()
	if c.Master != nil {
		c.Master[0] = "/changed"
	}
	s.cfg = mine
}

// finish sends the running hook a command.
func (s *nsSeq) finish() error {
	run := s.running
	var cmd string
	var info RunInfo
	prefix := fmt.Sprintf("running notify %s hook %s: ", run.job.ev.Kind.Key(), run.job.argv[0])
	switch n := s.r.IntN(10); {
	case n < 3:
		cmd = "exit 0"
		info.Result = ResultOK
	case n < 5:
		code := 1 + s.r.IntN(120)
		cmd = fmt.Sprintf("exit %d", code)
		info.Result, info.Error = ResultFailed, prefix+fmt.Sprintf("exit status %d", code)
	case n < 6:
		sig := []string{"TERM", "KILL", "HUP"}[s.r.IntN(3)]
		if sig == "HUP" && signal.Ignored(syscall.SIGHUP) {
			// Started under nohup: the hook inherits SIGHUP ignored,
			// which a shell cannot undo, and would not die of it.
			sig = "TERM"
		}
		cmd = "sig " + sig
		info.Result, info.Error = ResultFailed, prefix+"signal: "+map[string]string{"TERM": "terminated", "KILL": "killed", "HUP": "hangup"}[sig]
	case n < 8:
		run.out, run.err = s.r.IntN(70), s.r.IntN(70)
		run.printed = true
		cmd = fmt.Sprintf("print %d %d", run.out, run.err)
		info.Result = ResultOK
	default:
		code := []int{0, 0, 3}[s.r.IntN(3)]
		if run.job.prog != nsChild {
			cmd = fmt.Sprintf("exit %d", code)
			info.Result = ResultOK
			if code != 0 {
				info.Result, info.Error = ResultFailed, prefix+fmt.Sprintf("exit status %d", code)
			}
			break
		}
		// It exits, its child holds its output: it runs until its
		// timeout.
		cmd = fmt.Sprintf("leave %d", code)
		run.left, run.leftCode = true, code
	}
	s.logf("command %q to the %s hook", cmd, run.job.ev.Kind)
	if _, err := s.cmdF.WriteString(cmd + "\n"); err != nil {
		return fmt.Errorf("writing the command: %w", err)
	}
	if run.left {
		// The hook itself exits; wait for it, so that the timeout
		// finds it exited.
		if err := waitPidfd(run.pidfds[0], 5*time.Second); err != nil {
			return fmt.Errorf("the %s hook (pid %d) told to exit: %w", run.job.ev.Kind, run.pids[0], err)
		}
		return nil
	}
	info.State, info.Started, info.Duration = run.job.ev.Kind.String(), run.start, s.clk.Now().Sub(run.start)
	run.outcome = &info
	return s.finished(info)
}

// timeout moves the clock to the running hook's deadline.
func (s *nsSeq) timeout() error {
	run := s.running
	deadline := run.start.Add(run.job.timeout)
	if err := s.waitArmed(deadline); err != nil {
		return err
	}
	s.logf("timeout of the %s hook: clock to %v", run.job.ev.Kind, deadline.Sub(t0))
	s.clk.Set(deadline)
	prefix := fmt.Sprintf("running notify %s hook %s: ", run.job.ev.Kind.Key(), run.job.argv[0])
	info := RunInfo{State: run.job.ev.Kind.String(), Result: ResultTimeout, Started: run.start, Duration: run.job.timeout}
	if run.left {
		info.Error = prefix + fmt.Sprintf("exited (exit status %d) but its output stayed open until the timeout of %v: process group killed", run.leftCode, run.job.timeout)
	} else {
		info.Error = prefix + fmt.Sprintf("timed out after %v: process group killed", run.job.timeout)
	}
	if run.job.prog == nsChild {
		s.stats.killedChildren++
	}
	return s.finished(info)
}

// tick moves the clock, short of the running hook's deadline.
func (s *nsSeq) tick() error {
	s.stats.ticks++
	d := time.Duration(1+s.r.IntN(3000)) * time.Millisecond
	if run := s.running; run != nil {
		deadline := run.start.Add(run.job.timeout)
		if err := s.waitArmed(deadline); err != nil {
			return err
		}
		left := deadline.Sub(s.clk.Now())
		if left <= time.Millisecond {
			return nil
		}
		d = min(d, left-time.Millisecond)
	}
	s.logf("tick %v", d)
	s.clk.Advance(d)
	return nil
}

// waitArmed waits until the runner's timer of the running hook is armed
// for deadline.
func (s *nsSeq) waitArmed(deadline time.Time) error {
	limit := time.After(5 * time.Second)
	for {
		ch := s.clk.Changed()
		if slices.ContainsFunc(s.clk.Armed(), deadline.Equal) {
			return nil
		}
		select {
		case <-ch:
		case <-limit:
			return fmt.Errorf("no timer armed for the deadline %v of the %s hook (armed: %v)", deadline.Sub(t0), s.running.job.ev.Kind, s.clk.Armed())
		}
	}
}

// finished records the end of the running hook in the model and checks
// that its processes are gone.
func (s *nsSeq) finished(info RunInfo) error {
	run := s.running
	s.record(run.job, info)
	s.running = nil
	for i, fd := range run.pidfds {
		if err := waitPidfd(fd, 5*time.Second); err != nil {
			return fmt.Errorf("process %d of the %s hook (%s): %w", run.pids[i], run.job.ev.Kind, info.Result, err)
		}
	}
	if run.printed {
		s.expectOutput = append(s.expectOutput, run)
	}
	return nil
}

// record counts a finished run in the model.
func (s *nsSeq) record(j nsJob, info RunInfo) {
	s.logf("  model: %s hook %s %s", j.ev.Kind, info.Result, info.Error)
	s.snap.Runs++
	if info.Result != ResultOK {
		s.snap.Failures++
		s.snap.LastError, s.snap.LastErrorAt = info.Error, info.Started
	}
	s.snap.Last = &info
	s.count(j.ev.Kind, info.Result)
}

// settle lets the runner catch up with the model: it starts the queued
// hooks the model says start now (those that cannot be started finish at
// once), reads the report of the one that runs, then waits until the
// runner's snapshot and metrics are the model's, and checks the logs.
func (s *nsSeq) settle() error {
	if s.badConfigTaken {
		return errors.New("SetConfig took a configuration that does not validate, or refused a valid one")
	}
	for s.started && s.running == nil && len(s.queue) > 0 {
		j := s.queue[0]
		s.queue = s.queue[1:]
		now := s.clk.Now()
		switch j.prog {
		case nsMissing, nsNoExec:
			why := "no such file or directory"
			if j.prog == nsNoExec {
				why = "permission denied"
			}
			s.record(j, RunInfo{State: j.ev.Kind.String(), Result: ResultError, Started: now,
				Error: fmt.Sprintf("running notify %s hook %s: fork/exec %s: %s", j.ev.Kind.Key(), j.argv[0], j.argv[0], why)})
			continue
		}
		s.running = &nsRun{job: j, start: now}
		if err := s.readHello(); err != nil {
			return err
		}
	}
	if s.started && s.stopped && s.running == nil && len(s.queue) == 0 && !s.closed {
		select {
		case err := <-s.runDone:
			s.logf("Run returned: %v", err)
			if err != nil {
				return fmt.Errorf("run returned %w", err)
			}
			s.closed = true
		case <-time.After(5 * time.Second):
			return errors.New("Run did not return within 5 s of its context's end with nothing to run")
		}
	}
	if err := s.checkSnapshot(); err != nil {
		return err
	}
	return s.checkLogs()
}

// readHello reads the running hook's report and checks that it is the
// hook the model runs, with the environment of its change.
func (s *nsSeq) readHello() error {
	run := s.running
	if err := s.helloF.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return err
	}
	readLine := func() (string, error) {
		l, err := s.hello.ReadString('\n')
		if err != nil {
			return "", fmt.Errorf("no report of the %s hook (%v) that the model runs: %w", run.job.ev.Kind, run.job.argv, err)
		}
		return strings.TrimSuffix(l, "\n"), nil
	}
	pids, err := readLine()
	if err != nil {
		return err
	}
	tag, err := readLine()
	if err != nil {
		return err
	}
	run.hello = true
	for _, f := range strings.Fields(pids) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			return fmt.Errorf("report of the %s hook: pid %q", run.job.ev.Kind, f)
		}
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			return fmt.Errorf("pidfd of %d: %w", pid, err)
		}
		run.pids, run.pidfds = append(run.pids, pid), append(run.pidfds, fd)
		s.allPidfds = append(s.allPidfds, fd)
	}
	s.logf("  %s hook %s runs: pids %v", run.job.ev.Kind, tag, run.pids)
	// The hook waits for its command: what it runs with is in /proc.
	proc := fmt.Sprintf("/proc/%d/", run.pids[0])
	environ, err := os.ReadFile(proc + "environ")
	if err != nil {
		return fmt.Errorf("the environment of the %s hook: %w", run.job.ev.Kind, err)
	}
	var envs []string
	if len(environ) > 0 {
		envs = strings.Split(strings.TrimSuffix(string(environ), "\x00"), "\x00")
	}
	cwd, err := os.Readlink(proc + "cwd")
	if err != nil {
		return fmt.Errorf("the working directory of the %s hook: %w", run.job.ev.Kind, err)
	}
	stdin, err := os.Readlink(proc + "fd/3")
	if err != nil {
		return fmt.Errorf("the standard input of the %s hook: %w", run.job.ev.Kind, err)
	}
	if want := run.job.argv[2]; tag != want {
		return fmt.Errorf("the hook %s runs, the model runs %s (%s, %q)", tag, want, run.job.ev.Kind, run.job.ev.Reason)
	}
	if cwd != "/" || stdin != "/dev/null" {
		return fmt.Errorf("the %s hook's working directory is %s and standard input %s, want / and /dev/null", run.job.ev.Kind, cwd, stdin)
	}
	if want := 1 + btoi(run.job.prog == nsChild); len(run.pids) != want {
		return fmt.Errorf("the %s hook reported pids %q", run.job.ev.Kind, pids)
	}
	// The environment: exactly the inherited one (the last value of a
	// key) and the RMQLB_ variables, each key once.
	vips := make([]string, len(run.job.ev.VIPs))
	for i, p := range run.job.ev.VIPs {
		vips[i] = p.String()
	}
	want := map[string]string{}
	for _, e := range append(slices.Clone(s.env),
		"RMQLB_INSTANCE=v", "RMQLB_STATE="+run.job.ev.Kind.String(), "RMQLB_PREV_STATE="+run.job.ev.Prev,
		"RMQLB_VIPS="+strings.Join(vips, " "), "RMQLB_REASON="+run.job.ev.Reason, "RMQLB_PRIORITY="+strconv.Itoa(run.job.ev.Priority)) {
		k, v, _ := strings.Cut(e, "=")
		want[k] = v
	}
	got := map[string]string{}
	for _, e := range envs {
		k, v, _ := strings.Cut(e, "=")
		if _, dup := got[k]; dup {
			return fmt.Errorf("the %s hook's environment has %s twice: %q", run.job.ev.Kind, k, envs)
		}
		got[k] = v
	}
	if !mapsEqual(got, want) {
		return fmt.Errorf("the %s hook's environment is\n%q\nwant\n%v", run.job.ev.Kind, envs, want)
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// waitPidfd waits until the process of pidfd has exited.
func waitPidfd(fd int, within time.Duration) error {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	deadline := time.Now().Add(within)
	for {
		n, err := unix.Poll(fds, int(time.Until(deadline).Milliseconds())+1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("polling its pidfd: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("still runs %v after its run ended", within)
		}
		return nil
	}
}

// checkSnapshot waits until the runner's snapshot and metrics are the
// model's.
func (s *nsSeq) checkSnapshot() error {
	want := s.snap
	for _, k := range Kinds {
		if s.cfg.Argv(k) != nil {
			want.Configured = append(want.Configured, k.Key())
		}
	}
	want.Queued = len(s.queue)
	want.Running = s.running != nil
	wantS := snapString(want)
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := s.runner.Snapshot()
		gotS := snapString(got)
		var gotM map[string]float64
		if gotS == wantS {
			all, err := gatherRuns(s.reg)
			if err != nil {
				return err
			}
			gotM = map[string]float64{}
			for k, v := range all {
				gotM[strings.TrimPrefix(k, "v,")] = v
			}
			if fmt.Sprint(gotM) == fmt.Sprint(s.metrics) {
				return nil
			}
		}
		if time.Now().After(deadline) {
			if gotS != wantS {
				return fmt.Errorf("snapshot\n %s\nwant\n %s", gotS, wantS)
			}
			return fmt.Errorf("rmqlb_notify_runs_total\n %v\nwant\n %v", gotM, s.metrics)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

func snapString(s Snapshot) string {
	last := "none"
	if s.Last != nil {
		last = fmt.Sprintf("%+v", *s.Last)
	}
	return fmt.Sprintf("configured %v runs %d failures %d dropped %d queued %d running %v last_error %q at %v last %s",
		s.Configured, s.Runs, s.Failures, s.Dropped, s.Queued, s.Running, s.LastError, s.LastErrorAt, last)
}

// checkLogs checks the new log entries: the drops the model expects, in
// order, and the output of the hooks that printed.
func (s *nsSeq) checkLogs() error {
	all := s.logs.All()
	entries := all[s.logSeen:]
	s.logSeen = len(all)
	var drops []observer.LoggedEntry
	var outputs []observer.LoggedEntry
	var skipped []observer.LoggedEntry
	for _, e := range entries {
		switch {
		case strings.HasPrefix(e.Message, "dropping notify hook"):
			drops = append(drops, e)
		case e.Message == "notify hook output":
			outputs = append(outputs, e)
		case e.Message == "notify hook output: further lines not logged":
			skipped = append(skipped, e)
		}
	}
	if len(drops) != len(s.dropLogs) {
		return fmt.Errorf("%d drops logged, want %d", len(drops), len(s.dropLogs))
	}
	for i, e := range drops {
		m, w := e.ContextMap(), s.dropLogs[i]
		if e.Level != w.level || m["state"] != w.state || m["why"] != w.why || m["vrrp_instance"] != "v" {
			return fmt.Errorf("drop logged at %v %v, want at %v %+v", e.Level, m, w.level, w)
		}
	}
	s.dropLogs = nil
	// Output lines come with the state of their hook and are logged before
	// the run counts as finished.
	var wantSkipped []int64
	for _, run := range s.expectOutput {
		state := run.job.ev.Kind.String()
		var mine []observer.LoggedEntry
		rest := outputs[:0:0]
		for _, e := range outputs {
			if len(mine) < min(run.out+run.err, MaxOutputLines) && e.ContextMap()["state"] == state {
				mine = append(mine, e)
			} else {
				rest = append(rest, e)
			}
		}
		outputs = rest
		total := run.out + run.err
		if len(mine) != min(total, MaxOutputLines) {
			return fmt.Errorf("the %s hook printed %d+%d lines, %d logged", state, run.out, run.err, len(mine))
		}
		s.stats.outputLines += len(mine)
		next := map[string]int{"stdout": 0, "stderr": 0}
		for _, e := range mine {
			m := e.ContextMap()
			stream, _ := m["stream"].(string)
			line, _ := m["line"].(string)
			lvl := zapcore.InfoLevel
			pfx := "out"
			if stream == "stderr" {
				lvl, pfx = zapcore.WarnLevel, "err"
			}
			want := fmt.Sprintf("%s %d", pfx, next[stream])
			if line != want || e.Level != lvl || m["vrrp_instance"] != "v" {
				return fmt.Errorf("the %s hook's output logged %v %v, want %q at %v", state, e.Level, m, want, lvl)
			}
			next[stream]++
		}
		if total > MaxOutputLines {
			wantSkipped = append(wantSkipped, int64(total-MaxOutputLines))
		}
	}
	s.expectOutput = nil
	if len(outputs) > 0 {
		return fmt.Errorf("output logged that no hook printed: %v", outputs[0].ContextMap())
	}
	if len(skipped) != len(wantSkipped) {
		return fmt.Errorf("%d lines of lines not logged, want %d", len(skipped), len(wantSkipped))
	}
	for i, e := range skipped {
		if n := e.ContextMap()["lines"]; n != wantSkipped[i] {
			return fmt.Errorf("%v lines not logged, want %d", n, wantSkipped[i])
		}
	}
	return nil
}

// cleanup ends what a sequence left: after a failure it ends Run (every
// hook at its timeout) and kills what is left of the hooks; then it checks
// that no process of a hook runs and removes the files.
func (s *nsSeq) cleanup(failed bool) error {
	var err error
	if s.runner != nil && failed {
		s.cancel()
		if !s.started {
			s.start()
		}
		limit := time.After(10 * time.Second)
	wait:
		for {
			select {
			case <-s.runDone:
				break wait
			case <-limit:
				break wait
			case <-time.After(10 * time.Millisecond):
				s.clk.Advance(MaxTimeout)
			}
		}
	}
	for _, fd := range s.allPidfds {
		if failed {
			_ = unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
		}
		if werr := waitPidfd(fd, 5*time.Second); werr != nil && err == nil {
			err = fmt.Errorf("a process of a hook is left: %w", werr)
		}
		unix.Close(fd)
	}
	if s.cancel != nil {
		s.cancel()
	}
	for _, f := range []*os.File{s.helloF, s.cmdF} {
		if f != nil {
			f.Close()
		}
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
	return err
}

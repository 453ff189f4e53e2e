package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/rmqlb/rmqlb/backend"
)

// fault is one kind of failure the soak injects and then repairs. Its
// functions run on the soak's goroutine.
type fault struct {
	// Name is the fault's name on the command line and in the table.
	Name string
	// Desc says what it does, for -h and the table's legend.
	Desc string
	// cut: the fault lasts soakOptions.cut (link cuts), else
	// soakOptions.hold.
	cut bool
	// target picks the host the fault hits in the given cycle (0-based).
	target func(l *lab, cycle int) (string, error)
	// inject breaks it; it may record figures in r.
	inject func(ctx context.Context, l *lab, host string, r *cycleResult) error
	// restore repairs it.
	restore func(ctx context.Context, l *lab, host string, r *cycleResult) error
}

// faults are the soak's faults, in the order they run; "random" (a
// random one of these, on a random host, each cycle) is added by
// faultByName.
var faults = []fault{
	{
		Name: "cut-owner", Desc: "cut the link of the VIP owner's host (with a quorum queue's leader on it every other cycle), restore it", cut: true,
		target: targetOwner, inject: cutLink, restore: restoreLink,
	},
	{
		Name: "cut-other", Desc: "cut the link of a host that does not own the VIP (every other cycle the queue leader's), restore it", cut: true,
		target: targetOther, inject: cutLink, restore: restoreLink,
	},
	{
		Name: "kill-rmqlb", Desc: "SIGKILL the VIP owner's rmqlb, start it again",
		target: targetOwner, inject: signalRmqlb(syscall.SIGKILL), restore: startRmqlb,
	},
	{
		Name: "term-rmqlb", Desc: "SIGTERM the VIP owner's rmqlb (it sends priority 0), start it again",
		target: targetOwner, inject: signalRmqlb(syscall.SIGTERM), restore: startRmqlb,
	},
	{
		Name: "stop-app", Desc: "rabbitmqctl stop_app on a broker (each host in turn), then start_app",
		target: targetRotate, inject: ctlApp("stop_app"), restore: ctlApp("start_app"),
	},
	{
		Name: "freeze-broker", Desc: "SIGSTOP a broker's Erlang VM (each host in turn), then SIGCONT",
		target: targetRotate, inject: freezeBroker, restore: thawBroker,
	},
	{
		Name: "kill-broker", Desc: "kill -9 a broker's Erlang VM (each host in turn), then boot it again",
		target: targetRotate, inject: killBroker, restore: restartBroker,
	},
}

// randomFault is the name of the mixed schedule.
const randomFault = "random"

// faultNames lists the names -faults accepts.
func faultNames() []string {
	var ns []string
	for _, f := range faults {
		ns = append(ns, f.Name)
	}
	return append(ns, randomFault)
}

// faultByName returns the fault called name; "random" is a fault whose
// every cycle is one of the others on a random host (drawRandom).
func faultByName(name string) (fault, bool) {
	for _, f := range faults {
		if f.Name == name {
			return f, true
		}
	}
	if name != randomFault {
		return fault{}, false
	}
	return fault{Name: randomFault, Desc: "each cycle one of the faults above, on a random host"}, true
}

// faultDesc returns the description of the fault called name.
func faultDesc(name string) string {
	f, _ := faultByName(name)
	return f.Desc
}

// drawRandom picks the fault and the cycle number that choose the target
// of a cycle of the random schedule.
func drawRandom(rnd *rand.Rand) (fault, int) {
	return faults[rnd.IntN(len(faults))], rnd.IntN(1 << 20)
}

// targetOwner is the host holding the VIP.
func targetOwner(l *lab, _ int) (string, error) { return l.master() }

// targetOther is a host that does not hold the VIP: in even cycles the
// quorum queue leader's (or mirrored queue master's) host when that is not
// the VIP owner, in odd cycles one that holds neither, when there is one.
func targetOther(l *lab, cycle int) (string, error) {
	owner, err := l.master()
	if err != nil {
		return "", err
	}
	leader := l.queueLeaderHost()
	var others []string
	for _, b := range l.layout.Brokers {
		if b.Name != owner {
			others = append(others, b.Name)
		}
	}
	if len(others) == 0 {
		return "", errors.New("no host but the VIP owner")
	}
	if cycle%2 == 0 && leader != owner && slices.Contains(others, leader) {
		return leader, nil
	}
	for _, o := range others {
		if o != leader {
			return o, nil
		}
	}
	return others[0], nil
}

// targetRotate is each broker host in turn.
func targetRotate(l *lab, cycle int) (string, error) {
	return l.layout.Brokers[cycle%len(l.layout.Brokers)].Name, nil
}

func cutLink(_ context.Context, l *lab, host string, _ *cycleResult) error {
	return l.net.CutLink(l.net.Host(host))
}

func restoreLink(_ context.Context, l *lab, host string, _ *cycleResult) error {
	return l.net.RestoreLink(l.net.Host(host))
}

// signalRmqlb sends sig to host's rmqlb and waits for it to exit.
func signalRmqlb(sig syscall.Signal) func(context.Context, *lab, string, *cycleResult) error {
	return func(ctx context.Context, l *lab, host string, _ *cycleResult) error {
		d := l.daemons[host]
		if !d.running() {
			return fmt.Errorf("rmqlb on %s is not running", host)
		}
		if err := d.proc.Signal(sig); err != nil {
			return err
		}
		select {
		case <-d.proc.Done():
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(15 * time.Second):
			return fmt.Errorf("rmqlb on %s still running 15s after %v", host, sig)
		}
	}
}

func startRmqlb(ctx context.Context, l *lab, host string, _ *cycleResult) error {
	if l.daemons[host].running() {
		return nil
	}
	return l.daemons[host].start(ctx)
}

// ctlApp runs `rabbitmqctl CMD` on host's broker.
func ctlApp(cmd string) func(context.Context, *lab, string, *cycleResult) error {
	return func(ctx context.Context, l *lab, host string, _ *cycleResult) error {
		cctx, cancel := context.WithTimeout(ctx, 90*time.Second)
		defer cancel()
		_, err := l.cluster.nodes[host].Ctl(cctx, cmd)
		return err
	}
}

// freezeBroker stops host's broker with SIGSTOP and measures how long it
// stays in rotation: until every running daemon's check of it is DOWN and
// no daemon holds a session to it. It then checks, until the thaw, that
// no daemon places a new connection on it.
func freezeBroker(ctx context.Context, l *lab, host string, r *cycleResult) error {
	t0 := time.Now()
	if err := l.cluster.nodes[host].Freeze(); err != nil {
		return err
	}
	bound := l.layout.Checks.DownBound()
	var totals map[string]int
	err := l.waitFor(ctx, bound+5*time.Second, func() (bool, string) {
		totals = map[string]int{}
		var left []string
		why, err := l.eachRunningStatus(func(name string, s *statusView) string {
			if down, got := s.checkIs(host, backend.Down); !down {
				left = append(left, fmt.Sprintf("%s's check is %s", name, got))
			}
			n, ok := s.backendActive(host)
			if !ok {
				return fmt.Sprintf("the status of %s lists no backend %s", name, host)
			}
			if n > 0 {
				left = append(left, fmt.Sprintf("%s holds %d sessions", name, n))
			}
			totals[name] = s.backendTotal(host)
			return ""
		})
		if err != nil {
			return false, err.Error()
		}
		if why != "" {
			return false, why
		}
		return len(left) == 0, "frozen broker still in rotation: " + strings.Join(left, ", ")
	})
	if err != nil {
		return fmt.Errorf("freezing %s: %w", host, err)
	}
	r.OutOfRotation = time.Since(t0)
	r.outOfRotationTotals = totals
	l.tl.Logf("%s: frozen broker out of rotation (every check DOWN, no session) %v after SIGSTOP (bound %v)",
		host, r.OutOfRotation.Round(time.Millisecond), bound)
	return nil
}

// thawBroker resumes host's broker, after checking that no daemon sent it
// a new connection while it was out of rotation. A daemon whose status
// cannot be read is an error too: the check could not be made.
func thawBroker(_ context.Context, l *lab, host string, r *cycleResult) error {
	var checkErr error
	if r.outOfRotationTotals != nil {
		checkErr = placedOnFrozen(host, r.outOfRotationTotals, func(name string) (*statusView, error) {
			d := l.daemons[name]
			if d == nil || !d.running() {
				return nil, nil
			}
			return d.status()
		})
	}
	if err := l.cluster.nodes[host].Thaw(); err != nil {
		return errors.Join(err, checkErr)
	}
	return checkErr
}

// placedOnFrozen checks every daemon of before (its sessions ever made to
// the frozen broker host when it went out of rotation) against its status
// now (nil for a daemon not running, which is skipped): it returns an error
// naming the daemons that placed new connections on host and those whose
// status could not be read, nil when there are none.
func placedOnFrozen(host string, before map[string]int, status func(name string) (*statusView, error)) error {
	var placed []string
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(before)) {
		s, err := status(name)
		if err != nil {
			errs = append(errs, fmt.Errorf("checking for connections placed on the frozen broker %s: %w", host, err))
			continue
		}
		if s != nil && s.backendTotal(host) > before[name] {
			placed = append(placed, fmt.Sprintf("%s placed %d", name, s.backendTotal(host)-before[name]))
		}
	}
	if len(placed) > 0 {
		errs = append([]error{fmt.Errorf("new connections placed on the frozen broker %s: %s", host, strings.Join(placed, ", "))}, errs...)
	}
	return errors.Join(errs...)
}

func killBroker(_ context.Context, l *lab, host string, _ *cycleResult) error {
	return l.cluster.nodes[host].Kill()
}

func restartBroker(ctx context.Context, l *lab, host string, _ *cycleResult) error {
	rctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	return l.cluster.nodes[host].Restart(rctx)
}

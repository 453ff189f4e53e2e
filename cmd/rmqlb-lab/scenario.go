package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/integration/netlab"
)

// stepResult is what one step of the scenario measured.
type stepResult struct {
	Name       string
	Start, End time.Time
	// Failover is the time from the step's action to the VIP being on the
	// expected host (zero if the step moves nothing or it did not happen).
	Failover time.Duration
	// Flowing is the time from the step's action until the producer got
	// confirms and the consumer new messages again (zero: not measured).
	Flowing time.Duration
	// VIP outages seen by the TCP probe during the step.
	Outages       int
	LongestOutage time.Duration
	// Longest time without a confirm (producer) and without a new
	// delivery (consumer) during the step.
	ProducerGap, ConsumerGap time.Duration
	// Connections the clients opened during the step (reconnections).
	ProdReconnects, ConsReconnects int
	// Stalled: the clients did not flow again while the step lasted (a
	// step that is allowed to stall them, see flowSoft).
	Stalled bool
	// Err is set when the step's expectation was not met.
	Err   error
	Notes []string
}

// flowWait says how a step waits for the clients after its effect.
type flowWait int

const (
	flowNone flowWait = iota // no wait (steady state)
	flowHard                 // up to 30 s; not flowing fails the step
	flowSoft                 // up to 10 s; not flowing is noted (a queue leader may be away)
)

// stepFunc performs a step's action and waits for its expected effect. It
// returns the hosts whose `rmqlb status` the step prints.
type stepFunc func(ctx context.Context, r *stepResult) (show []string, err error)

// runScenario runs the steps in order. A step whose expectation fails is
// recorded and the scenario goes on (later steps act on the host that holds
// the VIP then); only ctx (Ctrl-C) ends it early.
func (l *lab) runScenario(ctx context.Context) error {
	var victim string
	steps := []struct {
		name string
		fn   stepFunc
		// queue: print the quorum queue's leader before the step (a step
		// that takes a node away stalls the queue while its leader is
		// there and has not been replaced).
		queue bool
		// flow: how long to wait after the step's effect for both clients
		// to make progress again, and whether not doing so fails the step.
		flow flowWait
	}{
		{"steady state", func(ctx context.Context, r *stepResult) ([]string, error) {
			m, err := l.master()
			return []string{m}, err
		}, false, flowNone},
		{"SIGTERM the master's rmqlb (it sends priority 0)", func(ctx context.Context, r *stepResult) ([]string, error) {
			m, err := l.master()
			if err != nil {
				return nil, err
			}
			victim = m
			d, next := l.daemons[m], l.successor(m)
			r.Name = fmt.Sprintf("SIGTERM rmqlb on %s", m)
			l.tl.Logf("%s: kill -TERM %d (rmqlb); expecting %s to take over at once", m, d.pid(), next)
			t0 := time.Now()
			if err := d.terminate(); err != nil {
				return nil, err
			}
			err = l.waitFailover(ctx, r, next, t0, 3*time.Second, "on", "SIGTERM")
			go func(p *netlab.Proc) {
				select {
				case <-p.Done():
					// Wait, not Wait(0): with a zero timeout it may
					// report "still running" for an exited process.
					l.tl.Logf("%s: rmqlb exited %v after SIGTERM (%v)", m, time.Since(t0).Round(time.Millisecond), exitText(p.Wait(time.Second)))
				case <-time.After(15 * time.Second):
					l.tl.Logf("%s: rmqlb still running 15s after SIGTERM", m)
				}
			}(d.proc)
			return []string{next}, err
		}, false, flowHard},
		{"restart it (it preempts back)", func(ctx context.Context, r *stepResult) ([]string, error) {
			m := victim
			r.Name = fmt.Sprintf("restart rmqlb on %s", m)
			if old := l.daemons[m].proc; old != nil {
				if err := old.Wait(15 * time.Second); !old.Exited() {
					return nil, fmt.Errorf("previous rmqlb on %s still running: %v", m, err)
				}
			}
			t0 := time.Now()
			if err := l.daemons[m].start(ctx); err != nil {
				return nil, err
			}
			l.tl.Logf("%s: rmqlb started again (pid %d); expecting it to preempt%s", m, l.daemons[m].pid(), l.afterPreemptDelay())
			return []string{m}, l.waitFailover(ctx, r, m, t0, l.layout.preemptWait(10*time.Second), "back on", "the start")
		}, false, flowHard},
		{"cut the master's link", func(ctx context.Context, r *stepResult) ([]string, error) {
			m, err := l.master()
			if err != nil {
				return nil, err
			}
			victim = m
			next := l.successor(m)
			r.Name = fmt.Sprintf("cut link of %s", m)
			l.tl.Logf("%s: bridge port %s down (cable pulled); expecting %s to take over after Master_Down_Interval", m, l.net.Host(m).Port, next)
			t0 := time.Now()
			if err := l.net.CutLink(l.net.Host(m)); err != nil {
				return nil, err
			}
			err = l.vips.waitHeldBy(ctx, next, 5*time.Second)
			if err == nil {
				r.Failover = time.Since(t0)
				l.tl.Logf("VIP on %s %v after the cut", next, r.Failover.Round(time.Millisecond))
			}
			return []string{next, m}, err
		}, true, flowSoft},
		{"restore the link", func(ctx context.Context, r *stepResult) ([]string, error) {
			m := victim
			r.Name = fmt.Sprintf("restore link of %s", m)
			t0 := time.Now()
			if err := l.net.RestoreLink(l.net.Host(m)); err != nil {
				return nil, err
			}
			l.tl.Logf("%s: bridge port up; expecting its broker to rejoin the cluster and serve, then %s to preempt%s", m, m, l.afterPreemptDelay())
			return []string{m}, l.rejoinStep(ctx, r, m, t0)
		}, false, flowHard},
		{"freeze the master's broker (SIGSTOP)", func(ctx context.Context, r *stepResult) ([]string, error) {
			m, err := l.master()
			if err != nil {
				return nil, err
			}
			victim = m
			return l.freezeStep(ctx, r, m)
		}, true, flowSoft},
		{"thaw it (SIGCONT)", func(ctx context.Context, r *stepResult) ([]string, error) {
			m := victim
			r.Name = fmt.Sprintf("SIGCONT broker on %s", m)
			t0 := time.Now()
			if err := l.cluster.nodes[m].Thaw(); err != nil {
				return nil, err
			}
			l.tl.Logf("%s: kill -CONT beam.smp; expecting the check to rise, the priority to return and %s to preempt%s", m, m, l.afterPreemptDelay())
			return []string{m}, l.waitFailover(ctx, r, m, t0, l.layout.preemptWait(15*time.Second), "back on", "SIGCONT")
		}, false, flowHard},
	}
	l.stepsTotal = len(steps)
	for i, s := range steps {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r := &stepResult{Name: s.name, Start: time.Now()}
		l.tl.Section("step %d/%d: %s", i+1, len(steps), s.name)
		if s.queue && l.opts.queueType == "quorum" {
			if m, err := l.master(); err == nil {
				l.tl.Logf("quorum queue before the step: %s", l.cluster.queueInfo(ctx, m))
			}
			r.Start = time.Now()
		}
		before := l.tally.totals()
		show, err := s.fn(ctx, r)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			r.Err = err
			l.tl.Logf("EXPECTATION NOT MET: %v", err)
		}
		switch s.flow {
		case flowHard:
			if err := l.waitFlowing(ctx, r, 30*time.Second); err != nil {
				if r.Err == nil {
					r.Err = err
				}
				l.tl.Logf("EXPECTATION NOT MET: %v", err)
			}
		case flowSoft:
			if err := l.waitFlowing(ctx, r, 10*time.Second); err != nil {
				r.Stalled = true
				r.Notes = append(r.Notes, "while the step lasts: "+err.Error())
				l.tl.Logf("%v; allowed here: while the quorum queue's leader (printed above) is on the host taken away, RabbitMQ serves the queue only once it has declared that node down and elected another leader; the next step must restore the flow", err)
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		hold := l.opts.hold
		if i == 0 {
			hold = l.opts.steady
		}
		sleepCtx(ctx, hold)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.End = time.Now()
		after := l.tally.totals()
		r.ProdReconnects = after.ProdConns - before.ProdConns
		r.ConsReconnects = after.ConsConns - before.ConsConns
		l.measure(r)
		l.results = append(l.results, r)
		l.tl.Logf("measured during the step (%.1fs): %s", r.End.Sub(r.Start).Seconds(), r.measures())
		for _, n := range r.Notes {
			l.tl.Logf("note: %s", n)
		}
		l.printStatus(show...)
	}
	return nil
}

// rejoinWait bounds how long a broker cut off from its cluster may take,
// once its link is back, to serve again: RabbitMQ's own partition handling
// (pause_minority restarts the node's app once it sees the majority,
// autoheal restarts the losing side's), not rmqlb's. Demo runs here
// waited 20 s for it, and once, a node paused by pause_minority, over a
// minute.
const rejoinWait = 2 * time.Minute

// rejoinStep follows host m back from a cut link: the check of its own
// broker on m's daemon is UP again (the broker paused itself while cut
// off, or was stopped by autoheal, and the track rule keeps m's priority
// lowered until it serves), then m takes the VIP back. The VIP is due
// within the preemption bound of the broker's return, not of the repair:
// how long RabbitMQ takes to rejoin is its own, noted and named apart.
func (l *lab) rejoinStep(ctx context.Context, r *stepResult, m string, t0 time.Time) error {
	why := fmt.Sprintf("RabbitMQ on %s not serving again %v after the repair (its own partition handling): the ", m, rejoinWait)
	if err := l.waitOwnCheck(ctx, m, backend.Up, rejoinWait, why); err != nil {
		return err
	}
	t1 := time.Now()
	r.Notes = append(r.Notes, fmt.Sprintf("RabbitMQ on %s served again %v after the repair (check UP on %s)", m, t1.Sub(t0).Round(time.Millisecond), m))
	l.tl.Logf("%s: its broker serves again, %v after the repair; expecting it to preempt%s", m, t1.Sub(t0).Round(time.Millisecond), l.afterPreemptDelay())
	return l.waitFailover(ctx, r, m, t1, l.layout.preemptWait(10*time.Second), "back on", "its broker's return")
}

// waitOwnCheck waits up to timeout for the check of host m's own broker,
// on m's daemon, to be want. Its error is what waitFor says, the last
// state seen after why.
func (l *lab) waitOwnCheck(ctx context.Context, m string, want backend.State, timeout time.Duration, why string) error {
	d := l.daemons[m]
	return l.waitFor(ctx, timeout, func() (bool, string) {
		s, err := d.status()
		if err != nil {
			return false, err.Error()
		}
		ok, got := s.checkIs(m, want)
		return ok, fmt.Sprintf("%scheck of %s on %s is %s", why, m, m, got)
	})
}

// waitFailover waits up to timeout for host alone to hold the VIP. When it
// does, it records in r.Failover the time from t0 (the step's action) and
// logs "VIP <where> <host> <time> after <cause>"; otherwise it returns
// waitSole's error and leaves r alone.
func (l *lab) waitFailover(ctx context.Context, r *stepResult, host string, t0 time.Time, timeout time.Duration, where, cause string) error {
	at, err := l.vips.waitSole(ctx, host, timeout)
	if err == nil {
		r.Failover = at.Sub(t0)
		l.tl.Logf("VIP %s %s %v after %s", where, host, r.Failover.Round(time.Millisecond), cause)
	}
	return err
}

// afterPreemptDelay is " after preempt_delay D" for the log lines of the
// steps that expect a preemption, "" without a delay.
func (l *lab) afterPreemptDelay() string {
	if l.layout.PreemptDelay == 0 {
		return ""
	}
	return fmt.Sprintf(" after preempt_delay %v", l.layout.PreemptDelay)
}

// freezeStep stops the broker on host m with SIGSTOP and checks the chain:
// its check goes DOWN on m's daemon, the track rule lowers m's priority so
// that the VIP moves to the next host, and no daemon holds a session to the
// frozen broker any more.
func (l *lab) freezeStep(ctx context.Context, r *stepResult, m string) ([]string, error) {
	next := l.successor(m)
	r.Name = fmt.Sprintf("SIGSTOP broker on %s", m)
	node := l.cluster.nodes[m]
	bound := l.layout.Checks.DownBound()
	l.tl.Logf("%s: kill -STOP beam.smp (the kernel still accepts TCP connections on %s); expecting DOWN within about %v, priority %d%+d, %s to take over",
		m, node.Addr, bound, l.prio[m], l.layout.TrackWeight, next)
	t0 := time.Now()
	if err := node.Freeze(); err != nil {
		return nil, err
	}
	var errs []string
	if err := l.waitOwnCheck(ctx, m, backend.Down, bound+5*time.Second, ""); err != nil {
		errs = append(errs, err.Error())
	} else {
		r.Notes = append(r.Notes, fmt.Sprintf("check of %s DOWN on %s %v after SIGSTOP (fall x interval + timeout = %v)",
			m, m, time.Since(t0).Round(time.Millisecond), bound))
	}
	if err := l.waitFailover(ctx, r, next, t0, bound+5*time.Second, "on", "SIGSTOP"); err != nil {
		errs = append(errs, err.Error())
	}
	// Sessions to the frozen broker: every daemon's proxy must have closed them.
	err := l.waitFor(ctx, 3*time.Second, func() (bool, string) {
		var left []string
		why, err := l.eachRunningStatus(func(name string, s *statusView) string {
			n, ok := s.backendActive(m)
			if !ok {
				return fmt.Sprintf("the status of %s lists no backend %s", name, m)
			}
			if n > 0 {
				left = append(left, fmt.Sprintf("%s has %d", name, n))
			}
			return ""
		})
		if err != nil {
			return false, err.Error()
		}
		if why != "" {
			return false, why
		}
		return len(left) == 0, "sessions to the frozen broker still open: " + strings.Join(left, ", ")
	})
	if err != nil {
		errs = append(errs, err.Error())
	} else {
		r.Notes = append(r.Notes, fmt.Sprintf("no daemon holds a session to %s's broker any more", m))
	}
	if len(errs) > 0 {
		return []string{next, m}, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return []string{next, m}, nil
}

// waitFlowing waits until both clients make progress again after the
// step's action: a confirm and a new delivery after the expected effect,
// both within the last 300 ms.
func (l *lab) waitFlowing(ctx context.Context, r *stepResult, timeout time.Duration) error {
	after := time.Now().Add(200 * time.Millisecond)
	err := l.waitFor(ctx, timeout, func() (bool, string) {
		c, d := l.tally.lastProgress()
		now := time.Now()
		ok := c.After(after) && d.After(after) && now.Sub(c) < 300*time.Millisecond && now.Sub(d) < 300*time.Millisecond
		return ok, fmt.Sprintf("clients not flowing again: last confirm %s ago, last new message %s ago",
			now.Sub(c).Round(time.Millisecond), now.Sub(d).Round(time.Millisecond))
	})
	if err != nil {
		return err
	}
	r.Flowing = time.Since(r.Start)
	l.tl.Logf("clients: producer confirmed and consumer received again; %v after the action", r.Flowing.Round(time.Millisecond))
	return nil
}

// measure fills in the probe's and the clients' figures for the step.
func (l *lab) measure(r *stepResult) {
	res := l.probe.Snapshot()
	for _, o := range res.Outages {
		if !o.Recovered || !o.To.After(r.Start) || !o.From.Before(r.End) {
			continue
		}
		r.Outages++
		if d := o.Duration(); d > r.LongestOutage {
			r.LongestOutage = d
		}
		l.tl.logAt(o.From, "probe: VIP unreachable for %v (%d failed connects: %s) until %s",
			o.Duration().Round(time.Millisecond), o.Failed, firstErr(res.Attempts, o), l.tl.since(o.To))
	}
	r.ProducerGap, r.ConsumerGap = l.tally.gaps(r.Start, r.End)
}

// firstErr returns the error of the first failed attempt of outage o.
func firstErr(as []netlab.Attempt, o netlab.Outage) string {
	for _, a := range as {
		if !a.OK && !a.Start.Before(o.From) && a.Start.Before(o.To) {
			return a.Err
		}
	}
	return "?"
}

// measures is the one-line form of the step's figures.
func (r *stepResult) measures() string {
	return fmt.Sprintf("VIP outages %d (longest %s); producer: longest wait for a confirm %v, reconnects %d; consumer: longest wait for a new message %v, reconnects %d",
		r.Outages, ms(r.LongestOutage), r.ProducerGap.Round(time.Millisecond), r.ProdReconnects,
		r.ConsumerGap.Round(time.Millisecond), r.ConsReconnects)
}

func ms(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.Round(time.Millisecond).String()
}

func exitText(err error) string {
	if err == nil {
		return "exit 0"
	}
	return err.Error()
}

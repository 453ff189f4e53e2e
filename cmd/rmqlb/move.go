package main

import (
	"cmp"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/daemon"
)

// moveProgressEvery is how often `move-sessions --wait` prints the
// progress, and movePoll how often it asks the daemon.
const (
	moveProgressEvery = 5 * time.Second
	movePoll          = 500 * time.Millisecond
)

// pacedFlags are the flags of an operator's paced work in the daemon (a
// move of a backend's sessions, a rebalance of a listener's): its rate
// and whether to wait for its end.
type pacedFlags struct {
	rate *int
	wait *bool
}

// definePacedFlags defines --rate and --wait on fs; prefix starts their
// usage (which operation they belong to, or ""), and what names the
// work ("the move").
func definePacedFlags(fs *flag.FlagSet, prefix, what string) pacedFlags {
	return pacedFlags{
		rate: fs.Int("rate", daemon.DefaultMoveRate, prefix+"the most sessions closed a second, `N` (1.."+strconv.Itoa(daemon.MaxMoveRate)+")"),
		wait: fs.Bool("wait", false, prefix+"wait until "+what+" has ended, printing its progress"),
	}
}

// rateOK reports whether --rate is within its bounds, and says on stderr
// (cmd first) when it is not.
func (p pacedFlags) rateOK(cmd string, stderr io.Writer) bool {
	if *p.rate < 1 || *p.rate > daemon.MaxMoveRate {
		fmt.Fprintf(stderr, "%s: --rate %d: want 1..%d sessions a second\n", cmd, *p.rate, daemon.MaxMoveRate)
		return false
	}
	return true
}

// cmdMoveSessions asks the daemon to move the clients of backend key at
// rate sessions a second and, with wait, follows the move in the
// daemon's status until it ends. Exit 0 once begun (with wait: once the
// backend has no session left), 1 when refused, when the daemon cannot
// be asked, or when the move ended with sessions left.
func cmdMoveSessions(socketOf func() (string, error), key string, rate int, wait bool, stdout, stderr io.Writer) int {
	socket, err := socketOf()
	if err != nil {
		fmt.Fprintf(stderr, "rmqlb backend: %v\n", err)
		return 2
	}
	var m control.SessionMove
	req := control.Request{Command: "backend", Args: []string{key, "move-sessions", fmt.Sprint(rate)}}
	if err := control.Call(socket, req, &m, 10*time.Second); err != nil {
		fmt.Fprintf(stderr, "rmqlb backend: %v%s\n", err, outcomeUnknown(err))
		return 1
	}
	warnStateFile(stderr, "rmqlb backend", m.StateFileNote)
	if !m.Running() {
		fmt.Fprintf(stdout, "%s: DRAIN; no session to move\n", m.Backend)
		return 0
	}
	took := time.Duration(m.Left) * time.Second / time.Duration(m.Rate)
	if took >= time.Second {
		took = took.Round(time.Second)
	}
	fmt.Fprintf(stdout, "%s: DRAIN; moving %s at %d a second (about %s)\n", m.Backend, control.SessionCount(m.Left), m.Rate, took)
	if !wait {
		return 0
	}
	return waitMove(socket, m, stdout, stderr)
}

// waitMove follows move m (as the daemon answered it) in the status of
// the daemon at socket until it ends, and reports how.
func waitMove(socket string, m control.SessionMove, stdout, stderr io.Writer) int {
	return follow(socket, followSpec{what: "the move of " + m.Backend.String(), upgradeEnds: true}, func(s control.Status) followed {
		cur, ok := findMove(s, m)
		switch {
		case !ok:
			return followed{}
		case cur.Running():
			return followed{found: true, running: true, progress: fmt.Sprintf("%s: %d of %d moved, %d left%s", cur.Backend, cur.Moved, cur.Sessions, cur.Left, pausedNote(cur.Paused))}
		case cur.Outcome == control.OutcomeMoved:
			return followed{found: true, ok: true, result: fmt.Sprintf("%s: %s moved in %s; none left", cur.Backend, control.SessionCount(cur.Moved),
				cur.Ended.Sub(cur.Since).Round(100*time.Millisecond))}
		}
		return followed{found: true, result: fmt.Sprintf("the move of %s ended: %s; %d moved, %d left", cur.Backend, cur.Outcome, cur.Moved, cur.Left)}
	}, stdout, stderr)
}

// followed is one look at an operator's work under way in the daemon's
// status: whether it is there and still running, the line that tells its
// progress while it runs (and stuck, when set, what to say instead when
// the wait times out there), and, once it ended, the line that tells how
// and whether it did what it was asked.
type followed struct {
	found, running  bool
	progress, stuck string
	result          string
	ok              bool
}

// followSpec is what follow follows: what names it ("the move of
// amqp/rmq1"); timeout bounds the wait (zero: none); poll is how often
// the daemon is asked (zero: movePoll); upgradeEnds says that an
// upgrade of the daemon in place ends it (the old process's work ends
// with it), where work the new process carries on is followed across
// it.
type followSpec struct {
	what          string
	timeout, poll time.Duration
	upgradeEnds   bool
}

// follow asks the daemon at socket for its status every spec.poll, looks
// at spec's work (a move, a rebalance, a handover) with look, prints its
// progress every moveProgressEvery, and once it ended prints how: exit 0
// when it did what was asked (on stdout), 1 otherwise (on stderr), also
// when the daemon cannot be asked, when it was upgraded meanwhile and
// spec.upgradeEnds, or when spec.timeout passed first (with the progress
// then).
func follow(socket string, spec followSpec, look func(control.Status) followed, stdout, stderr io.Writer) int {
	what := spec.what
	pid := 0
	start := time.Now()
	lastShown := start
	for {
		time.Sleep(cmp.Or(spec.poll, movePoll))
		var s control.Status
		if err := control.Call(socket, control.Request{Command: "status"}, &s, 10*time.Second); err != nil {
			fmt.Fprintf(stderr, "rmqlb: following %s: %v\n", what, err)
			return 1
		}
		if pid == 0 {
			pid = s.PID
		} else if s.PID != pid && spec.upgradeEnds {
			fmt.Fprintf(stderr, "rmqlb: the daemon was upgraded (pid %d, now %d): %s ended; the sessions it left are the old process's until it exits\n", pid, s.PID, what)
			return 1
		}
		f := look(s)
		switch {
		case !f.found:
			fmt.Fprintf(stderr, "rmqlb: %s is no longer in the daemon's status\n", what)
			return 1
		case !f.running && f.ok:
			fmt.Fprintln(stdout, f.result)
			return 0
		case !f.running:
			fmt.Fprintf(stderr, "rmqlb: %s\n", f.result)
			return 1
		case spec.timeout > 0 && time.Since(start) >= spec.timeout:
			fmt.Fprintf(stderr, "rmqlb: %s has not ended within %s: %s\n", what, spec.timeout, cmp.Or(f.stuck, f.progress))
			return 1
		}
		if time.Since(lastShown) >= moveProgressEvery {
			lastShown = time.Now()
			fmt.Fprintln(stdout, f.progress)
		}
	}
}

// pausedNote is " (paused: WHY)", or "" when not paused.
func pausedNote(why string) string {
	if why == "" {
		return ""
	}
	return " (paused: " + why + ")"
}

// findMove returns the status's entry of move m: of its backend, begun
// when m did.
func findMove(s control.Status, m control.SessionMove) (control.SessionMove, bool) {
	for _, c := range s.Moves {
		if c.Backend == m.Backend && c.Since.Equal(m.Since) {
			return c, true
		}
	}
	return control.SessionMove{}, false
}

package main

import (
	"fmt"
	"io"
	"time"

	"github.com/rmqlb/rmqlb/control"
)

// moveProgressEvery is how often `move-sessions --wait` prints the
// progress, and movePoll how often it asks the daemon.
const (
	moveProgressEvery = 5 * time.Second
	movePoll          = 500 * time.Millisecond
)

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
	pid := 0
	lastShown := time.Now()
	for {
		time.Sleep(movePoll)
		var s control.Status
		if err := control.Call(socket, control.Request{Command: "status"}, &s, 10*time.Second); err != nil {
			fmt.Fprintf(stderr, "rmqlb backend: following the move: %v\n", err)
			return 1
		}
		if pid == 0 {
			pid = s.PID
		} else if s.PID != pid {
			fmt.Fprintf(stderr, "rmqlb backend: the daemon was upgraded (pid %d, now %d): the move ended; the sessions left are the old process's until it exits\n", pid, s.PID)
			return 1
		}
		cur, ok := findMove(s, m)
		if !ok {
			fmt.Fprintf(stderr, "rmqlb backend: the move of %s is no longer in the daemon's status\n", m.Backend)
			return 1
		}
		if !cur.Running() {
			if cur.Outcome == control.OutcomeMoved {
				fmt.Fprintf(stdout, "%s: %s moved in %s; none left\n", cur.Backend, control.SessionCount(cur.Moved),
					cur.Ended.Sub(cur.Since).Round(100*time.Millisecond))
				return 0
			}
			fmt.Fprintf(stderr, "rmqlb backend: the move of %s ended: %s; %d moved, %d left\n", cur.Backend, cur.Outcome, cur.Moved, cur.Left)
			return 1
		}
		if time.Since(lastShown) >= moveProgressEvery {
			lastShown = time.Now()
			paused := ""
			if cur.Paused != "" {
				paused = " (paused: " + cur.Paused + ")"
			}
			fmt.Fprintf(stdout, "%s: %d of %d moved, %d left%s\n", cur.Backend, cur.Moved, cur.Sessions, cur.Left, paused)
		}
	}
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

package healthcheck

import (
	"fmt"
	"strings"
	"time"

	"github.com/rmqlb/rmqlb/backend"
)

// LoginCheck is one backend's latest check as PassedAlike compares it.
type LoginCheck struct {
	// Backend is the backend checked.
	Backend backend.ID
	// Login identifies whom the check logs in as (CheckConfig.Login). Empty for a check
	// that does not log in; it is compared with no other.
	Login string
	// LoggedIn says that the broker let the login in: the check passed, and not with the
	// broker refusing its login (Result.Refused). A pass with another warning or a
	// resource alarm is a login let in.
	LoggedIn bool
	// At is when the check ended; zero for a backend not checked yet.
	At time.Time
}

// PassedAlike is the rule that tells a node's own refusal of a login from the
// cluster's: RabbitMQ keeps users, permissions, vhosts and their limits across a
// cluster, so a login that one node refuses while the other nodes let it in is
// refused for a cause of that node alone (an authentication backend or
// loopback_users of its own, a vhost down on it, its connection limit). It
// returns the backends among checks, other than id and on id's listener, whose
// checks log in as login does and were let in after since, the start of id's
// run of refusals, in the order of checks. Nil for an empty login. It is a pure
// function: the scheduler (RefusedAloneFails, BackendStatus.RefusedAlone) and a
// one-off run of every check apply it to what they hold.
func PassedAlike(id backend.ID, login string, since time.Time, checks []LoginCheck) []backend.ID {
	if login == "" {
		return nil
	}
	var out []backend.ID
	for _, c := range checks {
		if c.Backend != id && c.Backend.Listener == id.Listener && c.Login == login && c.LoggedIn && c.At.After(since) {
			out = append(out, c.Backend)
		}
	}
	return out
}

// loginSeen is what a backend's latest conclusive check showed of its login.
type loginSeen struct {
	login    string    // the CheckConfig.Login the check ran with
	at       time.Time // when it ended
	loggedIn bool      // the broker let the login in (LoginCheck.LoggedIn)
}

// refusedAloneLocked records what r, the result at now of e's check that ran with login,
// shows of its login, and applies CheckConfig.RefusedAloneFails to it: it keeps when e's
// run of refused logins began, and makes a refusal a failure when another backend of the
// listener whose latest check logged in alike was let in since that run began
// (PassedAlike). An inconclusive or busy result leaves the record and the run as they
// are; a login other than the run's (a reload changed the check) starts a new run. s.mu
// is held.
func (s *Scheduler) refusedAloneLocked(e *entry, r Result, login string, now time.Time) Result {
	if r.Inconclusive || r.Busy {
		return r
	}
	if login != e.login.login {
		e.refusedSince = time.Time{}
	}
	e.login = loginSeen{login: login, at: now, loggedIn: r.Passed() && !r.Refused}
	switch {
	case !r.Passed() || !r.Refused:
		e.refusedSince = time.Time{}
		return r
	case e.refusedSince.IsZero():
		e.refusedSince = now
	}
	if !e.m.cfg.RefusedAloneFails {
		return r
	}
	peers := s.passedAlikeLocked(e, nil)
	if len(peers) == 0 {
		return r
	}
	return Result{Err: fmt.Errorf("refused by this node alone (the same login passes on %s): %s", strings.Join(peers, ", "), r.Warning)}
}

// loginChecksLocked returns what the latest conclusive checks of the backends of listener
// showed of their logins, for passedAlikeLocked. s.mu is held.
func (s *Scheduler) loginChecksLocked(listener string) []LoginCheck {
	var checks []LoginCheck
	for _, id := range s.order {
		if id.Listener == listener {
			o := s.backends[id].login
			checks = append(checks, LoginCheck{Backend: id, Login: o.login, LoggedIn: o.loggedIn, At: o.at})
		}
	}
	return checks
}

// passedAlikeLocked names the backends that show e's run of refused logins to be its
// node's own (PassedAlike over the checks of e's listener: loginChecksLocked); nil outside
// such a run. logins, when not nil, keeps those checks by listener for the caller's next
// calls under the same hold of s.mu. s.mu is held.
func (s *Scheduler) passedAlikeLocked(e *entry, logins map[string][]LoginCheck) []string {
	if e.refusedSince.IsZero() || e.login.login == "" {
		return nil
	}
	l := e.m.id.Listener
	checks, ok := logins[l]
	if !ok {
		checks = s.loginChecksLocked(l)
		if logins != nil {
			logins[l] = checks
		}
	}
	var names []string
	for _, id := range PassedAlike(e.m.id, e.login.login, e.refusedSince, checks) {
		names = append(names, id.Name)
	}
	return names
}

// refusedAloneMetricsLocked sets rmqlb_healthcheck_login_refused_alone of the backends of
// listener whose value changed: a check of one backend, or its removal, changes what the
// refusals of the others show. s.mu is held.
func (s *Scheduler) refusedAloneMetricsLocked(listener string) {
	if s.met == nil {
		return
	}
	logins := map[string][]LoginCheck{}
	for _, id := range s.order {
		e := s.backends[id]
		if id.Listener != listener {
			continue
		}
		alone := len(s.passedAlikeLocked(e, logins)) > 0
		if alone != e.aloneMetric {
			e.aloneMetric = alone
			s.met.setRefusedAlone(id, alone)
		}
	}
}

package daemon

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/control"
)

// sessionsTimeout bounds how long a sessions request waits for the event
// loops of its listeners.
const sessionsTimeout = 10 * time.Second

// Sessions answers a "sessions" request: the sessions of the running
// listeners that r selects, by listener in the file's order, at most r's
// limit (control.DefaultSessionsLimit when it names none), and their
// total. A listener or backend that r names and the daemon does not have
// is an error; so is an event loop that does not answer within
// sessionsTimeout or before ctx is done. Now is the real time: the
// sessions' times are the event loops' real time, whatever clock the
// daemon runs on. Safe for concurrent use; the daemon's lock is not held
// while the loops list.
func (d *Daemon) Sessions(ctx context.Context, r control.SessionsRequest) (control.Sessions, error) {
	limit := r.Limit
	if limit == 0 {
		limit = control.DefaultSessionsLimit
	}
	ls, err := d.sessionListeners(r)
	if err != nil {
		return control.Sessions{}, fmt.Errorf("listing sessions: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, sessionsTimeout)
	defer cancel()
	out := control.Sessions{Now: time.Now(), Sessions: []control.ListenerSession{}}
	for _, x := range ls {
		room := limit - len(out.Sessions)
		f := sessionFilter(r)
		f.Limit = max(room, 1)
		list, n, err := x.l.Sessions(ctx, f)
		if err != nil {
			return control.Sessions{}, err
		}
		out.Total += n
		for _, s := range list[:min(room, len(list))] {
			out.Sessions = append(out.Sessions, control.ListenerSession{Listener: x.name, SessionInfo: s})
		}
	}
	return out, nil
}

// sessionFilter is what r selects of each listener's sessions, without
// a limit.
func sessionFilter(r control.SessionsRequest) balancer.SessionFilter {
	return balancer.SessionFilter{Backend: r.Backend, Client: r.Client, ClientPort: r.ClientPort, NotAllowed: r.NotAllowed}
}

// ShutdownSessionsMatching answers a "shutdown-sessions" request: it
// closes the sessions of the running listeners that r selects, whatever
// their number, and counts them. r must name a listener, a backend, a
// client or the clients not allowed, and no limit. A listener or backend
// that r names and the daemon does not have is an error, as for
// Sessions; so is an event loop that does not answer within
// sessionsTimeout or before ctx is done (the sessions closed until then
// are counted). Safe for concurrent use.
func (d *Daemon) ShutdownSessionsMatching(ctx context.Context, r control.SessionsRequest) (control.SessionsShutdown, error) {
	switch {
	case r.Listener == "" && r.Backend == "" && !r.Client.IsValid() && !r.NotAllowed:
		return control.SessionsShutdown{}, fmt.Errorf("shutting down sessions: name a listener, a backend, a client or the clients not allowed")
	case r.Limit != 0:
		return control.SessionsShutdown{}, fmt.Errorf("shutting down sessions: a limit does not apply")
	}
	ls, err := d.sessionListeners(r)
	if err != nil {
		return control.SessionsShutdown{}, fmt.Errorf("shutting down sessions: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, sessionsTimeout)
	defer cancel()
	var out control.SessionsShutdown
	for _, x := range ls {
		n, err := x.l.ShutdownSessionsMatching(ctx, sessionFilter(r))
		out.Closed += n
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// namedListener is a running listener with its name.
type namedListener struct {
	name string
	l    *balancer.Listener
}

// sessionListeners returns the running listeners that r selects, in the
// file's order, or an error when r names a listener, or a backend, that
// none of them has.
func (d *Daemon) sessionListeners(r control.SessionsRequest) ([]namedListener, error) {
	var ls []namedListener
	d.mu.Lock()
	for _, lc := range d.cfg.Listeners {
		if u := d.listeners[lc.Name]; u != nil && (r.Listener == "" || r.Listener == lc.Name) {
			ls = append(ls, namedListener{lc.Name, u.l})
		}
	}
	d.mu.Unlock()
	if r.Listener != "" && len(ls) == 0 {
		return nil, fmt.Errorf("no listener %q", r.Listener)
	}
	if r.Backend != "" && !slices.ContainsFunc(ls, func(x namedListener) bool { return x.l.HasBackend(r.Backend) }) {
		where := "any listener"
		if r.Listener != "" {
			where = "listener " + r.Listener
		}
		return nil, fmt.Errorf("no backend %q in %s", r.Backend, where)
	}
	return ls, nil
}

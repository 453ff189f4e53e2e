package migrate

// HAProxy writes a line per TCP session when a frontend has option tcplog
// and a log target (log global, with a log line in the global section,
// or log ADDRESS): client, frontend, backend, server, timers, bytes and
// the termination state. rmqlb's log_sessions writes one too, when the
// session ends: client, backend, duration, bytes each way and why it
// ended, to rmqlb's own log (stderr, which systemd keeps in the journal)
// rather than to syslog.

// sessionLog sets l's log_sessions from front's option tcplog (its own,
// else its defaults'), when front has a log target; a tcplog without one
// logged nothing and is reported as such. (HAProxy takes no "no option
// tcplog"; such a line is left to the sweep.)
func (t *haT) sessionLog(l *listener, front haProxy) {
	opt := front.get("option tcplog")
	if opt == nil {
		return
	}
	if _, negated := haKey(opt.words); negated {
		return
	}
	if !t.logs(front) {
		t.skip(opt, "HAProxy logged no session here, as the proxy has no log target (log global with a log line in the global section, or log ADDRESS): log_sessions stays off")
		return
	}
	l.logSessions = true
	t.change(opt, "becomes log_sessions: rmqlb writes a line per session when it ends (client, backend, duration, bytes each way, why it ended) to its own log, stderr (the journal), not to syslog")
	if ln := front.get("option dontlognull"); ln != nil {
		if _, negated := haKey(ln.words); !negated {
			t.skip(ln, "no equivalent: log_sessions logs every session, those that carried no data (a port scan, another proxy's TCP check) too")
		}
	}
}

// logs reports whether HAProxy logs p's sessions somewhere: p's last log
// line (its own, else its defaults') names a target, or is log global and
// the global section has a log line.
func (t *haT) logs(p haProxy) bool {
	ln := p.get("log")
	if ln == nil || len(ln.words) < 2 {
		return false
	}
	if _, negated := haKey(ln.words); negated {
		return false
	}
	return ln.words[1] != "global" || len(t.globalLines("log")) > 0
}

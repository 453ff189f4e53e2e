package control

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/rmqlb/rmqlb/balancer"
)

// DefaultSessionsLimit is the most sessions a sessions request lists when
// it names no limit, and MaxSessionsLimit the most it may name.
const (
	DefaultSessionsLimit = 1000
	MaxSessionsLimit     = 1_000_000
)

// SessionsRequest selects the sessions `rmqlb sessions` lists. It travels
// as the arguments of the "sessions" command, one KEY=VALUE word each
// (Args, ParseSessionsRequest). Its zero value selects every session of
// every listener, at most DefaultSessionsLimit of them.
type SessionsRequest struct {
	// Listener keeps the sessions of the listener of that name; empty:
	// every listener's.
	Listener string
	// Backend keeps the sessions of the backends of that name; empty:
	// every backend's, and those not connected to one yet.
	Backend string
	// Client keeps the sessions whose client address it contains; the
	// zero Prefix keeps every client. ClientPort, when not 0, keeps only
	// the session from that port (Client is then one address): a single
	// session, as a listing shows its client.
	Client     netip.Prefix
	ClientPort uint16
	// NotAllowed keeps the sessions whose client their listener's
	// allowed_clients leaves out or denied_clients holds (kept by a
	// reload that changed them).
	NotAllowed bool
	// Limit is the most sessions listed, 1..MaxSessionsLimit; 0 means
	// DefaultSessionsLimit.
	Limit int
}

// Args returns r as the arguments of a "sessions" request.
func (r SessionsRequest) Args() []string {
	var args []string
	add := func(k, v string) { args = append(args, k+"="+v) }
	if r.Listener != "" {
		add("listener", r.Listener)
	}
	if r.Backend != "" {
		add("backend", r.Backend)
	}
	switch {
	case r.ClientPort != 0:
		add("client", netip.AddrPortFrom(r.Client.Addr(), r.ClientPort).String())
	case r.Client.IsValid():
		add("client", r.Client.String())
	}
	if r.NotAllowed {
		add("not_allowed", "true")
	}
	if r.Limit != 0 {
		add("limit", strconv.Itoa(r.Limit))
	}
	return args
}

// ParseSessionsRequest reads the arguments of a "sessions" request: each
// KEY=VALUE with KEY one of listener, backend, client (an address or a
// prefix), not_allowed (true or false) and limit, at most once each.
func ParseSessionsRequest(args []string) (SessionsRequest, error) {
	var r SessionsRequest
	err := eachKeyValue("sessions", args, func(k, v string) (err error) {
		switch k {
		case "listener":
			r.Listener = v
		case "backend":
			r.Backend = v
		case "client":
			r.Client, r.ClientPort, err = ParseClient(v)
		case "not_allowed":
			if r.NotAllowed, err = strconv.ParseBool(v); err != nil {
				err = fmt.Errorf("not_allowed must be true or false, not %q", v)
			}
		case "limit":
			r.Limit, err = parseLimit(v, MaxSessionsLimit)
		default:
			err = fmt.Errorf("unknown key %q (listener, backend, client, not_allowed, limit)", k)
		}
		return err
	})
	if err != nil {
		return SessionsRequest{}, err
	}
	return r, nil
}

// eachKeyValue reads the arguments of a request of the command what: each
// a KEY=VALUE word, each KEY at most once, handed to set in order. The
// first error, set's or of a word, is returned as "parsing WHAT request:
// ...".
func eachKeyValue(what string, args []string, set func(k, v string) error) error {
	seen := map[string]bool{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || v == "" {
			return fmt.Errorf("parsing %s request: %q is not KEY=VALUE", what, a)
		}
		if seen[k] {
			return fmt.Errorf("parsing %s request: %s given twice", what, k)
		}
		seen[k] = true
		if err := set(k, v); err != nil {
			return fmt.Errorf("parsing %s request: %w", what, err)
		}
	}
	return nil
}

// parseLimit reads the limit of a listing: 1..max.
func parseLimit(v string, max int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, fmt.Errorf("limit must be 1..%d, not %q", max, v)
	}
	return n, nil
}

// ParseClient reads a client filter: an address (10.1.2.3, 2001:db8::1),
// a prefix (10.1.0.0/16), or an address and port (10.1.2.3:53422,
// [2001:db8::1]:53422: one session, as listed). An address is the prefix
// of its own bits; a prefix must have no bits set past its length. port
// is 0 unless one is given.
func ParseClient(s string) (p netip.Prefix, port uint16, err error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		if ap.Port() == 0 || ap.Addr().Zone() != "" {
			return netip.Prefix{}, 0, fmt.Errorf("client %q: a port of 1..65535 and an address without a zone", s)
		}
		return netip.PrefixFrom(ap.Addr(), ap.Addr().BitLen()), ap.Port(), nil
	}
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, 0, fmt.Errorf("client %q: not an address, a prefix or an address:port", s)
		}
		if a.Zone() != "" {
			return netip.Prefix{}, 0, fmt.Errorf("client %q: an address with a zone", s)
		}
		return netip.PrefixFrom(a, a.BitLen()), 0, nil
	}
	p, err = netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, 0, fmt.Errorf("client %q: not an address, a prefix or an address:port", s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, 0, fmt.Errorf("client %q: bits set past /%d (%s?)", s, p.Bits(), p.Masked())
	}
	return p, 0, nil
}

// Sessions is the daemon's answer to a "sessions" request: the sessions
// it selects, by listener in the configuration's order, then as
// balancer.Listener.Sessions orders them, at most the request's limit.
type Sessions struct {
	// Now is the daemon's time of the answer, for the sessions' ages.
	Now time.Time `json:"now"`
	// Total counts every session the request selects; Sessions lists the
	// first of them, up to the limit.
	Total    int               `json:"total"`
	Sessions []ListenerSession `json:"sessions"`
}

// SessionsShutdown is the daemon's answer to a "shutdown-sessions"
// request: how many sessions it closed.
type SessionsShutdown struct {
	Closed int `json:"closed"`
}

// ListenerSession is one session of a Sessions answer.
type ListenerSession struct {
	Listener string `json:"listener"`
	balancer.SessionInfo
}

// FormatSessions writes s as a table, one session a row, and a line with
// their count: "4 sessions", or "1000 of 5321 sessions (limit 1000)". A
// row's SOURCE is the address and port the broker sees as its client's
// (RabbitMQ's connection name is "SOURCE -> BACKEND ADDRESS").
func FormatSessions(w io.Writer, s Sessions, limit int) error {
	p := &page{}
	if len(s.Sessions) > 0 {
		tb := p.table("LISTENER", "BACKEND", "CLIENT", "SOURCE", "BACKEND ADDRESS", "STATE", "AGE", "IDLE", "IN", "OUT")
		for _, x := range s.Sessions {
			tb.row(txt(x.Listener), txt(orDash(x.Backend)), txt(x.Client.String()), txt(addrOrDash(x.Source)),
				txt(addrOrDash(x.BackendAddress)), txt(x.State), txt(age(s.Now, x.Since)), txt(age(s.Now, x.LastActive)),
				txt(size(x.BytesIn)), txt(size(x.BytesOut)))
		}
	}
	if len(s.Sessions) < s.Total {
		p.printf(fmt.Sprintf("%d of %s (limit %d)", len(s.Sessions), SessionCount(s.Total), limit))
	} else {
		p.printf(SessionCount(s.Total))
	}
	return p.write(w)
}

// SessionCount is n with its noun: "1 session", "3 sessions".
func SessionCount(n int) string {
	if n == 1 {
		return "1 session"
	}
	return fmt.Sprintf("%d sessions", n)
}

// addrOrDash is a.String(), or "-" for the zero AddrPort.
func addrOrDash(a netip.AddrPort) string {
	if !a.IsValid() {
		return "-"
	}
	return a.String()
}

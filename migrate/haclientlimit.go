package migrate

import (
	"fmt"
	"strconv"
	"strings"
)

// HAProxy caps the concurrent connections of each client address with a
// stick table that stores conn_cur, a rule that tracks the source in it,
// and a rule that rejects a connection over the count:
//
//	stick-table type ip size 100k expire 30s store conn_cur
//	tcp-request connection track-sc0 src
//	tcp-request connection reject if { sc0_conn_cur gt 100 }
//
// The condition may be a named acl instead, and its fetch src_conn_cur or
// sc_conn_cur(0). The tracked count includes the connection being
// accepted, so "gt N" lets N connections through and "ge N" N-1: rmqlb's
// maxconn_per_client is that number.

// clientLimit sets l's maxconn_per_client from that idiom in the frontend
// front's own lines (HAProxy evaluates a proxy's tcp-request connection
// rules in order: the reject must follow the track). Other tcp-request
// and acl lines are left to the sweep.
func (t *haT) clientLimit(l *listener, front haProxy) {
	acls := map[string]*haLine{}
	var track *haLine
	counter := -1
	for _, ln := range front.sec.lines {
		w := ln.words
		switch {
		case len(w) >= 3 && w[0] == "acl":
			acls[w[1]] = ln
		case len(w) == 4 && w[0] == "tcp-request" && w[1] == "connection" && strings.HasPrefix(w[2], "track-sc") && w[3] == "src" && track == nil:
			if n, err := strconv.Atoi(strings.TrimPrefix(w[2], "track-sc")); err == nil && n >= 0 {
				track, counter = ln, n
			}
		case len(w) >= 5 && w[0] == "tcp-request" && w[1] == "connection" && w[2] == "reject" && w[3] == "if" && track != nil && !ln.done:
			cond, acl := w[4:], (*haLine)(nil)
			if len(cond) == 1 {
				if acl = acls[cond[0]]; acl == nil {
					continue
				}
				cond = acl.words[2:]
			} else if len(cond) == 5 && cond[0] == "{" && cond[4] == "}" {
				cond = cond[1:4]
			} else {
				continue
			}
			limit, ok := connCurLimit(cond, counter)
			if !ok {
				continue
			}
			l.maxPerClient = limit
			t.use(track)
			if acl != nil {
				t.use(acl)
			}
			t.change(ln, fmt.Sprintf("rmqlb refuses a client address's connections past maxconn_per_client %d at once, as this rule does; it counts them per listener (one per bind address), without a stick table", limit))
			t.clientTable(front)
			return
		}
	}
}

// connCurLimit reads a condition "FETCH gt|ge N" on the current
// connections of the source tracked by counter: the most connections it
// lets through, and false for any other condition.
func connCurLimit(cond []string, counter int) (int, bool) {
	if len(cond) != 3 {
		return 0, false
	}
	switch cond[0] {
	case "src_conn_cur", fmt.Sprintf("sc%d_conn_cur", counter), fmt.Sprintf("sc_conn_cur(%d)", counter):
	default:
		return 0, false
	}
	n, err := strconv.Atoi(cond[2])
	if err != nil || n < 0 {
		return 0, false
	}
	switch cond[1] {
	case "gt":
	case "ge":
		n--
	default:
		return 0, false
	}
	return n, n > 0
}

// clientTable reports the frontend's own stick table that only counted
// the connections for the limit (store conn_cur), unless another
// translation reported it.
func (t *haT) clientTable(front haProxy) {
	table := lastLine(front.sec.lines, "stick-table")
	if table == nil || table.done {
		return
	}
	for i, w := range table.words {
		if w == "store" && i+1 < len(table.words) && table.words[i+1] == "conn_cur" {
			t.change(table, "rmqlb counts each client address's connections for maxconn_per_client without a table: none is needed")
			return
		}
	}
}

package control

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/rmqlb/rmqlb/balancer"
)

// DefaultClientsLimit is the most client addresses a clients request lists
// per listener when it names no limit, and MaxClientsLimit the most it may
// name.
const (
	DefaultClientsLimit = 100
	MaxClientsLimit     = 100_000
)

// ClientsRequest selects what a "clients" request lists: the client
// addresses of the listeners with their sessions, busiest first. The zero
// value lists every listener's, DefaultClientsLimit each. It travels as the
// arguments of the "clients" command, one KEY=VALUE word each (Args,
// ParseClientsRequest).
type ClientsRequest struct {
	// Listener keeps the listener of that name; empty: every listener.
	Listener string
	// Limit is the most addresses listed per listener,
	// 1..MaxClientsLimit; 0 means DefaultClientsLimit.
	Limit int
}

// Args returns r as the arguments of a "clients" request.
func (r ClientsRequest) Args() []string {
	var args []string
	if r.Listener != "" {
		args = append(args, "listener="+r.Listener)
	}
	if r.Limit != 0 {
		args = append(args, "limit="+strconv.Itoa(r.Limit))
	}
	return args
}

// ParseClientsRequest reads the arguments of a "clients" request: each
// KEY=VALUE with KEY listener or limit, at most once each.
func ParseClientsRequest(args []string) (ClientsRequest, error) {
	var r ClientsRequest
	err := eachKeyValue("clients", args, func(k, v string) (err error) {
		switch k {
		case "listener":
			r.Listener = v
		case "limit":
			r.Limit, err = parseLimit(v, MaxClientsLimit)
		default:
			err = fmt.Errorf("unknown key %q (listener, limit)", k)
		}
		return err
	})
	if err != nil {
		return ClientsRequest{}, err
	}
	return r, nil
}

// Clients is the daemon's answer to a "clients" request: per listener,
// in the configuration's order, its client addresses with a session now.
type Clients struct {
	Now       time.Time         `json:"now"`
	Listeners []ListenerClients `json:"listeners"`
}

// ListenerClients is one listener's part of a Clients answer.
type ListenerClients struct {
	Listener string `json:"listener"`
	// Clients counts the client addresses with a session; List holds the
	// busiest of them, most sessions first (ties by address), at most the
	// request's limit.
	Clients int                       `json:"clients"`
	List    []balancer.ClientSnapshot `json:"list"`
	// MaxConnPerClient is the listener's maxconn_per_client (0: none), and
	// AtLimit how many addresses hold it: their new connections are
	// refused.
	MaxConnPerClient int64 `json:"maxconn_per_client"`
	AtLimit          int   `json:"at_limit"`
}

// FormatClients writes c as a table, one client address a row, with its
// sessions against maxconn_per_client, and a line per listener whose
// addresses were not all listed: "100 of 2345 client addresses of amqp
// (limit 100)".
func FormatClients(w io.Writer, c Clients, limit int) error {
	p := &page{}
	listed := 0
	for _, l := range c.Listeners {
		listed += len(l.List)
	}
	if listed > 0 {
		tb := p.table("LISTENER", "CLIENT", "SESSIONS")
		for _, l := range c.Listeners {
			for _, x := range l.List {
				tb.row(txt(l.Listener), txt(x.Address.String()), clientSessions(x, l.MaxConnPerClient))
			}
		}
	}
	for _, l := range c.Listeners {
		noun := "client addresses"
		if l.Clients == 1 {
			noun = "client address"
		}
		line := fmt.Sprintf("%s: %d %s", l.Listener, l.Clients, noun)
		if len(l.List) < l.Clients {
			line = fmt.Sprintf("%s: %d of %d %s (limit %d)", l.Listener, len(l.List), l.Clients, noun, limit)
		}
		if l.AtLimit > 0 {
			line += fmt.Sprintf(", %d at maxconn_per_client (%d)", l.AtLimit, l.MaxConnPerClient)
		}
		p.printf(line)
	}
	return p.write(w)
}

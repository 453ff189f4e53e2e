package daemon

import (
	"fmt"
	"time"

	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/control"
)

// Clients answers a "clients" request: per running listener that r
// selects, in the file's order, its client addresses with a session now,
// the busiest first, at most r's limit (control.DefaultClientsLimit when it
// names none). A listener that r names and the daemon does not run is an
// error. The listeners count their clients as they accept and end
// sessions, so the answer waits for no event loop. Safe for concurrent
// use.
func (d *Daemon) Clients(r control.ClientsRequest) (control.Clients, error) {
	limit := r.Limit
	if limit == 0 {
		limit = control.DefaultClientsLimit
	}
	ls, err := d.sessionListeners(control.SessionsRequest{Listener: r.Listener})
	if err != nil {
		return control.Clients{}, fmt.Errorf("listing clients: %w", err)
	}
	out := control.Clients{Now: time.Now(), Listeners: []control.ListenerClients{}}
	for _, x := range ls {
		list, n, atLimit, perClient := x.l.Clients(limit)
		if list == nil {
			list = []balancer.ClientSnapshot{}
		}
		out.Listeners = append(out.Listeners, control.ListenerClients{Listener: x.name, Clients: n, List: list, MaxConnPerClient: perClient, AtLimit: atLimit})
	}
	return out, nil
}

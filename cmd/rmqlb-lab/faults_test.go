package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/control"
)

// TestPlacedOnFrozen: every daemon is checked for new connections on the
// frozen broker, a status that cannot be read is an error and does not
// skip the daemons after it, and a daemon not running is skipped.
func TestPlacedOnFrozen(t *testing.T) {
	withTotal := func(n uint64) *statusView {
		return &statusView{control.Status{Listeners: []balancer.Snapshot{{Name: listenerName,
			Backends: []balancer.BackendSnapshot{{Name: "rmq2", Total: n}}}}}}
	}
	statuses := map[string]func() (*statusView, error){
		"rmq1": func() (*statusView, error) { return nil, errors.New("status of rmq1: timeout") },
		"rmq2": func() (*statusView, error) { return withTotal(9), nil },
		"rmq3": func() (*statusView, error) { return nil, nil }, // not running
	}
	status := func(name string) (*statusView, error) { return statuses[name]() }
	err := placedOnFrozen("rmq2", map[string]int{"rmq1": 5, "rmq2": 7, "rmq3": 1}, status)
	if err == nil {
		t.Fatal("no error for a status not read and a connection placed")
	}
	for _, want := range []string{"rmq2 placed 2", "status of rmq1: timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	statuses["rmq1"] = func() (*statusView, error) { return withTotal(5), nil }
	statuses["rmq2"] = func() (*statusView, error) { return withTotal(7), nil }
	if err := placedOnFrozen("rmq2", map[string]int{"rmq1": 5, "rmq2": 7, "rmq3": 1}, status); err != nil {
		t.Errorf("nothing placed, every status read: %v", err)
	}
}

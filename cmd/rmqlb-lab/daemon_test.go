package main

import (
	"strings"
	"testing"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/healthcheck"
)

// TestCheckIs: a check is in a state only when the status lists it in
// that state. A status without the check is in none, not DOWN (the zero
// backend.State), so that a wait for DOWN cannot pass on a daemon that
// does not check the broker at all.
func TestCheckIs(t *testing.T) {
	s := &statusView{control.Status{Checks: []healthcheck.BackendStatus{
		{Backend: backend.ID{Listener: listenerName, Name: "rmq1"}, State: backend.Up},
		{Backend: backend.ID{Listener: listenerName, Name: "rmq2"}, State: backend.Down, Reason: "refused"},
		{Backend: backend.ID{Listener: "other", Name: "rmq3"}, State: backend.Down},
		{Backend: backend.ID{Listener: listenerName, Name: "rmq5"}, State: backend.Down,
			Reason: "2 consecutive failures: timeout", LastError: "connection refused"},
		{Backend: backend.ID{Listener: listenerName, Name: "rmq6"}, State: backend.Down,
			Reason: "2 consecutive failures: connection refused", LastError: "connection refused"},
	}}}
	for _, c := range []struct {
		name string
		want backend.State
		is   bool
		got  string // part of what checkIs says instead
	}{
		{"rmq1", backend.Up, true, ""},
		{"rmq1", backend.Down, false, "UP"},
		{"rmq2", backend.Down, true, ""},
		{"rmq2", backend.Up, false, "DOWN (refused)"},
		{"rmq3", backend.Down, false, "not in the status"}, // another listener's
		{"rmq4", backend.Down, false, "not in the status"},
		// A DOWN check says why it went DOWN and why it still is.
		{"rmq5", backend.Up, false, "DOWN (2 consecutive failures: timeout; last failure: connection refused)"},
		{"rmq6", backend.Up, false, "DOWN (2 consecutive failures: connection refused)"},
	} {
		is, got := s.checkIs(c.name, c.want)
		if is != c.is || !strings.Contains(got, c.got) || (is && got != "") || strings.Count(got, "refused") > 1 {
			t.Errorf("checkIs(%s, %v) = %v, %q; want %v, %q", c.name, c.want, is, got, c.is, c.got)
		}
	}
}

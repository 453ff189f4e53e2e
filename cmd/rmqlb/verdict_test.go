package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/netsetup"
	"github.com/rmqlb/rmqlb/vrrp"
)

// TestStatusFollowsDaemonVerdict: `rmqlb status` prints and exits with
// the verdict the daemon reached on its monotonic clock, in text and in
// JSON, not with what the client would make of the wall-clock times it
// was sent: a step of the clock between an advert refused 2 s ago and
// now makes it look 30 s old (healthy) to the client, and the other way
// round.
func TestStatusFollowsDaemonVerdict(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	vip := netip.MustParsePrefix("192.0.2.100/24")
	status := func(refusedAgo time.Duration) control.Status {
		return control.Status{
			Version: "test", PID: 1, Started: now.Add(-time.Hour), Now: now,
			VRRP: []control.VRRP{{
				Snapshot: vrrp.Snapshot{Name: "rabbitmq", Interface: "eth0", VRID: 1, Version: 2, State: vrrp.StateMaster,
					AdvertInterval: time.Second, VIPs: []netip.Prefix{vip}, Since: now.Add(-time.Minute),
					Refused: &vrrp.RefusedAdvert{From: netip.MustParseAddr("192.0.2.2"), Priority: 100,
						AdvertInterval: time.Second, Reason: vrrp.DropAuth, At: now.Add(-refusedAgo), Count: 1}},
				Addresses: netsetup.VIPSetSnapshot{Interface: "eth0", Held: true,
					VIPs: []netsetup.VIPSnapshot{{Prefix: vip, Present: true, Marked: true, Owned: true}}},
			}},
			Listeners: []balancer.Snapshot{{Name: "amqp", Bind: netip.MustParseAddrPort("192.0.2.100:5672"), Listening: true,
				Backends: []balancer.BackendSnapshot{{Name: "rmq1", Address: netip.MustParseAddrPort("10.0.0.1:5672"),
					State: backend.Up, Weight: 10, ConfiguredWeight: 10, WeightPercent: 100}}}},
		}
	}
	for _, c := range []struct {
		name               string
		daemonAgo, seenAgo time.Duration
		code               int
	}{
		{"degraded", 2 * time.Second, 30 * time.Second, control.ExitDegraded},
		{"healthy", 30 * time.Second, 2 * time.Second, control.ExitHealthy},
	} {
		t.Run(c.name, func(t *testing.T) {
			answer := status(c.seenAgo)
			answer.Verdict = control.Assess(status(c.daemonAgo))
			if control.Assess(answer).ExitCode() == c.code {
				t.Fatalf("the client's Assess agrees with the daemon's verdict: the case tests nothing")
			}
			socket := filepath.Join(t.TempDir(), "rmqlb.sock")
			srv := &control.Server{Path: socket, Handler: func(context.Context, control.Request) (any, error) { return answer, nil }}
			ln, err := srv.Listen()
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error)
			go func() { done <- srv.Serve(ctx, ln) }()
			defer func() { cancel(); <-done }()

			var out, errOut bytes.Buffer
			code := showStatus(ctx, socket, statusOutput{}, &out, &errOut)
			first, _, _ := strings.Cut(out.String(), "\n")
			if code != c.code || first != answer.Verdict.Line() || strings.HasPrefix(first, "DEGRADED:") != (c.code == control.ExitDegraded) {
				t.Errorf("status: exit %d, first line %q; want exit %d, %q\n%s", code, first, c.code, answer.Verdict.Line(), errOut.String())
			}
			out.Reset()
			code = showStatus(ctx, socket, statusOutput{json: true}, &out, &errOut)
			var js struct {
				Verdict control.Verdict `json:"verdict"`
			}
			if err := json.Unmarshal(out.Bytes(), &js); err != nil || code != c.code || js.Verdict.ExitCode() != c.code {
				t.Errorf("status --json: exit %d, verdict %+v (%v); want exit %d", code, js.Verdict, err, c.code)
			}
		})
	}
}

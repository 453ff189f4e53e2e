package balancer

import (
	"errors"
	"io"
	"testing"
	"time"

	rbackend "github.com/rmqlb/rmqlb/backend"
)

// TestPickBrokerFull: a backend whose broker is at its connection limit
// gets no new connection while another backend can take it, a backup
// included; when none can, the policy spreads them over the full ones
// (their brokers may have room again, and tell the clients why if not),
// but never over one down, drained, at its maxconn or skipped.
func TestPickBrokerFull(t *testing.T) {
	brokerFull := func(b *backend) { b.brokerFull = true }
	down := func(b *backend) { b.state = rbackend.Down }
	drain := func(b *backend) { b.weight = 0 }
	atMaxConn := func(b *backend) { b.maxConn, b.active = 1, 1 }
	both := func(fs ...func(*backend)) func(*backend) {
		return func(b *backend) {
			for _, f := range fs {
				f(b)
			}
		}
	}
	tests := []struct {
		name    string
		policy  Policy
		backups string
		set     map[string]func(*backend)
		skip    string // a backend the session tried already
		want    string
	}{
		{name: "one full", policy: PolicyRoundRobin, set: map[string]func(*backend){"a": brokerFull}, want: "bcbcbc"},
		{name: "one full, wrr", policy: PolicyWRR, set: map[string]func(*backend){"b": brokerFull}, want: "acacac"},
		{name: "one full, leastconn", policy: PolicyLeastConn, set: map[string]func(*backend){"c": brokerFull}, want: "ababab"},
		{name: "all full: spread over them", policy: PolicyRoundRobin,
			set: map[string]func(*backend){"a": brokerFull, "b": brokerFull, "c": brokerFull}, want: "abcabc"},
		{name: "all full but one down", policy: PolicyWRR,
			set: map[string]func(*backend){"a": brokerFull, "b": both(brokerFull, down), "c": brokerFull}, want: "acacac"},
		{name: "full or unusable", policy: PolicyRoundRobin,
			set: map[string]func(*backend){"a": both(brokerFull, drain), "b": both(brokerFull, atMaxConn), "c": brokerFull}, want: "cccccc"},
		{name: "actives full: the backup first", policy: PolicyRoundRobin, backups: "c",
			set: map[string]func(*backend){"a": brokerFull, "b": brokerFull}, want: "cccccc"},
		{name: "the backup full too", policy: PolicyRoundRobin, backups: "c",
			set: map[string]func(*backend){"a": brokerFull, "b": brokerFull, "c": brokerFull}, want: "abcabc"},
		{name: "the other full one tried", policy: PolicyRoundRobin, skip: "b",
			set: map[string]func(*backend){"a": both(brokerFull, down), "b": brokerFull, "c": down}, want: "------"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := backupPool(tt.policy, false, 3, tt.backups)
			for _, b := range p.backends {
				if f := tt.set[b.name]; f != nil {
					f(b)
				}
			}
			var skip func(*backend) bool
			if tt.skip != "" {
				skip = func(b *backend) bool { return b.name == tt.skip }
			}
			got := ""
			for range len(tt.want) {
				b, _ := p.pick(skip)
				if b == nil {
					got += "-"
					continue
				}
				got += b.name
			}
			if got != tt.want {
				t.Errorf("picks %q, want %q", got, tt.want)
			}
		})
	}
}

// TestListenerBrokerFull: through real sockets, a backend whose broker is
// at its connection limit keeps its sessions, its state and its snapshot
// says so, its pinned clients go to the other backend, new ones too, and
// its sessions have nowhere to move to while the other is full as well;
// once it takes clients again it is served as before. A drained backend's
// snapshot does not say full.
func TestListenerBrokerFull(t *testing.T) {
	_, _, cfg := activeAndBackup(t)
	cfg.Backends[1].Backup = false
	cfg.PersistenceTimeout = time.Minute
	r := startListener(t, cfg, 1)
	served := func() (string, func()) {
		t.Helper()
		c := r.dial(t)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, 1)
		if _, err := io.ReadFull(c, b); err != nil {
			t.Fatalf("reading the backend's name: %v", err)
		}
		return string(b), func() { c.Close() }
	}
	first, closeFirst := served() // the client (127.0.0.1) is pinned to it
	defer closeFirst()
	name := map[string]string{"A": "act", "B": "bak"}[first]
	other := map[string]string{"A": "B", "B": "A"}[first]
	if err := r.SetBackendFull(name, true); err != nil {
		t.Fatal(err)
	}
	s := backendSnap(r.Snapshot(), name)
	if !s.BrokerFull || s.State != rbackend.Up || s.Active != 1 {
		t.Fatalf("snapshot of the full backend: %+v, want full, UP, its session kept", s)
	}
	for range 3 {
		got, done := served()
		done()
		if got != other {
			t.Fatalf("a full broker's pinned client served by %q, want %q", got, other)
		}
	}
	otherName := map[string]string{"act": "bak", "bak": "act"}[name]
	if err := r.SetBackendFull(otherName, true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.MoveSessions(t.Context(), name, 1); !errors.Is(err, ErrNowhereToMove) {
		t.Fatalf("moving the sessions with every other broker full: %v, want ErrNowhereToMove", err)
	}
	if err := r.SetBackendFull(name, false); err != nil {
		t.Fatal(err)
	}
	if got, done := served(); got != first {
		t.Fatalf("the broker takes clients again: served by %q, want %q (the other is full)", got, first)
	} else {
		done()
	}
	// A drained backend takes no new connection anyway: its snapshot says
	// nothing of its broker's limit.
	if err := r.SetBackendState(otherName, rbackend.Drain, "test"); err != nil {
		t.Fatal(err)
	}
	if backendSnap(r.Snapshot(), otherName).BrokerFull {
		t.Error("snapshot of a drained backend whose broker is full: BrokerFull set")
	}
	if err := r.SetBackendFull("nope", true); !errors.Is(err, ErrUnknownBackend) {
		t.Fatalf("SetBackendFull of an unknown backend: %v", err)
	}
}

package balancer

import (
	"io"
	"net"
	"testing"
	"time"

	rbackend "github.com/rmqlb/rmqlb/backend"
)

// backupPool is a pool of backends a, b, c, ... of weight 1 whose names in
// backups are backup servers.
func backupPool(policy Policy, all bool, n int, backups string) *pool {
	p := &pool{policy: policy, allBackups: all}
	for i := range n {
		name := string(rune('a' + i))
		bc := BackendConfig{Name: name, Weight: 1}
		for _, r := range backups {
			bc.Backup = bc.Backup || string(r) == name
		}
		p.backends = append(p.backends, newBackend(bc, time.Time{}))
	}
	return p
}

// TestPickBackup: backup servers take connections only while no active
// backend can (down, maintenance, drained, at maxconn, looping back), the
// first usable one in order unless allBackups spreads them by the policy;
// the active backends take them back as soon as one can.
func TestPickBackup(t *testing.T) {
	down := func(b *backend) { b.state = rbackend.Down }
	maint := func(b *backend) { b.state = rbackend.Maint }
	drain := func(b *backend) { b.weight = 0 }
	loops := func(b *backend) { b.loops = true }
	full := func(b *backend) { b.maxConn, b.active = 1, 1 }
	tests := []struct {
		name    string
		policy  Policy
		all     bool
		backups string
		set     map[string]func(*backend)
		want    string
		full    bool
	}{
		{name: "actives up: backups idle", policy: PolicyRoundRobin, backups: "cd", want: "ababab"},
		{name: "actives up, wrr", policy: PolicyWRR, backups: "cd", want: "ababab"},
		{name: "actives up, leastconn", policy: PolicyLeastConn, backups: "cd", want: "ababab"},
		{name: "one active down", policy: PolicyRoundRobin, backups: "cd", set: map[string]func(*backend){"a": down}, want: "bbbbbb"},
		{name: "actives down: first backup", policy: PolicyRoundRobin, backups: "cd",
			set: map[string]func(*backend){"a": down, "b": maint}, want: "cccccc"},
		{name: "actives drained, looping: first backup", policy: PolicyLeastConn, backups: "cd",
			set: map[string]func(*backend){"a": drain, "b": loops}, want: "cccccc"},
		{name: "first backup down: the next", policy: PolicyRoundRobin, backups: "cd",
			set: map[string]func(*backend){"a": down, "b": down, "c": down}, want: "dddddd"},
		{name: "allbackups spreads by the policy", policy: PolicyRoundRobin, all: true, backups: "cd",
			set: map[string]func(*backend){"a": down, "b": down}, want: "cdcdcd"},
		{name: "allbackups, wrr", policy: PolicyWRR, all: true, backups: "cd",
			set: map[string]func(*backend){"a": down, "b": down}, want: "cdcdcd"},
		{name: "actives at maxconn spill to the backup", policy: PolicyRoundRobin, backups: "cd",
			set: map[string]func(*backend){"a": full, "b": full}, want: "cccccc"},
		{name: "a backup in the middle of the file", policy: PolicyRoundRobin, backups: "b", want: "acdacd"},
		{name: "only backups", policy: PolicyRoundRobin, backups: "abcd", want: "aaaaaa"},
		{name: "nothing usable", policy: PolicyRoundRobin, backups: "cd",
			set: map[string]func(*backend){"a": down, "b": down, "c": down, "d": maint}, want: "------"},
		{name: "everything full", policy: PolicyRoundRobin, backups: "cd",
			set: map[string]func(*backend){"a": full, "b": full, "c": full, "d": full}, want: "------", full: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := backupPool(tt.policy, tt.all, 4, tt.backups)
			for _, b := range p.backends {
				if f := tt.set[b.name]; f != nil {
					f(b)
				}
			}
			if got := picks(t, p, len(tt.want)); got != tt.want {
				t.Errorf("picks %q, want %q", got, tt.want)
			}
			if _, full := p.pick(nil); full != tt.full {
				t.Errorf("full %v, want %v", full, tt.full)
			}
		})
	}
}

// TestPickBackupFailsBack: once an active backend can take connections
// again, the backups get no more, and a client pinned to a backup is
// not kept on it (eligible), nor on a backup other than the first.
func TestPickBackupFailsBack(t *testing.T) {
	p := backupPool(PolicyRoundRobin, false, 3, "bc")
	a, b, c := p.backends[0], p.backends[1], p.backends[2]
	a.state = rbackend.Down
	if got := picks(t, p, 3); got != "bbb" {
		t.Fatalf("active down: picks %q, want bbb", got)
	}
	if !p.eligible(b, nil) || p.eligible(c, nil) {
		t.Fatalf("active down: eligible b %v, c %v; want the first backup only", p.eligible(b, nil), p.eligible(c, nil))
	}
	// The backup a client tried already is skipped for the next.
	if !p.eligible(c, func(x *backend) bool { return x == b }) {
		t.Fatal("first backup tried: the second is not eligible")
	}
	a.state = rbackend.Up
	if got := picks(t, p, 3); got != "aaa" {
		t.Fatalf("active back: picks %q, want aaa", got)
	}
	if p.eligible(b, nil) || !p.eligible(a, nil) {
		t.Fatal("active back: a client pinned to the backup is kept on it")
	}
	// A connect to the active backend failed: the pinned backup serves.
	if !p.eligible(b, func(x *backend) bool { return x == a }) {
		t.Fatal("active tried: the backup is not eligible")
	}
	p.allBackups = true
	a.state = rbackend.Down
	if !p.eligible(b, nil) || !p.eligible(c, nil) {
		t.Fatal("allBackups: every usable backup is eligible")
	}
}

// namedEcho is a server's handler that writes name, then echoes.
func namedEcho(name string) func(net.Conn) {
	return func(c net.Conn) {
		c.Write([]byte(name))
		echo(c)
	}
}

// activeAndBackup starts two servers that write their name ("A", "B")
// and then echo, and returns them with a listener's configuration of
// backend act on the first and backup bak on the second.
func activeAndBackup(t *testing.T) (act, bak *testServer, cfg Config) {
	act, bak = newServer(t, "127.0.0.1", namedEcho("A")), newServer(t, "127.0.0.1", namedEcho("B"))
	cfg = baseConfig([]BackendConfig{
		{Name: "act", Address: act.addr, Weight: 1},
		{Name: "bak", Address: bak.addr, Weight: 1, Backup: true},
	})
	return act, bak, cfg
}

// TestListenerBackup: through real sockets, the backup server gets no
// client while the active one serves, gets every client while it is down
// (a connect that fails on the active one is redispatched to it), and a
// client pinned to the backup goes back to the active one as soon as it
// serves again. A reload that makes the backup active spreads the
// clients; the snapshot says which backend is a backup.
func TestListenerBackup(t *testing.T) {
	act, bak, cfg := activeAndBackup(t)
	cfg.PersistenceTimeout = time.Minute
	r := startListener(t, cfg, 1)
	served := func() string {
		t.Helper()
		c := r.dial(t)
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, 1)
		if _, err := io.ReadFull(c, b); err != nil {
			t.Fatalf("reading the backend's name: %v", err)
		}
		return string(b)
	}
	seq := func(n int) string {
		var s string
		for range n {
			s += served()
		}
		return s
	}
	if got := seq(4); got != "AAAA" {
		t.Fatalf("active up: served by %q, want AAAA", got)
	}
	if s := backendSnap(r.Snapshot(), "bak"); !s.Backup || backendSnap(r.Snapshot(), "act").Backup {
		t.Fatalf("snapshot: backup flags act %v, bak %v", backendSnap(r.Snapshot(), "act").Backup, s.Backup)
	}
	if err := r.SetBackendState("act", rbackend.Down, "test"); err != nil {
		t.Fatal(err)
	}
	if got := seq(4); got != "BBBB" {
		t.Fatalf("active down: served by %q, want BBBB", got)
	}
	// The client (127.0.0.1) is now pinned to the backup; the active one
	// takes it back once it serves.
	if err := r.SetBackendState("act", rbackend.Up, "test"); err != nil {
		t.Fatal(err)
	}
	if got := seq(4); got != "AAAA" {
		t.Fatalf("active up again: served by %q, want AAAA (the pin to the backup kept)", got)
	}
	// The active broker is gone while still marked up: the connect fails
	// and the client is redispatched to the backup.
	act.close()
	if got := seq(2); got != "BB" {
		t.Fatalf("active refusing: served by %q, want BB", got)
	}
	// A reload that makes bak active: both take clients (persistence off
	// so that one client address spreads).
	act2 := newServer(t, "127.0.0.1", namedEcho("A"))
	cfg.PersistenceTimeout = 0
	cfg.Backends = []BackendConfig{
		{Name: "act", Address: act2.addr, Weight: 1},
		{Name: "bak", Address: bak.addr, Weight: 1},
	}
	if err := r.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	if got := seq(4); got != "ABAB" {
		t.Fatalf("after the reload: served by %q, want ABAB", got)
	}
	if backendSnap(r.Snapshot(), "bak").Backup {
		t.Fatal("snapshot: still a backup after the reload")
	}
}

// TestShutdownBackupsOnUp: with ShutdownBackupsOnUp, an active backend
// that serves again closes the backups' sessions (their clients reconnect
// to it), not when it comes back drained (weight 0) and not without the
// setting; the backups' sessions are logged as backup_replaced.
func TestShutdownBackupsOnUp(t *testing.T) {
	for _, tc := range []struct {
		name    string
		on      bool
		drained bool
		closes  bool
	}{
		{name: "on", on: true, closes: true},
		{name: "off", on: false},
		{name: "on, active drained", on: true, drained: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, cfg := activeAndBackup(t)
			cfg.ShutdownBackupsOnUp = tc.on
			r := startLogged(t, cfg)
			if err := r.SetBackendState("act", rbackend.Down, "test"); err != nil {
				t.Fatal(err)
			}
			var onBackup []*net.TCPConn
			for range 2 {
				c := r.dial(t)
				defer c.Close()
				b := make([]byte, 1)
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := io.ReadFull(c, b); err != nil || b[0] != 'B' {
					t.Fatalf("active down: served by %q (%v), want B", b, err)
				}
				onBackup = append(onBackup, c)
			}
			if tc.drained {
				if err := r.SetBackendWeight("act", 0); err != nil {
					t.Fatal(err)
				}
			}
			if err := r.SetBackendState("act", rbackend.Up, "test"); err != nil {
				t.Fatal(err)
			}
			for i, c := range onBackup {
				if tc.closes {
					if err := waitClosed(c, 3*time.Second); err != nil {
						t.Errorf("session %d on the backup: %v", i, err)
					}
					if m := r.next(t); m["reason"] != "backup_replaced" || m["backend"] != "bak" {
						t.Errorf("session %d logged as ended for %v on %v, want backup_replaced on bak", i, m["reason"], m["backend"])
					}
					continue
				}
				if got, err := roundTrip(c, []byte("still there")); err != nil || string(got) != "still there" {
					t.Errorf("session %d on the backup: %q, %v; want it kept", i, got, err)
				}
			}
		})
	}
}

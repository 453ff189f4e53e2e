package amqpcheck

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/healthcheck"
)

// TestBrokerDiskAlarm: under a disk alarm (free space below disk_free_limit) the login check
// passes with the alarm, as under a memory alarm, and its later checks still log in; the
// report is clean again once the alarm clears.
func TestBrokerDiskAlarm(t *testing.T) {
	n := realBroker(t)
	_, check := checker(t, Config{Addr: n.Addr, Mode: ModeLogin, User: "checker", Password: "s3cret"}, 3*time.Second)
	n.MustCtl(t, "set_disk_free_limit", "1000000GB")
	defer n.MustCtl(t, "set_disk_free_limit", "50MB")
	awaitAlarm(t, check, "disk")
	for i := range 3 {
		if r := check(); r.Err != nil || !strings.Contains(r.Alarm, "disk") {
			t.Fatalf("check %d under the disk alarm: %+v", i, r)
		}
	}
	n.MustCtl(t, "set_disk_free_limit", "50MB")
	deadline := time.Now().Add(30 * time.Second)
	for r := check(); r.Alarm != "" || r.Err != nil; r = check() {
		if time.Now().After(deadline) {
			t.Fatalf("disk alarm did not clear: %+v", r)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestBrokerDrain: a node put in maintenance mode (rabbitmq-upgrade drain, before an upgrade)
// stops its client listeners, so both checks fail with the connection refused: the backend is
// DOWN and no client is sent to it. Revived, it passes again.
func TestBrokerDrain(t *testing.T) {
	n := realBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	revived := false
	if _, err := n.Upgrade(ctx, "drain"); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if !revived {
			n.Upgrade(context.Background(), "revive")
		}
	}()
	for _, m := range []Mode{ModeHandshake, ModeLogin} {
		if _, err := run(t, Config{Addr: n.Addr, Mode: m}, 3*time.Second); !errors.Is(err, ErrRefused) {
			t.Errorf("%s check of a drained node: %v, want %v", m, err, ErrRefused)
		}
	}
	if _, err := n.Upgrade(ctx, "revive"); err != nil {
		t.Fatal(err)
	}
	revived = true
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := run(t, Config{Addr: n.Addr, Mode: ModeLogin}, 3*time.Second)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("login check of the revived node: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestBrokerMinimalPermissions: the login check with its alarm probe needs no more than write
// permission on the default exchange of its vhost (configure '^$', write '^amq\.default$',
// read '^$'); without it the probe fails and the check warns (the backend is DEGRADED); a user
// with no permissions on the vhost is refused at Connection.Open, which the check passes with a
// warning too (see loginRefused).
func TestBrokerMinimalPermissions(t *testing.T) {
	n := realBroker(t)
	for _, u := range []struct{ name, configure, write, read string }{
		{"rmqlb-min", "^$", `^amq\.default$`, "^$"},
		{"rmqlb-nowrite", "^$", "^$", "^$"},
		{"rmqlb-novhost", "", "", ""},
	} {
		n.MustCtl(t, "add_user", u.name, "pw")
		defer n.MustCtl(t, "delete_user", u.name)
		if u.name != "rmqlb-novhost" {
			n.MustCtl(t, "set_permissions", "-p", "/", u.name, u.configure, u.write, u.read)
		}
	}
	check := func(user string) healthcheck.Result {
		t.Helper()
		_, check := checker(t, Config{Addr: n.Addr, Mode: ModeLogin, User: user, Password: "pw"}, 3*time.Second)
		return check()
	}
	if r := check("rmqlb-min"); r.Err != nil || r.Warning != "" || r.Alarm != "" {
		t.Errorf("minimal permissions: %+v, want a clean pass", r)
	}
	if r := check("rmqlb-nowrite"); r.Err != nil || !strings.Contains(r.Warning, "alarm probe failed") || !strings.Contains(r.Warning, "403") || r.Refused {
		t.Errorf("no write on the default exchange: %+v, want a pass with the probe's 403 as warning", r)
	}
	if r := check("rmqlb-novhost"); r.Err != nil || !strings.Contains(r.Warning, "login refused: 530 NOT_ALLOWED") || !r.Refused {
		t.Errorf("no permissions on the vhost: %+v, want a pass with the refusal as warning", r)
	}
}

package migrate

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/config"
)

func importParsed(t *testing.T, files memFiles, src Sources) (*config.Config, string, []Note) {
	t.Helper()
	r, err := Import(src, files)
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse(r.YAML)
	if err != nil {
		t.Fatalf("%v\n%s", err, r.YAML)
	}
	return c, string(r.YAML), r.Notes
}

func notesFor(ns []Note, line int) string {
	var b strings.Builder
	for _, n := range ns {
		if n.Pos.Line == line {
			b.WriteString(n.String() + "\n")
		}
	}
	return b.String()
}

// keepalived runs a state MASTER instance without a priority at 255, and
// clears nopreempt and preempt_delay with state MASTER (its vrrp.c,
// vrrp_complete_instance): the import writes what keepalived runs.
func TestImportStateMaster(t *testing.T) {
	k := "vrrp_instance V {\n state MASTER\n interface eth0\n virtual_router_id 7\n nopreempt\n virtual_ipaddress {\n  10.0.0.100\n }\n}\n"
	c, y, _ := importParsed(t, memFiles{"k": k}, Sources{Keepalived: "k"})
	in := c.VRRP[0]
	if in.Priority != 255 {
		t.Errorf("priority %d, keepalived runs this instance at 255", in.Priority)
	}
	if !in.Preempt {
		t.Errorf("preempt false, keepalived clears nopreempt with state MASTER\n%s", y)
	}
}

// keepalived sends no authentication without auth_type, or with a type
// not spelt PASS (it matches in capitals): no auth_pass is written, with a
// note, or the peers would drop each other's adverts while migrating.
func TestImportAuthPassWithoutType(t *testing.T) {
	for _, auth := range []string{"  auth_pass secret\n", "  auth_type pass\n  auth_pass secret\n"} {
		k := "vrrp_instance V {\n interface eth0\n virtual_router_id 7\n authentication {\n" + auth + " }\n virtual_ipaddress {\n  10.0.0.100\n }\n}\n"
		c, _, ns := importParsed(t, memFiles{"k": k}, Sources{Keepalived: "k"})
		if c.VRRP[0].AuthPass != "" {
			t.Errorf("%q: auth_pass %q written; keepalived sends no authentication", auth, c.VRRP[0].AuthPass)
		}
		if notesFor(ns, 4)+notesFor(ns, 5)+notesFor(ns, 6) == "" {
			t.Errorf("%q: no note on the authentication block", auth)
		}
	}
}

// A vrrp_script weight with reverse has no rmqlb equivalent: noted, not
// tracked the wrong way round.
func TestImportWeightReverse(t *testing.T) {
	k := "vrrp_script chk {\n script \"killall -0 haproxy\"\n weight -20 reverse\n}\nvrrp_instance V {\n interface eth0\n virtual_router_id 7\n virtual_ipaddress {\n  10.0.0.100\n }\n track_script {\n  chk\n }\n}\n"
	h := "listen amqp\n bind 10.0.0.100:5672\n server r1 10.0.0.1:5672 check\n"
	_, y, ns := importParsed(t, memFiles{"k": k, "h": h}, Sources{Keepalived: "k", HAProxy: "h"})
	if n := notesFor(ns, 3); !strings.Contains(n, "reverse") {
		t.Errorf("no note on line 3 (reverse); notes: %q\n%s", n, y)
	}
}

// notify_master becomes the instance's notify.master hook.
func TestImportNotifyMaster(t *testing.T) {
	k := "vrrp_instance V {\n interface eth0\n virtual_router_id 7\n virtual_ipaddress {\n  10.0.0.100\n }\n notify_master /usr/local/bin/up.sh\n}\n"
	c, _, ns := importParsed(t, memFiles{"k": k}, Sources{Keepalived: "k"})
	if got := c.VRRP[0].NotifyConfig().Master; len(got) == 0 {
		t.Errorf("notify_master not translated to notify.master; note: %s", notesFor(ns, 7))
	}
}

// HAProxy's on-marked-up shutdown-backup-sessions becomes the listener's
// on_marked_up, with a note when only some active servers have it (rmqlb's
// setting is the listener's); a value rmqlb lacks is reported.
func TestImportOnMarkedUp(t *testing.T) {
	for _, tc := range []struct {
		name, r1, r2 string
		want         config.OnMarkedUp
		note         string
	}{
		{"every active server", " on-marked-up shutdown-backup-sessions", " on-marked-up shutdown-backup-sessions", config.ShutdownBackupSessions, ""},
		{"one of two", " on-marked-up shutdown-backup-sessions", "", config.ShutdownBackupSessions, "some active servers only"},
		{"none", "", "", config.KeepBackupSessions, ""},
		{"a value rmqlb lacks", " on-marked-up shutdown-backend-sessions", "", config.KeepBackupSessions, "no equivalent: rmqlb's on_marked_up is"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := "listen amqp\n bind 10.0.0.100:5672\n server r1 10.0.0.1:5672 check" + tc.r1 + "\n server r2 10.0.0.2:5672 check" + tc.r2 + "\n server r3 10.0.0.3:5672 check backup\n"
			c, y, ns := importParsed(t, memFiles{"h": h}, Sources{HAProxy: "h"})
			if got := c.Listeners[0].OnMarkedUp; got != tc.want {
				t.Errorf("on_marked_up %v, want %v\n%s", got, tc.want, y)
			}
			if n := notesFor(ns, 3); tc.note == "" && strings.Contains(n, "on_marked_up") || !strings.Contains(n, tc.note) {
				t.Errorf("notes of line 3 %q, want one with %q", n, tc.note)
			}
		})
	}
}

// A server given by host name is looked up, as HAProxy does at its start:
// its first IPv4 address, else its first, with a note; a name without an
// address, or whose address is the unspecified one, is not translated.
func TestImportServerByName(t *testing.T) {
	files := memFiles{
		"h": "listen amqp\n bind 10.0.0.100:5672\n server r1 rmq1.example.com:5672 check\n server r2 rmq2.example.com:5672 check\n" +
			" server r3 rmq3.example.com:5672 check\n server r4 gone.example.com:5672 check\n server r5 zero.example.com:5672 check\n",
		"hosts:rmq1.example.com": "10.0.0.1",
		"hosts:rmq2.example.com": "2001:db8::2 10.0.0.2",
		"hosts:rmq3.example.com": "2001:db8::3",
		"hosts:zero.example.com": "0.0.0.0",
	}
	c, y, ns := importParsed(t, files, Sources{HAProxy: "h"})
	want := map[string]string{"r1": "10.0.0.1:5672", "r2": "10.0.0.2:5672", "r3": "[2001:db8::3]:5672"}
	got := map[string]string{}
	for _, b := range c.Listeners[0].Backends {
		got[b.ID.Name] = b.Address.String()
	}
	if !maps.Equal(got, want) {
		t.Errorf("backends %v, want %v\n%s", got, want, y)
	}
	for line, note := range map[int]string{
		3: "note: rmq1.example.com looked up as 10.0.0.1, as HAProxy does at its start: rmqlb connects to that address and does not follow the name",
		4: "note: rmq2.example.com looked up as 10.0.0.2",
		5: "note: rmq3.example.com looked up as 2001:db8::3",
		6: "not translated: gone.example.com: looking it up (as HAProxy does at its start) found no address",
		7: "not translated: zero.example.com: looked up as 0.0.0.0, the unspecified address",
	} {
		if n := notesFor(ns, line); !strings.Contains(n, note) {
			t.Errorf("notes of line %d %q, want one with %q", line, n, note)
		}
	}
}

// A notify script without an absolute path, or one that needs a shell,
// is not translated, with the reason: rmqlb runs hooks by their absolute
// path without a shell, and the file written must pass config.Parse.
func TestImportNotifyNotRunnable(t *testing.T) {
	for script, why := range map[string]string{
		"up.sh":                 "not translated: program \"up.sh\" is not an absolute path",
		"\"/bin/up.sh $STATE\"": "not translated: rmqlb runs hooks without a shell",
	} {
		k := "vrrp_instance V {\n interface eth0\n virtual_router_id 7\n virtual_ipaddress {\n  10.0.0.100\n }\n notify_master " + script + "\n}\n"
		c, _, ns := importParsed(t, memFiles{"k": k}, Sources{Keepalived: "k"})
		if got := c.VRRP[0].NotifyConfig().Master; len(got) != 0 {
			t.Errorf("%s: translated to notify.master %q", script, got)
		}
		if n := notesFor(ns, 7); !strings.Contains(n, why) {
			t.Errorf("%s: note %q, want one with %q", script, n, why)
		}
	}
}

// HAProxy "defaults B from A": A's default-server applies to the proxies
// that use B.
func TestImportDefaultsFromDefaultServer(t *testing.T) {
	h := "defaults base\n mode tcp\n default-server inter 10s fall 5 rise 4\n\ndefaults amqp from base\n timeout client 3h\n\nlisten rabbit\n bind 10.0.0.100:5672\n server r1 10.0.0.1:5672 check\n"
	_, y, ns := importParsed(t, memFiles{"h": h}, Sources{HAProxy: "h"})
	if !strings.Contains(y, "interval: 10s") {
		t.Errorf("default-server of the parent defaults lost; note: %s\n%s", notesFor(ns, 3), y)
	}
}

// noreverse on the track_script entry overrides the vrrp_script's reverse:
// the script is tracked.
func TestImportTrackNoReverse(t *testing.T) {
	k := "vrrp_script chk {\n script \"killall -0 haproxy\"\n weight -20 reverse\n}\nvrrp_instance V {\n interface eth0\n virtual_router_id 7\n virtual_ipaddress {\n  10.0.0.100\n }\n track_script {\n  chk weight -20 noreverse\n }\n}\n"
	h := "listen amqp\n bind 10.0.0.100:5672\n server r1 10.0.0.1:5672 check\n"
	c, y, _ := importParsed(t, memFiles{"k": k, "h": h}, Sources{Keepalived: "k", HAProxy: "h"})
	if len(c.VRRP) != 1 || len(c.VRRP[0].Track) != 1 || c.VRRP[0].Track[0].Weight != -20 {
		t.Fatalf("noreverse: want the script tracked at -20\n%s", y)
	}
}

// HAProxy's backup servers become backup backends, and option allbackups
// (also from defaults, and undone by a proxy's "no option allbackups")
// becomes all_backups, without notes (but the one of a defaults' option

// TestImportBackupSettingsWithoutBackups: option allbackups, and
// on-marked-up shutdown-backup-sessions, in a backend without a backup
// server do nothing in HAProxy: the import leaves them out with a note,
// so that the file it writes draws no warning from rmqlb.
func TestImportBackupSettingsWithoutBackups(t *testing.T) {
	for _, tc := range []struct {
		name, defaults, proxy, server string
		line                          int
	}{
		{name: "allbackups", proxy: " option allbackups\n", line: 3},
		{name: "allbackups from defaults", defaults: "defaults\n option allbackups\n", line: 2},
		{name: "on-marked-up", server: " on-marked-up shutdown-backup-sessions", line: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.defaults + "listen amqp\n bind 10.0.0.100:5672\n" + tc.proxy +
				" server r1 10.0.0.1:5672 check" + tc.server + "\n server r2 10.0.0.2:5672 check\n"
			c, y, ns := importParsed(t, memFiles{"h": h}, Sources{HAProxy: "h"})
			if l := c.Listeners[0]; l.AllBackups || l.OnMarkedUp != config.OnMarkedUp(0) || len(c.Warnings) > 0 {
				t.Errorf("all_backups %v, on_marked_up %v, warnings %q; want neither, none\n%s", l.AllBackups, l.OnMarkedUp, c.Warnings, y)
			}
			if got := notesFor(ns, tc.line); !strings.Contains(got, "not translated") || !strings.Contains(got, "no server of the backend is a backup") {
				t.Errorf("notes of line %d: %q, want it left out as no server is a backup", tc.line, got)
			}
		})
	}
}

// that every proxy overrides): rmqlb does the same.
func TestImportBackupServers(t *testing.T) {
	for _, tc := range []struct {
		name, defaults, proxy string
		all                   bool
	}{
		{"first backup", "", "", false},
		{"allbackups", "", " option allbackups\n", true},
		{"allbackups from defaults", "defaults\n option allbackups\n", "", true},
		{"undone by the proxy", "defaults\n option allbackups\n", " no option allbackups\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.defaults + "listen amqp\n bind 10.0.0.100:5672\n" + tc.proxy +
				" server r1 10.0.0.1:5672 check\n server r2 10.0.0.2:5672 check backup\n server r3 10.0.0.3:5672 check backup\n"
			c, y, ns := importParsed(t, memFiles{"h": h}, Sources{HAProxy: "h"})
			l := c.Listeners[0]
			if l.AllBackups != tc.all {
				t.Errorf("all_backups %v, want %v\n%s", l.AllBackups, tc.all, y)
			}
			for i, want := range []bool{false, true, true} {
				if b := l.Backends[i]; b.Backup != want {
					t.Errorf("backend %s: backup %v, want %v\n%s", b.ID.Name, b.Backup, want, y)
				}
			}
			for _, n := range ns {
				if strings.Contains(n.Directive, "backup") && !strings.Contains(n.Why, "overridden") {
					t.Errorf("note on a translated backup: %s", n)
				}
			}
		})
	}
}

// A backend's own "mode tcp" is what rmqlb does, as a listen section's
// is: translated without a note. A backend in http mode behind a
// frontend in tcp mode (HAProxy upgrades such connections to HTTP) is
// translated when it does nothing only http mode can (its mode line says
// what changes, and its servers get a TCP connect), and is left out with its frontend, saying why, when it
// rewrites requests.
func TestImportBackendMode(t *testing.T) {
	h := "frontend f\n mode tcp\n bind 10.0.0.100:5672\n default_backend b\nbackend b\n mode tcp\n server a 10.0.0.1:5672 check\n" +
		"frontend web\n bind 10.0.0.100:8080\n default_backend w\nbackend w\n mode http\n http-request set-header X-Proto http\n server x 10.0.0.9:80\n" +
		"frontend mgmt\n bind 10.0.0.100:15672\n default_backend m\nbackend m\n mode http\n option forwardfor\n server y 10.0.0.9:15672\n server z 10.0.0.8:8080 check\n"
	c, y, ns := importParsed(t, memFiles{"h": h}, Sources{HAProxy: "h"})
	if got := notesFor(ns, 6); got != "" {
		t.Errorf("the backend's mode tcp got a note:\n%s", got)
	}
	var names []string
	for _, l := range c.Listeners {
		names = append(names, l.Name)
	}
	if !slices.Equal(names, []string{"f", "mgmt"}) {
		t.Errorf("want the listeners f and mgmt, got:\n%s", y)
	}
	if got, want := notesFor(ns, 8), "h:8: frontend web (to line 10): not translated: its backend w (line 11): http mode: rmqlb proxies TCP (line 13: http-request set-header X-Proto http)\n"; got != want {
		t.Errorf("frontend web's note:\n%s\nwant:\n%s", got, want)
	}
	if got := notesFor(ns, 11); !strings.HasPrefix(got, "h:11: backend w (to line 14): not translated: the backend of frontend web: ") {
		t.Errorf("backend w's note:\n%s", got)
	}
	if got := notesFor(ns, 19); !strings.HasPrefix(got, "h:19: mode http: note: HAProxy proxied HTTP here; rmqlb proxies the TCP connections") {
		t.Errorf("backend m's mode line's note:\n%s", got)
	}
	if got := notesFor(ns, 20); !strings.HasPrefix(got, "h:20: option forwardfor: not translated: http mode") {
		t.Errorf("backend m's option forwardfor's note:\n%s", got)
	}
	// Its servers speak HTTP: a TCP connect, as HAProxy's check was, not
	// an AMQP handshake, on a port of RabbitMQ's (15672) or not (8080).
	for _, l := range c.Listeners {
		for _, b := range l.Backends {
			if l.Name == "mgmt" && b.Check.Type != config.CheckTCP {
				t.Errorf("backend %s of mgmt: check type %v, want tcp\n%s", b.ID, b.Check.Type, y)
			}
		}
	}
}

// HAProxy creates a disabled proxy stopped: a frontend whose backend is
// disabled takes no traffic, and is left out with it; "enabled" undoes
// a defaults section's "disabled".
func TestImportDisabledBackend(t *testing.T) {
	h := "defaults\n disabled\nfrontend f\n bind 10.0.0.100:5672\n default_backend b\nbackend b\n enabled\n disabled\n server a 10.0.0.1:5672\n" +
		"listen on\n enabled\n bind 10.0.0.100:5673\n server c 10.0.0.3:5672\n" +
		"listen off\n bind 10.0.0.100:5674\n server d 10.0.0.4:5672\n"
	c, y, ns := importParsed(t, memFiles{"h": h}, Sources{HAProxy: "h"})
	if len(c.Listeners) != 1 || c.Listeners[0].Name != "on" {
		t.Errorf("want the one listener on, got:\n%s", y)
	}
	for line, want := range map[int]string{
		2:  "",
		3:  "h:3: frontend f (to line 5): not translated: disabled in HAProxy\n",
		6:  "h:6: backend b (to line 9): not translated: the backend of frontend f, which is disabled in HAProxy\n",
		10: "",
		11: "",
		14: "h:14: listen off (to line 16): not translated: disabled in HAProxy\n",
	} {
		if got := notesFor(ns, line); got != want {
			t.Errorf("line %d: notes\n%s\nwant\n%s", line, got, want)
		}
	}
	h = "frontend f\n bind 10.0.0.100:5672\n default_backend b\nbackend b\n disabled\n server a 10.0.0.1:5672\n"
	_, _, ns = importParsed(t, memFiles{"h": h + "listen x\n bind 10.0.0.100:5673\n server c 10.0.0.3:5672\n"}, Sources{HAProxy: "h"})
	if got, want := notesFor(ns, 1), "h:1: frontend f (to line 3): not translated: its backend b (line 4) is disabled in HAProxy: it takes no traffic\n"; got != want {
		t.Errorf("frontend f:\n%s\nwant\n%s", got, want)
	}
	if got, want := notesFor(ns, 4), "h:4: backend b (to line 6): not translated: disabled in HAProxy\n"; got != want {
		t.Errorf("backend b:\n%s\nwant\n%s", got, want)
	}
}

// A server HAProxy does not check is checked by rmqlb at the pace the
// section sets for its checks: default-server's inter, rise and fall, and
// timeout check, as the checked servers beside it.
func TestImportUncheckedServerPace(t *testing.T) {
	h := "listen amqp\n bind 10.0.0.100:5672\n timeout check 1s\n default-server inter 3s rise 2 fall 4\n server a 10.0.0.1:5672 check\n server b 10.0.0.2:5672\n"
	c, y, _ := importParsed(t, memFiles{"h": h}, Sources{HAProxy: "h"})
	for _, b := range c.Listeners[0].Backends {
		if s := b.Check.Schedule; s.Interval != 3*time.Second || s.Rise != 2 || s.Fall != 4 || s.Timeout != time.Second {
			t.Errorf("%s checked every %v, timeout %v, rise %d, fall %d; want 3s, 1s, 2, 4\n%s", b.ID, s.Interval, s.Timeout, s.Rise, s.Fall, y)
		}
	}
	if !strings.Contains(y, "check: {interval: 3s, timeout: 1s, rise: 2, fall: 4}\n    backends:") {
		t.Errorf("want one check section for the listener:\n%s", y)
	}
}

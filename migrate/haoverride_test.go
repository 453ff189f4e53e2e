package migrate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A server's enabled undoes default-server's disabled, and its no-backup
// default-server's backup, as in HAProxy: the server is an active backend
// at its weight, without the note of a disabled server, while the other
// server is a disabled backup.
func TestImportServerUndoesDefaultServer(t *testing.T) {
	h := "listen amqp\n bind 10.0.0.100:5672\n default-server disabled backup\n server r1 10.0.0.1:5672 check enabled no-backup\n server r2 10.0.0.2:5672 check\n"
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte("defaults\n mode tcp\n timeout connect 1s\n timeout client 1m\n timeout server 1m\n"+h), 0o600); err != nil {
		t.Fatal(err)
	}
	haproxyAccepts(t, path)
	c, y, ns := importParsed(t, memFiles{"h": h}, Sources{HAProxy: "h"})
	if len(c.Listeners) != 1 || len(c.Listeners[0].Backends) != 2 {
		t.Fatalf("want listener amqp with r1 and r2\n%s", y)
	}
	for _, b := range c.Listeners[0].Backends {
		disabled := b.Weight == 0
		if want := b.ID.Name == "r2"; disabled != want || b.Backup != want {
			t.Errorf("backend %s: weight 0 is %v and backup %v, want both %v\n%s", b.ID.Name, disabled, b.Backup, want, y)
		}
	}
	r1, r2 := notesFor(ns, 4), notesFor(ns, 5)
	for _, w := range []string{"disabled: weight 0"} {
		if strings.Contains(r1, w) {
			t.Errorf("r1 undoes default-server's backup and disabled but has the note %q:\n%s", w, r1)
		}
		if !strings.Contains(r2, w) {
			t.Errorf("r2 is backup and disabled from default-server but lacks the note %q:\n%s", w, r2)
		}
	}
}

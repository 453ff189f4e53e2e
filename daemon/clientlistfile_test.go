package daemon

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/control"
)

// TestReloadRereadsClientListFiles: a reload reads the listeners' files
// of client addresses again, though the configuration file did not
// change, and applies what they hold now; until then the status says the
// file changed and was not loaded. A file that no longer parses refuses
// the reload, naming the file and its line, and the daemon runs on with
// the list it had; so does a FIFO put in the file's place, which neither
// the status nor the reload waits on. The status names the file with
// how many addresses of the list in force it gave.
func TestReloadRereadsClientListFiles(t *testing.T) {
	l := newLab(t)
	list := filepath.Join(t.TempDir(), "denied.lst")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(list, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("# nobody yet\n192.0.2.1\n192.0.2.2\n")
	file := l.file("    policy: roundrobin\n", "    policy: roundrobin\n    denied_clients_file: "+list+"\n")
	h := newHarness(t, file)
	startChecked(t, h)

	served := func() bool {
		t.Helper()
		c, err := net.DialTimeout("tcp", l.bind, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return roundTrip(c, []byte("x")) == nil
	}
	denied := func() []netip.Prefix { return h.d.Status().Listeners[0].DeniedClients }
	fromFile := func(n int) {
		t.Helper()
		s := h.d.Status()
		want := []control.ClientListFile{{Listener: s.Listeners[0].Name, Field: "denied_clients_file", Path: list, Prefixes: n}}
		if !slices.Equal(s.ClientListFiles, want) {
			t.Fatalf("client list files %+v; want %+v", s.ClientListFiles, want)
		}
	}
	if !served() {
		t.Fatal("a client outside denied_clients_file was not served")
	}
	fromFile(2)
	if s := h.d.status(true); s.ConfigChange != nil {
		t.Fatalf("config change %+v before any edit", s.ConfigChange)
	}

	write("127.0.0.0/8 # the test's clients\n")
	if s := h.d.status(true); s.ConfigChange == nil || s.ConfigChange.File != list || s.ConfigChange.Field != "listeners[0].denied_clients_file" || s.ConfigChange.Modified.IsZero() {
		t.Fatalf("config change %+v after the list's edit; want the list named, with its key and modification time", s.ConfigChange)
	}
	if r := h.reload(file); !r.OK() || len(r.Applied) == 0 {
		t.Fatalf("reload after the list's edit: %+v; want the listener updated", r)
	}
	if got := denied(); !slices.Equal(got, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}) {
		t.Fatalf("denied clients %v after the reload; want [127.0.0.0/8]", got)
	}
	if served() {
		t.Fatal("a client in the reloaded denied_clients_file was served")
	}
	fromFile(1)
	if s := h.d.status(true); s.ConfigChange != nil {
		t.Fatalf("config change %+v after the reload", s.ConfigChange)
	}

	write("127.0.0.0/8\nnot-an-address\n")
	r := h.reload(file)
	if r.Error == "" || !strings.Contains(r.Error, "listeners[0].denied_clients_file: "+list+": line 2: must be an address or a prefix") {
		t.Fatalf("reload of a list with a bad line: %+v; want it refused, naming the file and the line", r)
	}
	if got := denied(); !slices.Equal(got, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}) || served() {
		t.Fatalf("after a refused reload: denied clients %v; want the list it had, applied", got)
	}
	fromFile(1)

	write("")
	if r := h.reload(file); !r.OK() {
		t.Fatalf("reload of an empty list: %+v", r)
	}
	if got := denied(); got != nil || !served() {
		t.Fatalf("after the list was emptied: denied clients %v; want none, and the client served", got)
	}
	fromFile(0)

	// A FIFO in the list's place, which nobody writes: the status and a
	// reload say so at once rather than wait on it.
	if err := os.Remove(list); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(list, 0o644); err != nil {
		t.Fatal(err)
	}
	if s := h.d.status(true); s.ConfigChange == nil || s.ConfigChange.File != list || s.ConfigChange.Error != "read "+list+": not a regular file (p---------)" {
		t.Fatalf("config change %+v with a FIFO in the list's place; want the list named, not a regular file", s.ConfigChange)
	}
	if r := h.reload(file); !strings.Contains(r.Error, "listeners[0].denied_clients_file: reading "+list+": not a regular file (p---------)") {
		t.Fatalf("reload with a FIFO in the list's place: %+v; want it refused, naming the file", r)
	}
	if got := denied(); got != nil || !served() {
		t.Fatalf("after a reload refused for a FIFO: denied clients %v; want none, and the client served", got)
	}
}

package daemon

import (
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/control"
)

// TestStatusConfigChange: status says when the configuration file is not
// the one the daemon runs on: unchanged (also rewritten with the same
// bytes) it says nothing; edited and not reloaded it gives the file's
// modification time, until a reload applies it; a file the reload refused
// stays reported; a file that cannot be read is reported with why. It
// never changes the verdict of its own.
func TestStatusConfigChange(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startChecked(t, h)
	if c := h.d.Status().ConfigChange; c != nil {
		t.Fatalf("the file the daemon started with reported changed: %+v", c)
	}
	h.write(l.file())
	if c := h.d.Status().ConfigChange; c != nil {
		t.Errorf("the same bytes written again reported changed: %+v", c)
	}

	edited := l.file("weight: 10}", "weight: 5}")
	h.write(edited)
	mtime := time.Date(2026, 1, 1, 0, 5, 0, 0, time.UTC)
	if err := os.Chtimes(h.path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	s := h.d.Status()
	if c := s.ConfigChange; c == nil || !c.Modified.Equal(mtime) || c.Error != "" {
		t.Errorf("an edit not reloaded: %+v, want modified %v", c, mtime)
	}
	if s.Verdict.Degraded {
		t.Errorf("an edit not reloaded degrades the verdict: %q", s.Verdict.Reasons)
	}
	if r := h.d.Reload(); !r.OK() {
		t.Fatalf("reload: %+v", r)
	}
	if c := h.d.Status().ConfigChange; c != nil {
		t.Errorf("after the reload that applied the edit: %+v", c)
	}

	h.write("listeners: [{name: amqp, bind: nowhere}]\n")
	if r := h.d.Reload(); r.OK() {
		t.Fatalf("a bad file applied: %+v", r)
	}
	if c := h.d.Status().ConfigChange; c == nil || c.Modified.IsZero() {
		t.Errorf("a file the last reload refused: %+v", c)
	}

	if err := os.Remove(h.path); err != nil {
		t.Fatal(err)
	}
	if c := h.d.Status().ConfigChange; c == nil || !strings.Contains(c.Error, "no such file") {
		t.Errorf("a removed file: %+v", c)
	}
}

// TestFileWatch: a file compared again costs a read until it was found
// holding the bytes read twice, with the same identity, settled apart on
// the daemon's clock (whatever its own times say), and then only once it
// changed; a change of size is told without a read, a FIFO in a file's
// place without a wait, and each change names the file that differs.
func TestFileWatch(t *testing.T) {
	dir := t.TempDir()
	cfgPath, listPath := filepath.Join(dir, "rmqlb.yaml"), filepath.Join(dir, "allow.lst")
	write := func(p, data string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	read := func(p, data string) config.FileRead {
		return config.FileRead{Path: p, Field: "listeners[0].allowed_clients_file", Digest: sha256.Sum256([]byte(data)), Size: int64(len(data))}
	}
	const cfgData, listData = "listeners: []\n", "10.0.0.0/8\n"
	write(cfgPath, cfgData)
	write(listPath, listData)
	running, files := read(cfgPath, cfgData), []config.FileRead{read(listPath, listData)}

	// The watch's clock starts an hour after the files' times, as a
	// file server's clock running behind would have them: that does not
	// make them settled.
	now := time.Now().Add(time.Hour)
	settle := func() { now = now.Add(settled) }
	reads := 0
	w := &fileWatch{
		now: func() time.Time { return now },
		copy: func(dst io.Writer, src io.Reader) (int64, error) {
			reads++
			return io.Copy(dst, src)
		},
	}
	step := func(name string, wantReads int, want func(*control.ConfigChange) bool) {
		t.Helper()
		reads = 0
		c := w.configChange(cfgPath, running, files)
		if !want(c) || reads != wantReads {
			t.Fatalf("%s: change %+v after %d reads, want %d reads", name, c, reads, wantReads)
		}
	}
	same := func(c *control.ConfigChange) bool { return c == nil }
	listChanged := func(c *control.ConfigChange) bool {
		return c != nil && c.Error == "" && !c.Modified.IsZero() && c.File == listPath && c.Field == files[0].Field
	}

	// Found unchanged once: read again until found so settled later.
	step("first look", 2, same)
	step("first look again", 2, same)
	now = now.Add(settled - time.Millisecond)
	step("not yet settled", 2, same)
	now = now.Add(time.Millisecond)
	step("settled", 2, same)
	step("settled again", 0, same)

	// Rewritten in place with as many bytes, and back again.
	write(listPath, "10.0.0.0/9\n")
	step("list edited", 1, listChanged)
	write(listPath, listData)
	step("list restored", 1, same)
	step("list restored, not settled", 1, same)
	settle()
	step("list restored, settled", 1, same)
	step("list restored again", 0, same)

	// Renamed into its place with the same bytes: another inode.
	write(listPath+".new", listData)
	if err := os.Rename(listPath+".new", listPath); err != nil {
		t.Fatal(err)
	}
	step("list replaced by a copy", 1, same)
	settle()
	step("list replaced by a copy, settled", 1, same)
	step("list replaced by a copy again", 0, same)

	// Grown: told by its size, without a read.
	write(listPath, listData+"192.168.0.0/16\n")
	step("list grown", 0, listChanged)

	// A FIFO in its place: refused at once.
	os.Remove(listPath)
	if err := syscall.Mkfifo(listPath, 0o600); err != nil {
		t.Fatal(err)
	}
	step("a FIFO", 0, func(c *control.ConfigChange) bool {
		return c != nil && c.Error == "read "+listPath+": not a regular file (p---------)" && c.File == listPath
	})
	os.Remove(listPath)
	step("missing", 0, func(c *control.ConfigChange) bool {
		return c != nil && c.Error != "" && c.File == listPath
	})

	// The configuration file is compared first; a reload that read other
	// bytes is compared anew.
	write(listPath, listData)
	step("list back", 1, same)
	settle()
	step("list back, settled", 1, same)
	write(cfgPath, "listeners: {}\n")
	step("config edited", 1, func(c *control.ConfigChange) bool {
		return c != nil && !c.Modified.IsZero() && c.File == "" && c.Field == ""
	})
	running = read(cfgPath, "listeners: {}\n")
	step("reloaded", 1, same)
	settle()
	step("reloaded, settled", 1, same)
	step("reloaded again", 0, same)

	// A reload that names no list file forgets it.
	files = nil
	step("no list", 0, same)
	if _, ok := w.same[listPath]; ok || len(w.same) != 1 {
		t.Fatalf("entries %v after the list was dropped", w.same)
	}
}

package daemon

import (
	"os"
	"strings"
	"testing"
	"time"
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

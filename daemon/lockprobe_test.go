package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// foreseeLock finds a lock held in the kernel's table, with takeLock's own
// error, and finds none once it is released, for a file that does not
// exist, for a process only waiting for the lock, and when the table
// cannot be read.
func TestForeseeLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rmqlb.sock.lock")
	if err := foreseeLock(path, procLocks); err != nil {
		t.Fatalf("no lock file: %v", err)
	}
	held, err := takeLock(path)
	if err != nil {
		t.Fatal(err)
	}
	_, want := takeLock(path)
	if got := foreseeLock(path, procLocks); got == nil || want == nil || got.Error() != want.Error() {
		t.Fatalf("lock held: foreseeLock %v, want takeLock's %v", got, want)
	}
	if err := foreseeLock(path, filepath.Join(t.TempDir(), "no-such-table")); err != nil {
		t.Errorf("table unreadable: %v, want none known", err)
	}
	held.release()
	if err := foreseeLock(path, procLocks); err != nil {
		t.Errorf("lock released: %v", err)
	}
	// A table in which a process only waits for the file's lock.
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	table := filepath.Join(t.TempDir(), "locks")
	line := fmt.Sprintf("1: -> FLOCK  ADVISORY  WRITE 4242 %02x:%02x:%d 0 EOF\n", unix.Major(uint64(st.Dev)), unix.Minor(uint64(st.Dev)), st.Ino)
	if err := os.WriteFile(table, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := foreseeLock(path, table); err != nil {
		t.Errorf("a waiter only: %v", err)
	}
}

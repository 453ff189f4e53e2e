package control

import (
	"encoding/binary"
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// dirEvent is one inotify event of a watched directory.
type dirEvent struct {
	mask uint32
	name string
}

func (e dirEvent) String() string {
	var kinds []string
	for _, k := range []struct {
		bit  uint32
		name string
	}{{unix.IN_CREATE, "create"}, {unix.IN_MOVED_TO, "moved_to"}, {unix.IN_ATTRIB, "attrib"}, {unix.IN_ISDIR, "dir"}} {
		if e.mask&k.bit != 0 {
			kinds = append(kinds, k.name)
		}
	}
	return e.name + ":" + strings.Join(kinds, "|")
}

// watchDir watches dir for entries created, moved in or changed in their
// attributes; the returned function returns the events so far.
func watchDir(t *testing.T, dir string) func() []dirEvent {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatalf("inotify: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CREATE|unix.IN_MOVED_TO|unix.IN_ATTRIB); err != nil {
		t.Fatalf("watching %s: %v", dir, err)
	}
	return func() []dirEvent {
		t.Helper()
		var evs []dirEvent
		buf := make([]byte, 64<<10)
		for {
			n, err := unix.Read(fd, buf)
			if errors.Is(err, unix.EAGAIN) {
				return evs
			}
			if err != nil {
				t.Fatalf("reading inotify events: %v", err)
			}
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				mask := binary.NativeEndian.Uint32(buf[off+4:])
				nameLen := int(binary.NativeEndian.Uint32(buf[off+12:]))
				name := strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+nameLen]), "\x00")
				evs = append(evs, dirEvent{mask: mask, name: name})
				off += unix.SizeofInotifyEvent + nameLen
			}
		}
	}
}

// TestSocketNeverConnectableByOthers: the socket never exists at its path,
// nor anywhere in its directory, with a mode that would let others connect,
// whatever the umask: it is made in a private directory (0700) and only
// renamed into place once its mode is set. An inotify watch of the
// directory sees every step; a socket bound at its path and then chmod'ed
// (connectable by anybody in between under umask 0) fails it.
func TestSocketNeverConnectableByOthers(t *testing.T) {
	old := syscall.Umask(0) // the most open umask a daemon could inherit
	defer syscall.Umask(old)
	dir := t.TempDir()
	path := filepath.Join(dir, "rmqlb.sock")
	events := watchDir(t, dir)
	ln, err := (&Server{Path: path}).Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	evs := events()
	t.Logf("the socket's directory saw %v", evs)
	placed := false
	for _, e := range evs {
		switch {
		case e.mask&unix.IN_CREATE != 0 && e.mask&unix.IN_ISDIR == 0:
			t.Errorf("%s created in the socket's directory (events %v): a socket bound there is open to others until its mode is set", e.name, evs)
		case e.name != filepath.Base(path):
		case e.mask&unix.IN_MOVED_TO != 0:
			placed = true
		case e.mask&unix.IN_ATTRIB != 0:
			t.Errorf("the socket's mode or owner changed at its path (events %v): it was placed before its mode was set", evs)
		}
	}
	if !placed {
		t.Errorf("the socket was not renamed into place (events %v)", evs)
	}
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK || st.Mode&0o777 != 0o600 {
		t.Fatalf("socket mode %o (%v), want a socket 0600", st.Mode, err)
	}
}

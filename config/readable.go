package config

import (
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/rmqlb/rmqlb/notify"
)

// fileReader tells, by the permission bits of a file and of the
// directories above it, whether a user can read it: what the kernel
// decides for a process of that user without capabilities that bypass
// them (the packaged daemon has none). A file or directory with a POSIX
// ACL, whose entries may let the user in where the bits do not, is taken
// as readable.
type fileReader struct {
	name string // the user's name, for the warning
	uid  uint32
	gids map[uint32]bool // the user's groups, its primary one too
	// resolve is filepath.EvalSymlinks, stat os.Stat; hasACL reports
	// whether a file has an access ACL.
	resolve func(string) (string, error)
	stat    func(string) (fs.FileInfo, error)
	hasACL  func(string) bool
}

// daemonReader returns the fileReader of the packaged daemon's user
// (notify.PackageUser, whose groups the unit gives the daemon too) when
// this process runs as root and the host has that user: then the daemon
// may run as it and read less than this process does, which reading the
// files here does not show. Nil otherwise (a process of that user reads
// the files itself).
func daemonReader() *fileReader {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup(notify.PackageUser)
	if err != nil {
		return nil
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil
	}
	r := &fileReader{name: u.Username, uid: uint32(uid), gids: map[uint32]bool{},
		resolve: filepath.EvalSymlinks, stat: os.Stat, hasACL: hasACL}
	gids, _ := u.GroupIds()
	for _, g := range append(gids, u.Gid) {
		if id, err := strconv.ParseUint(g, 10, 32); err == nil {
			r.gids[uint32(id)] = true
		}
	}
	return r
}

// hasACL reports whether the file at path has a POSIX access ACL.
func hasACL(path string) bool {
	n, err := unix.Getxattr(path, "system.posix_acl_access", nil)
	return err == nil && n > 0
}

// cannotRead returns why r's user cannot read the file at path, "" when
// it can or when path cannot be looked at (Load reports a file it cannot
// read): the first directory above it (symbolic links resolved) the user
// cannot enter, or the file, with its owner and mode.
func (r *fileReader) cannotRead(path string) string {
	real, err := r.resolve(path)
	if err != nil {
		return ""
	}
	for _, d := range notify.PathPrefixes(filepath.Dir(real)) {
		if why := r.denied(d, 0o1, "enter "+d); why != "" {
			return why
		}
	}
	return r.denied(real, 0o4, "read it")
}

// denied returns why r's user has not the permission bit (0o4 read, 0o1
// search) on the file at p, which it needs to do what, and the command
// that gives it (an ACL entry, which leaves the file's owner, group and
// mode as its other readers need them); "" when it has.
func (r *fileReader) denied(p string, bit fs.FileMode, what string) string {
	fi, err := r.stat(p)
	if err != nil {
		return ""
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || r.hasACL(p) {
		return ""
	}
	perm := fi.Mode().Perm()
	var allowed bool
	switch {
	case st.Uid == r.uid:
		allowed = perm&(bit<<6) != 0
	case r.gids[st.Gid]:
		allowed = perm&(bit<<3) != 0
	default:
		allowed = perm&bit != 0
	}
	if allowed {
		return ""
	}
	return fmt.Sprintf("the daemon's user %s cannot %s (%s:%s, mode %04o: setfacl -m u:%s:%s %s, of the package acl, lets it)",
		r.name, what, ownerName(st.Uid), groupOf(st.Gid), perm, r.name, map[fs.FileMode]string{0o4: "r", 0o1: "x"}[bit], p)
}

// ownerName returns the name of the user uid, else the number.
func ownerName(uid uint32) string {
	name, _ := notify.UserName(uid)
	return name
}

// groupOf returns the name of the group gid, else the number.
func groupOf(gid uint32) string {
	name, _ := notify.GroupName(gid)
	return name
}

// UnreadableWarnings returns Load's warnings of the files the
// configuration names (unreadableWarnings) that the packaged daemon's
// user could not read: none unless this process runs as root and the
// host has that user. rmqlb import, which has no file to load, asks for
// them.
func (c *Config) UnreadableWarnings() []string {
	r := daemonReader()
	if r == nil {
		return nil
	}
	return c.unreadableWarnings(r, "")
}

// unreadableWarnings returns a warning for each file the daemon reads
// while it runs (its configuration file at path, none for "", the
// listeners' files of client addresses, the checks' TLS files) that r's
// user cannot read: under the packaged unit a start or a reload would
// fail.
func (c *Config) unreadableWarnings(r *fileReader, path string) []string {
	var ws []string
	if path != "" {
		if why := r.cannotRead(path); why != "" {
			ws = append(ws, fmt.Sprintf("%s: %s: the packaged daemon (User=%s) could not start with it, nor reload it (the package installs it root:%s, mode 0640)",
				path, why, r.name, DaemonGroup))
		}
	}
	seen := map[string]bool{path: true}
	warn := func(field, path string) {
		if path == "" || seen[path] {
			return
		}
		seen[path] = true
		if why := r.cannotRead(path); why != "" {
			ws = append(ws, fmt.Sprintf("%s (line %d): %s: %s: a start or reload of the packaged daemon (User=%s) would refuse the configuration",
				field, c.Line(field), path, why, r.name))
		}
	}
	for _, l := range c.Listeners {
		for _, f := range l.ListFiles() {
			warn(l.Field+"."+f.Key, f.Path)
		}
		for _, b := range l.Backends {
			if t := b.Check.TLS; t != nil {
				warn(b.Check.Field+".tls.ca_file", t.CAFile)
				warn(b.Check.Field+".tls.cert_file", t.CertFile)
				warn(b.Check.Field+".tls.key_file", t.KeyFile)
			}
		}
	}
	return ws
}

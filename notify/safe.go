package notify

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
)

// CheckSafe reports why the program at path is not safe for the daemon
// to run, nil when it is. A hook runs with the daemon's privileges (root,
// or the packaged unit's user with its network capabilities), so whoever
// can change the program, or replace it by writing a directory above it,
// can run commands with them. It is unsafe when the program, or a
// directory on its path (as written, and with its symbolic links
// resolved), is owned by a user other than root and owners (the daemon's
// users: TrustedOwners), may be written by a group other than root's, or
// may be written by every user; a directory with the sticky bit set
// (/tmp) is exempt from the last two, as its entries can be replaced by
// their owners only. This is the check keepalived makes of its scripts
// (enable_script_security).
//
// The problem is an *UnsafeError; an error reading the path (a program
// missing) is returned as is, and CheckProgram says what else keeps a
// program from running.
func CheckSafe(path string, owners ...int) error {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, p := range []string{filepath.Clean(path), real} {
		for _, c := range PathPrefixes(p) {
			if seen[c] {
				continue
			}
			seen[c] = true
			if err := checkOwner(c, c == p, owners); err != nil {
				return err
			}
		}
	}
	return nil
}

// FindUnsafe returns CheckSafe's finding for the program at path: the
// *UnsafeError, or nil when the program is safe or could not be looked at
// (a missing program, which fails at its start instead). It is what the
// runner, the metrics and the configuration's warnings ask.
func FindUnsafe(path string, owners ...int) *UnsafeError {
	var unsafe *UnsafeError
	if errors.As(CheckSafe(path, owners...), &unsafe) {
		return unsafe
	}
	return nil
}

// PackageUser is the user the packaged daemon runs as (the unit's
// User=rmqlb).
const PackageUser = "rmqlb"

// TrustedOwners returns the users besides root who may own a hook and the
// directories above it: this process's effective user, and PackageUser
// where the host has it, so that a daemon run as root and one run by the
// packaged unit (and `rmqlb check-config` run as root for either) agree
// on which hooks run.
func TrustedOwners() []int {
	owners := []int{os.Geteuid()}
	if u, err := user.Lookup(PackageUser); err == nil {
		if id, err := strconv.Atoi(u.Uid); err == nil {
			owners = append(owners, id)
		}
	}
	return owners
}

// UnsafeError is CheckSafe's finding: the file or directory Path and
// what makes it unsafe.
type UnsafeError struct {
	// Path is the program or one of the directories above it.
	Path string
	// Problem says who else may change it: "is owned by alice (uid
	// 1000)", "is writable by every user, mode 0777".
	Problem string
}

// Error names the path and the problem, and why it matters.
func (e *UnsafeError) Error() string {
	return e.Path + " " + e.Problem + ": whoever can change it could run commands as the daemon (a hook, and every directory above it, must be owned by root or the daemon's user, and writable by no one else)"
}

// PathPrefixes returns the directories on the absolute path p, from the
// root down, and p itself: what CheckSafe checks, and what a process must
// be able to enter to reach p.
func PathPrefixes(p string) []string {
	var out []string
	for d := p; ; d = filepath.Dir(d) {
		out = append(out, d)
		if d == filepath.Dir(d) {
			break
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// checkOwner checks one file or directory of CheckSafe: last says it is
// the program itself, which the sticky bit does not exempt.
func checkOwner(p string, last bool, owners []int) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: no owner to check", p)
	}
	if st.Uid != 0 && !slices.Contains(owners, int(st.Uid)) {
		return &UnsafeError{Path: p, Problem: "is owned by " + userName(st.Uid)}
	}
	if fi.IsDir() && fi.Mode()&os.ModeSticky != 0 && !last {
		return nil
	}
	perm := fi.Mode().Perm()
	switch {
	case perm&0o002 != 0:
		return &UnsafeError{Path: p, Problem: fmt.Sprintf("is writable by every user, mode %04o", perm)}
	case perm&0o020 != 0 && st.Gid != 0:
		return &UnsafeError{Path: p, Problem: fmt.Sprintf("is writable by group %s, mode %04o", groupName(st.Gid), perm)}
	}
	return nil
}

// userName returns "NAME (uid N)", or "uid N" for a user without a name.
func userName(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if name, ok := UserName(uid); ok {
		return name + " (uid " + id + ")"
	}
	return "uid " + id
}

// groupName returns "NAME (gid N)", or "gid N" for a group without a
// name.
func groupName(gid uint32) string {
	id := strconv.FormatUint(uint64(gid), 10)
	if name, ok := GroupName(gid); ok {
		return name + " (gid " + id + ")"
	}
	return "gid " + id
}

// UserName returns the name of user uid and true, or its number and
// false when it has none.
func UserName(uid uint32) (string, bool) {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil {
		return u.Username, true
	}
	return id, false
}

// GroupName returns the name of group gid and true, or its number and
// false when it has none.
func GroupName(gid uint32) (string, bool) {
	id := strconv.FormatUint(uint64(gid), 10)
	if g, err := user.LookupGroupId(id); err == nil {
		return g.Name, true
	}
	return id, false
}

package config

import (
	"io/fs"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeInfo is a file of a fake file system: its mode and owner.
type fakeInfo struct {
	mode     fs.FileMode
	uid, gid uint32
}

func (f fakeInfo) Name() string       { return "" }
func (f fakeInfo) Size() int64        { return 0 }
func (f fakeInfo) Mode() fs.FileMode  { return f.mode }
func (f fakeInfo) ModTime() time.Time { return time.Time{} }
func (f fakeInfo) IsDir() bool        { return f.mode.IsDir() }
func (f fakeInfo) Sys() any           { return &syscall.Stat_t{Uid: f.uid, Gid: f.gid} }

// TestCannotRead: whether a user can read a file, by the bits of the
// file and of every directory above it: the owner's bits for its owner
// (even where the group's would let it in), the group's for a member, the
// others' for the rest; a file with an ACL is taken as readable.
func TestCannotRead(t *testing.T) {
	// The daemon's user and group (fakeReader's), and haproxy's group:
	// ids that no host names.
	const uid, gid, other = 64999, 64998, 64950
	dir := fakeInfo{mode: fs.ModeDir | 0o755}
	for _, tc := range []struct {
		name    string
		files   map[string]fakeInfo
		acl     bool
		problem string // "": readable
	}{
		{"readable by all", map[string]fakeInfo{"/etc/haproxy": dir, "/etc/haproxy/allow.lst": {mode: 0o644}}, false, ""},
		{"the group's", map[string]fakeInfo{"/etc/haproxy": dir, "/etc/haproxy/allow.lst": {mode: 0o640, gid: gid}}, false, ""},
		{"another group's", map[string]fakeInfo{"/etc/haproxy": dir, "/etc/haproxy/allow.lst": {mode: 0o640, gid: other}}, false,
			"the daemon's user rmqlb cannot read it (root:64950, mode 0640: setfacl -m u:rmqlb:r /etc/haproxy/allow.lst, of the package acl, lets it)"},
		{"the user's", map[string]fakeInfo{"/etc/haproxy": dir, "/etc/haproxy/allow.lst": {mode: 0o600, uid: uid}}, false, ""},
		{"the user's, owner bits off", map[string]fakeInfo{"/etc/haproxy": dir, "/etc/haproxy/allow.lst": {mode: 0o044, uid: uid}}, false,
			"the daemon's user rmqlb cannot read it (64999:root, mode 0044: setfacl -m u:rmqlb:r /etc/haproxy/allow.lst, of the package acl, lets it)"},
		{"a directory closed", map[string]fakeInfo{"/etc/haproxy": {mode: fs.ModeDir | 0o750, gid: other}, "/etc/haproxy/allow.lst": {mode: 0o644}}, false,
			"the daemon's user rmqlb cannot enter /etc/haproxy (root:64950, mode 0750: setfacl -m u:rmqlb:x /etc/haproxy, of the package acl, lets it)"},
		{"a directory readable but not searchable", map[string]fakeInfo{"/etc/haproxy": {mode: fs.ModeDir | 0o744}, "/etc/haproxy/allow.lst": {mode: 0o644}}, false,
			"the daemon's user rmqlb cannot enter /etc/haproxy (root:root, mode 0744: setfacl -m u:rmqlb:x /etc/haproxy, of the package acl, lets it)"},
		{"an ACL", map[string]fakeInfo{"/etc/haproxy": dir, "/etc/haproxy/allow.lst": {mode: 0o640, gid: other}}, true, ""},
		{"missing", map[string]fakeInfo{"/etc/haproxy": dir}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := fakeReader(tc.files, tc.acl)
			if got := r.cannotRead("/etc/haproxy/allow.lst"); got != tc.problem {
				t.Fatalf("cannotRead: %q, want %q", got, tc.problem)
			}
		})
	}
}

// fakeReader is a fileReader of the daemon's user (uid 64999, group 64998)
// on the file system files (every path resolved to itself, "/" and
// "/etc" open to all).
func fakeReader(files map[string]fakeInfo, acl bool) *fileReader {
	dir := fakeInfo{mode: fs.ModeDir | 0o755}
	all := map[string]fakeInfo{"/": dir, "/etc": dir}
	for p, fi := range files {
		all[p] = fi
	}
	return &fileReader{name: "rmqlb", uid: 64999, gids: map[uint32]bool{64998: true},
		resolve: func(p string) (string, error) {
			if _, ok := all[p]; !ok {
				return "", fs.ErrNotExist
			}
			return p, nil
		},
		stat: func(p string) (fs.FileInfo, error) {
			fi, ok := all[p]
			if !ok {
				return nil, fs.ErrNotExist
			}
			return fi, nil
		},
		hasACL: func(string) bool { return acl }}
}

// TestUnreadableWarnings: a warning for each file the daemon reads that
// its user cannot, the configuration file first, then each other with the
// key and line that name it, once a file; none for the files it can read.
func TestUnreadableWarnings(t *testing.T) {
	data := strings.Replace(base, "    proxy_protocol: v2\n",
		"    proxy_protocol: v2\n    allowed_clients_file: /etc/haproxy/allow.lst\n    denied_clients_file: /etc/rmqlb/denied.lst\n"+
			"    check: {tls: {ca_file: /etc/rmqlb/ca.pem, cert_file: /etc/rmqlb/client.pem, key_file: /etc/rmqlb/client.key}}\n", 1)
	data = strings.Replace(data, ", check: {type: tcp}}", ", check: {tls: {ca_file: /etc/haproxy/allow.lst}}}", 1)
	c, err := ParseWithFiles([]byte(data), func(string) ([]byte, error) { return []byte("10.0.0.0/8\n"), nil })
	if err != nil {
		t.Fatal(err)
	}
	dir := fakeInfo{mode: fs.ModeDir | 0o755}
	r := fakeReader(map[string]fakeInfo{
		"/etc/haproxy": dir, "/etc/haproxy/allow.lst": {mode: 0o640, gid: 64950},
		"/etc/rmqlb": dir, "/etc/rmqlb/rmqlb.yaml": {mode: 0o600}, "/etc/rmqlb/denied.lst": {mode: 0o644}, "/etc/rmqlb/ca.pem": {mode: 0o644},
		"/etc/rmqlb/client.pem": {mode: 0o644}, "/etc/rmqlb/client.key": {mode: 0o600},
	}, false)
	got := c.unreadableWarnings(r, "/etc/rmqlb/rmqlb.yaml")
	want := []string{
		"/etc/rmqlb/rmqlb.yaml: the daemon's user rmqlb cannot read it (root:root, mode 0600: setfacl -m u:rmqlb:r /etc/rmqlb/rmqlb.yaml, of the package acl, lets it): the packaged daemon (User=rmqlb) could not start with it, nor reload it (the package installs it root:rmqlb, mode 0640)",
		"listeners[0].allowed_clients_file (line 17): /etc/haproxy/allow.lst: the daemon's user rmqlb cannot read it (root:64950, mode 0640: setfacl -m u:rmqlb:r /etc/haproxy/allow.lst, of the package acl, lets it): a start or reload of the packaged daemon (User=rmqlb) would refuse the configuration",
		"listeners[0].check.tls.key_file (line 19): /etc/rmqlb/client.key: the daemon's user rmqlb cannot read it (root:root, mode 0600: setfacl -m u:rmqlb:r /etc/rmqlb/client.key, of the package acl, lets it): a start or reload of the packaged daemon (User=rmqlb) would refuse the configuration",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

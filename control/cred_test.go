package control

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// clientEnv makes TestControlClientHelper act as a client of the socket
// it names and print the outcome.
const clientEnv = "RMQLB_CONTROL_CLIENT"

// TestControlClientHelper is a client run as another user by
// TestPeerCredentials; it skips in every other run.
func TestControlClientHelper(t *testing.T) {
	path := os.Getenv(clientEnv)
	if path == "" {
		t.Skip("helper process for TestPeerCredentials")
	}
	var got string
	if err := Call(path, Request{Command: "status"}, &got, 2*time.Second); err != nil {
		fmt.Printf("ERROR %v\n", err)
		return
	}
	fmt.Printf("OK %s\n", got)
}

// nobodyClient returns a function that runs TestControlClientHelper as
// user nobody against the socket at a path and returns its output, a
// directory nobody may enter for the sockets, nobody and nobody's group.
func nobodyClient(t *testing.T) (call func(path string) string, dir string, nobody *user.User, grp *user.Group) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a client as another user")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatalf("looking up nobody: %v", err)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	grp, err = user.LookupGroupId(nobody.Gid)
	if err != nil {
		t.Fatal(err)
	}
	// The test binary and the socket in a directory nobody may enter.
	dir = t.TempDir()
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Dir(dir), 0o755) // the testing package's directory above it
	bin := filepath.Join(dir, "control.test")
	copyFile(t, os.Args[0], bin)
	return func(path string) string {
		t.Helper()
		cmd := exec.Command(bin, "-test.run=^TestControlClientHelper$")
		cmd.Env = append(os.Environ(), clientEnv+"="+path)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("client as nobody: %v\n%s", err, out)
		}
		return string(out)
	}, dir, nobody, grp
}

// serveAnswered runs a Server at path with group that answers every
// request "answered", until the test ends.
func serveAnswered(t *testing.T, path, group string) *Server {
	t.Helper()
	s := &Server{Path: path, Group: group, Handler: func(ctx context.Context, req Request) (any, error) { return "answered", nil }}
	serve(t, s)
	return s
}

// serve makes s listen and serves until the test ends.
func serve(t *testing.T, s *Server) {
	t.Helper()
	ln, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestPeerCredentials: the socket's mode is not the only guard: with the
// file opened up to everybody, a client running as nobody is still refused
// by its peer credentials, unless it is in the control group.
func TestPeerCredentials(t *testing.T) {
	call, dir, nobody, grp := nobodyClient(t)
	run := func(group string) string {
		t.Helper()
		path := filepath.Join(dir, "ctl-"+group+".sock")
		serveAnswered(t, path, group)
		os.Chmod(path, 0o666) // only the credential check stands in the way
		return call(path)
	}
	if out := run(""); !strings.Contains(out, "ERROR refused: uid "+nobody.Uid) {
		t.Errorf("nobody without a control group:\n%s", out)
	}
	if out := run(grp.Name); !strings.Contains(out, "OK answered") {
		t.Errorf("nobody in the control group %s:\n%s", grp.Name, out)
	}
}

// TestSetGroup: a running server's control group is changed (a reload of
// control_group): the socket file's mode and group follow, and so do the
// peers answered: nobody is refused without a group, answered once its
// group is the control group, and refused again once it is taken away,
// even through a socket file opened up to everybody.
func TestSetGroup(t *testing.T) {
	call, dir, nobody, grp := nobodyClient(t)
	gid, _ := strconv.Atoi(grp.Gid)
	path := filepath.Join(dir, "ctl.sock")
	s := serveAnswered(t, path, "")
	fileIs := func(when string, mode os.FileMode, wantGID int) {
		t.Helper()
		fi, err := os.Lstat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := int(fi.Sys().(*syscall.Stat_t).Gid); fi.Mode().Perm() != mode || (wantGID >= 0 && got != wantGID) {
			t.Errorf("%s: socket mode %v group %d, want %v group %d", when, fi.Mode().Perm(), got, mode, wantGID)
		}
	}
	fileIs("without a group", 0o600, -1)
	if out := call(path); !strings.Contains(out, "ERROR") {
		t.Errorf("nobody without a control group:\n%s", out)
	}

	if err := s.SetGroup(grp.Name); err != nil {
		t.Fatal(err)
	}
	fileIs("with nobody's group", 0o660, gid)
	if out := call(path); !strings.Contains(out, "OK answered") {
		t.Errorf("nobody in the control group %s:\n%s", grp.Name, out)
	}

	if err := s.SetGroup("rmqlb-no-such-group"); err == nil {
		t.Error("SetGroup of a group that does not exist succeeded")
	}
	fileIs("after a failed SetGroup", 0o660, gid)
	if out := call(path); !strings.Contains(out, "OK answered") {
		t.Errorf("nobody after a failed SetGroup:\n%s", out)
	}

	if err := s.SetGroup(""); err != nil {
		t.Fatal(err)
	}
	fileIs("with the group taken away", 0o600, -1)
	os.Chmod(path, 0o666) // only the credential check stands in the way
	if out := call(path); !strings.Contains(out, "ERROR refused: uid "+nobody.Uid) {
		t.Errorf("nobody once the control group was taken away:\n%s", out)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

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

// TestPeerCredentials: the socket's mode is not the only guard: with the
// file opened up to everybody, a client running as nobody is still refused
// by its peer credentials, unless it is in the control group.
func TestPeerCredentials(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a client as another user")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatalf("looking up nobody: %v", err)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	grp, err := user.LookupGroupId(nobody.Gid)
	if err != nil {
		t.Fatal(err)
	}
	// The test binary and the socket in a directory nobody may enter.
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Dir(dir), 0o755) // the testing package's directory above it
	bin := filepath.Join(dir, "control.test")
	copyFile(t, os.Args[0], bin)

	run := func(group string) string {
		t.Helper()
		path := filepath.Join(dir, "ctl-"+group+".sock")
		s := &Server{Path: path, Group: group, Handler: func(ctx context.Context, req Request) (any, error) { return "answered", nil }}
		ln, err := s.Listen()
		if err != nil {
			t.Fatal(err)
		}
		os.Chmod(path, 0o666) // only the credential check stands in the way
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- s.Serve(ctx, ln) }()
		defer func() { cancel(); <-done }()
		cmd := exec.Command(bin, "-test.run=^TestControlClientHelper$")
		cmd.Env = append(os.Environ(), clientEnv+"="+path)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("client as nobody: %v\n%s", err, out)
		}
		return string(out)
	}
	if out := run(""); !strings.Contains(out, "ERROR refused: uid "+nobody.Uid) {
		t.Errorf("nobody without a control group:\n%s", out)
	}
	if out := run(grp.Name); !strings.Contains(out, "OK answered") {
		t.Errorf("nobody in the control group %s:\n%s", grp.Name, out)
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

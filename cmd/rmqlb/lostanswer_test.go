package main

import (
	"bufio"
	"bytes"
	"net"
	"path/filepath"
	"strings"
	"testing"
)

// TestLostAnswerMayHaveActed: a release or an upgrade whose request
// reached the daemon but whose answer was lost exits 1 and says that the
// daemon may have acted on it, as reload and backend do.
func TestLostAnswerMayHaveActed(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "ctl.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			// Read the request, then go away without an answer.
			bufio.NewReader(c).ReadString('\n')
			c.Close()
		}
	}()
	for _, args := range [][]string{
		{"vrrp", "release", "--socket", sock, "vip"},
		{"upgrade", "--socket", sock},
	} {
		var out, errb bytes.Buffer
		code := run(args, &out, &errb)
		if code != 1 || !strings.Contains(errb.String(), "may have acted on it") {
			t.Errorf("%q: exit %d, stderr %q; want 1 and that the daemon may have acted on it", args, code, errb.String())
		}
	}
}

package main

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rmqlb/rmqlb/control"
)

// fakeDaemon serves a control socket, until the test ends, whose handler
// records each request as its command and arguments and answers with
// answer.
type fakeDaemon struct {
	sock string
	mu   sync.Mutex
	got  [][]string
}

func newFakeDaemon(t *testing.T, answer func(control.Request) (any, error)) *fakeDaemon {
	t.Helper()
	f := &fakeDaemon{sock: filepath.Join(t.TempDir(), "ctl.sock")}
	srv := &control.Server{Path: f.sock, Handler: func(_ context.Context, req control.Request) (any, error) {
		f.mu.Lock()
		f.got = append(f.got, append([]string{req.Command}, req.Args...))
		f.mu.Unlock()
		return answer(req)
	}}
	ln, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(served) }()
	t.Cleanup(func() { cancel(); <-served })
	return f
}

// take returns the requests recorded since the last take.
func (f *fakeDaemon) take() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	got := f.got
	f.got = nil
	return got
}

// cliCase is a command line run against a fakeDaemon: its exit status,
// the one request it must make (nil: none) and what its output must hold.
type cliCase struct {
	args     []string
	code     int
	req      []string
	out, err string
}

// runCLICases runs each case's command line and checks it.
func runCLICases(t *testing.T, f *fakeDaemon, cases []cliCase) {
	t.Helper()
	for _, c := range cases {
		f.take()
		var out, errb bytes.Buffer
		code := run(c.args, &out, &errb)
		reqs := f.take()
		if code != c.code || !strings.Contains(out.String(), c.out) || !strings.Contains(errb.String(), c.err) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want %d, %q, %q", c.args, code, out.String(), errb.String(), c.code, c.out, c.err)
		}
		if (c.req == nil) != (len(reqs) == 0) || c.req != nil && (len(reqs) != 1 || !slices.Equal(reqs[0], c.req)) {
			t.Errorf("%q: requests %q, want %q", c.args, reqs, c.req)
		}
	}
}

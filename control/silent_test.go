package control

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestClientsThatSendNothing: a client that holds a connection and sends
// no request, or only part of one, is closed at the timeout and told why;
// each is logged at debug with its process, and the warning that such
// clients keep others' commands waiting comes once for the lot (at most
// every logcount.Every), with how many and the last one's process.
// Commands go on being answered.
func TestClientsThatSendNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rmqlb.sock")
	core, logs := observer.New(zapcore.DebugLevel)
	s := &Server{Path: path, Logger: zap.New(core), Timeout: 200 * time.Millisecond,
		Handler: func(ctx context.Context, req Request) (any, error) { return "ok", nil }}
	serve(t, s)
	sends := []string{"", "", "", `{"command":"sta`, ""}
	var conns []net.Conn
	for _, b := range sends {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := c.Write([]byte(b)); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// The last one never reads its answer either.
	for i, c := range conns[:len(conns)-1] {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, err := bufio.NewReader(c).ReadBytes('\n')
		if err != nil {
			t.Fatalf("client %d (sent %q): reading the answer: %v", i, sends[i], err)
		}
		var resp Response
		if err := json.Unmarshal(line, &resp); err != nil {
			t.Fatalf("client %d: answer %q: %v", i, line, err)
		}
		if want := "reading request: no complete request within 200ms"; resp.Error != want || resp.Result != nil {
			t.Fatalf("client %d (sent %q): answer %q, want the error %q", i, sends[i], line, want)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for logs.FilterMessage("control client sent no request in time").Len() < len(sends) {
		if time.Now().After(deadline) {
			t.Fatalf("after %d silent clients: %v", len(sends), logs.All())
		}
		time.Sleep(10 * time.Millisecond)
	}
	var got string
	if err := Call(path, Request{Command: "status"}, &got, 5*time.Second); err != nil || got != "ok" {
		t.Fatalf("a request after them: %q, %v", got, err)
	}
	for _, e := range logs.FilterMessage("control client sent no request in time").All() {
		if f := e.ContextMap(); e.Level != zapcore.DebugLevel || f["peer_pid"] != int32(os.Getpid()) || f["timeout"] != 200*time.Millisecond {
			t.Errorf("logged at %v: %v, want debug with this process and the timeout", e.Level, f)
		}
	}
	warned := logs.FilterMessage("closed control connections that sent no request in time").All()
	if len(warned) != 1 || warned[0].Level != zapcore.WarnLevel {
		t.Fatalf("%d warnings of clients that sent nothing (%v), want 1", len(warned), warned)
	}
	if f := warned[0].ContextMap(); f["clients"] != int64(1) || f["last_peer_pid"] != int32(os.Getpid()) {
		t.Errorf("warning: %v, want the first client alone and this process", f)
	}
	for _, e := range logs.All() {
		if e.Level > zapcore.DebugLevel && e.Message != warned[0].Message {
			t.Errorf("logged at %v: %s %v", e.Level, e.Message, e.ContextMap())
		}
	}
}

package rabbittest

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKillRestart kills a node with SIGKILL and boots it again from its directory: same name,
// same listener, its database (a vhost made before the kill) and its advanced.config kept.
func TestKillRestart(t *testing.T) {
	n := StartT(t, Options{AdvancedConfig: `[{aten, [{poll_interval, 777}]}].`})
	if got := n.MustCtl(t, "eval", "application:get_env(aten, poll_interval)."); !strings.Contains(got, "{ok,777}") {
		t.Fatalf("aten poll_interval from advanced.config: %q, want {ok,777}", got)
	}
	n.MustCtl(t, "add_vhost", "kept")
	pid, err := n.Pid()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Kill(); err != nil {
		t.Fatal(err)
	}
	if n.Running() {
		t.Fatal("Running after Kill")
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
		t.Fatalf("beam %d still exists after Kill", pid)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := n.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if !n.Running() {
		t.Fatal("not Running after Restart")
	}
	if pid2, _ := n.Pid(); pid2 == pid {
		t.Fatalf("same beam pid %d after Restart", pid)
	}
	if out := n.MustCtl(t, "-q", "list_vhosts"); !strings.Contains(out, "kept") {
		t.Fatalf("vhost made before the kill is gone: %q", out)
	}
	if got := n.MustCtl(t, "eval", "application:get_env(aten, poll_interval)."); !strings.Contains(got, "{ok,777}") {
		t.Fatalf("after Restart, aten poll_interval: %q", got)
	}
	// A frozen node is killed too.
	if err := n.Freeze(); err != nil {
		t.Fatal(err)
	}
	if err := n.Kill(); err != nil {
		t.Fatal(err)
	}
	if n.Running() {
		t.Fatal("frozen node Running after Kill")
	}
}

// TestClusterRAM joins a second node as a RAM node, as the blog post does.
func TestClusterRAM(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err)
	}
	e, err := StartEPMD("", 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Stop(); err != nil {
			t.Error(err)
		}
	})
	disc := StartT(t, Options{Name: "disc", EPMD: e})
	ram := StartT(t, Options{Name: "ram", EPMD: e})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := ram.JoinClusterRAM(ctx, disc); err != nil {
		t.Fatal(err)
	}
	out := disc.MustCtl(t, "eval", "rabbit_mnesia:cluster_nodes(ram).")
	if !strings.Contains(out, ram.NodeName) || strings.Contains(out, disc.NodeName) {
		t.Fatalf("RAM nodes of the cluster: %q, want only %s", out, ram.NodeName)
	}
}

// TestMaxOpenFiles starts a node with a raised open-files limit and reads
// the limit RabbitMQ itself sees.
func TestMaxOpenFiles(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	want := int(min(lim.Max, 12345))
	n := StartT(t, Options{MaxOpenFiles: want})
	pid, err := n.Pid()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		t.Fatal(err)
	}
	var soft, hard string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 5 && strings.HasPrefix(line, "Max open files") {
			soft, hard = f[3], f[4]
		}
	}
	if soft != strconv.Itoa(want) || hard != strconv.Itoa(want) {
		t.Fatalf("beam's open files limit %s/%s, want %d", soft, hard, want)
	}
}

package rabbittest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestNodeLifecycle(t *testing.T) {
	n := StartT(t, Options{})
	t.Logf("node %s on %s in %s", n.NodeName, n.Addr, n.Dir)
	if out := n.MustCtl(t, "-q", "list_vhosts"); !strings.Contains(out, "/") {
		t.Fatalf("list_vhosts: %q", out)
	}
	// The listener speaks AMQP 0-9-1: the protocol header gets a whole
	// Connection.Start back (method frame on channel 0, class 10 method
	// 10, ended by 0xCE).
	c, err := net.DialTimeout("tcp", n.Addr.String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("AMQP\x00\x00\x09\x01")); err != nil {
		t.Fatal(err)
	}
	hdr := make([]byte, 7)
	if _, err := io.ReadFull(c, hdr); err != nil {
		t.Fatalf("reading Connection.Start's frame header: %v", err)
	}
	size := binary.BigEndian.Uint32(hdr[3:])
	if hdr[0] != 1 || binary.BigEndian.Uint16(hdr[1:]) != 0 || size < 4 || size > 64<<10 {
		t.Fatalf("frame header % x: want a method frame on channel 0", hdr)
	}
	body := make([]byte, size+1)
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatalf("reading Connection.Start's %d bytes: %v", size, err)
	}
	if class, method := binary.BigEndian.Uint16(body), binary.BigEndian.Uint16(body[2:]); class != 10 || method != 10 || body[size] != 0xCE {
		t.Fatalf("frame: class %d method %d end %#x, want Connection.Start (10, 10) ended by 0xce", class, method, body[size])
	}
	c.Close()

	if err := n.Freeze(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	_, err = n.Ctl(ctx, "-q", "list_vhosts")
	cancel()
	if err == nil {
		t.Fatal("rabbitmqctl answered while the node was frozen")
	}
	if err := n.Thaw(); err != nil {
		t.Fatal(err)
	}
	n.MustCtl(t, "-q", "list_vhosts")

	pid, _ := n.Pid()
	if err := n.Freeze(); err != nil { // Stop must also work on a frozen node.
		t.Fatal(err)
	}
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
		t.Fatalf("beam %d still exists (zombie or alive) after Stop", pid)
	}
	if l := Leftovers(); len(l) > 0 {
		t.Fatalf("leftover processes %v", l)
	}
}

func TestClusterRootNamespace(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	nodes, stop, err := StartCluster(ctx, []Options{{Name: "ca"}, {Name: "cb"}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()
	out := nodes[0].MustCtl(t, "cluster_status", "--formatter", "json")
	if !strings.Contains(out, nodes[1].NodeName) {
		t.Fatalf("cluster_status of %s lacks %s: %s", nodes[0].NodeName, nodes[1].NodeName, out)
	}
}

// TestClusterNetns runs two nodes in two namespaces joined by a veth pair, with the standard
// ports and short host names resolved through /etc/netns/NS/hosts.
func TestClusterNetns(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip missing")
	}
	suf := randHex(3)
	ns := []string{"rtA" + suf, "rtB" + suf}
	ips := []netip.Addr{netip.MustParseAddr("10.213.7.1"), netip.MustParseAddr("10.213.7.2")}
	hosts := map[string]netip.Addr{"rmqa" + suf: ips[0], "rmqb" + suf: ips[1]}
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	for _, n := range ns {
		run("netns", "add", n)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", n).Run() })
		run("-n", n, "link", "set", "lo", "up")
		rm, err := WriteNetnsHosts(n, hosts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(rm)
	}
	run("-n", ns[0], "link", "add", "rtv"+suf, "type", "veth", "peer", "name", "rtw"+suf, "netns", ns[1])
	run("-n", ns[0], "addr", "add", ips[0].String()+"/24", "dev", "rtv"+suf)
	run("-n", ns[1], "addr", "add", ips[1].String()+"/24", "dev", "rtw"+suf)
	run("-n", ns[0], "link", "set", "rtv"+suf, "up")
	run("-n", ns[1], "link", "set", "rtw"+suf, "up")

	a := StartT(t, Options{Name: "rabbit", Host: "rmqa" + suf, IP: ips[0], NetNS: ns[0]})
	b := StartT(t, Options{Name: "rabbit", Host: "rmqb" + suf, IP: ips[1], NetNS: ns[1]})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := b.JoinCluster(ctx, a); err != nil {
		t.Fatal(err)
	}
	out := a.MustCtl(t, "cluster_status", "--formatter", "json")
	if !strings.Contains(out, b.NodeName) {
		t.Fatalf("cluster_status of %s lacks %s: %s", a.NodeName, b.NodeName, out)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if l := Leftovers(); len(l) > 0 {
		fmt.Fprintf(os.Stderr, "rabbittest: leftover processes %v\n", l)
		code = 1
	}
	os.Exit(code)
}

// TestWaitPidFileUnwritten checks that a pid file RabbitMQ has created but
// not yet written does not end the wait for a boot: rabbitmqctl fails on it at
// once, and the wait tries again until its context ends.
func TestWaitPidFileUnwritten(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err)
	}
	e, err := StartEPMD("", 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Stop() })
	n := &Node{
		NodeName: "rt-unwritten@localhost",
		Dir:      t.TempDir(),
		opts:     Options{Cookie: DefaultCookie, EPMDPort: e.Port},
		marker:   markerPrefix() + "node-" + randHex(8),
	}
	if err := n.prepare(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(n.path("pid"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, _ := n.Ctl(context.Background(), "wait", "--timeout", "5", n.path("pid")); !pidFileUnwritten(out) {
		t.Fatalf("rabbitmqctl wait on an empty pid file said %q; want garbage_in_pid_file", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	err = n.waitPidFile(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waitPidFile on an empty pid file = %v; want it to retry until the deadline", err)
	}
	t.Log(err)
}

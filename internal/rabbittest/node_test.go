package rabbittest

import (
	"context"
	"fmt"
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
	// The listener speaks AMQP: the protocol header gets a method frame (type 1) back.
	c, err := net.DialTimeout("tcp", n.Addr.String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte("AMQP\x00\x00\x09\x01"))
	b := make([]byte, 1)
	if _, err := c.Read(b); err != nil || b[0] != 1 {
		t.Fatalf("reading Connection.Start: %v %x", err, b)
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

package netsetup

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// holdEnv makes TestHoldVIPsHelper act as a daemon holding VIPs.
const holdEnv = "RMQLB_NETSETUP_HOLD"

// TestHoldVIPsHelper is not a test: run by TestSIGKILLNetns with holdEnv
// set (interface,vip,vip...), it acquires the VIPs, prints "held" and
// blocks until it is killed.
func TestHoldVIPsHelper(t *testing.T) {
	spec := os.Getenv(holdEnv)
	if spec == "" {
		t.Skip("helper process for TestSIGKILLNetns")
	}
	parts := strings.Split(spec, ",")
	var vips []netip.Prefix
	for _, p := range parts[1:] {
		vips = append(vips, netip.MustParsePrefix(p))
	}
	s, err := NewVIPSet(VIPConfig{Interface: parts[0], VIPs: vips, GARP: GARPConfig{Refresh: -1}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	go s.Run(context.Background())
	if err := s.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	fmt.Println("held")
	select {}
}

// TestSIGKILLNetns kills a process holding VIPs with SIGKILL, so it cannot
// release them, and checks that RemoveStaleScoped with the killed daemon's
// configuration (what the next daemon start runs) removes exactly those.
func TestSIGKILLNetns(t *testing.T) {
	l := setupLab(t)
	if l == nil {
		return
	}
	vips := []netip.Prefix{netip.MustParsePrefix("10.201.0.180/24"), netip.MustParsePrefix("fd00:201::180/64")}
	manual := netip.MustParsePrefix("10.201.0.181/32")
	run(t, "ip", "addr", "add", manual.String(), "dev", l.IfA)

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestHoldVIPsHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), holdEnv+"="+l.IfA+","+vips[0].String()+","+vips[1].String())
	cmd.Env = append(cmd.Env, labEnv+"=") // the helper is not a lab child
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(10 * time.Second)
wait:
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				cmd.Wait()
				t.Fatal("helper exited before holding the VIPs")
			}
			if line == "held" {
				break wait
			}
		case <-deadline:
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal("helper did not hold the VIPs within 10s")
		}
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	cmd.Wait()

	got := addrsOf(t, l.IfA)
	for _, p := range vips {
		if _, ok := got[p.Addr()]; !ok {
			t.Fatalf("%s gone after SIGKILL; the test proves nothing", p)
		}
	}
	scope := []StaleScope{{Interface: l.IfA, VIPs: append(slices.Clone(vips), manual)}}
	removed, err := RemoveStaleScoped(scope, DefaultLabel, nil)
	if err != nil {
		t.Fatalf("RemoveStaleScoped: %v", err)
	}
	if len(removed) != 2 || !((removed[0] == vips[0] && removed[1] == vips[1]) || (removed[0] == vips[1] && removed[1] == vips[0])) {
		t.Errorf("RemoveStaleScoped removed %v, want %v", removed, vips)
	}
	got = addrsOf(t, l.IfA)
	for _, p := range vips {
		if _, ok := got[p.Addr()]; ok {
			t.Errorf("stale %s survived RemoveStaleScoped", p)
		}
	}
	if _, ok := got[manual.Addr()]; !ok {
		t.Errorf("manually added %s was removed", manual)
	}
}

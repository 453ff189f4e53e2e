package daemon

import (
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/config"
)

// TestSenderProcessNeedsTheRealTransport: with vrrp_sender: process the
// daemon has a sender process for real VRRP sockets only; with injected
// transports (no raw socket to hand over) the instances send themselves,
// and none of this package's tests starts a process.
func TestSenderProcessNeedsTheRealTransport(t *testing.T) {
	h := newHarness(t, newLab(t).file())
	if h.d.cfg.VRRPSender != config.SenderProcess {
		t.Fatalf("the harness's configuration has vrrp_sender %v, want the default process", h.d.cfg.VRRPSender)
	}
	if h.d.sender != nil {
		t.Fatal("a sender process with injected VRRP transports")
	}
	d := &Daemon{log: zap.NewNop(), reg: prometheus.NewRegistry()}
	if err := d.newSender(h.d.cfg); err != nil || d.sender == nil {
		t.Fatalf("real transports, vrrp_sender: process: sender %v, %v", d.sender, err)
	}
	inline := *h.d.cfg
	inline.VRRPSender = config.SenderInline
	d = &Daemon{log: zap.NewNop(), reg: prometheus.NewRegistry()}
	if err := d.newSender(&inline); err != nil || d.sender != nil {
		t.Fatalf("vrrp_sender: inline: sender %v, %v", d.sender, err)
	}
}

// TestDefaultSenderCommand: the sender process is this very program (its
// file may have been replaced by an upgrade), as rmqlb vrrp-sender with
// the real-time priority, asynchronous preemption off.
func TestDefaultSenderCommand(t *testing.T) {
	t.Setenv("GODEBUG", "madvdontneed=1")
	cmd := defaultSenderCommand("/usr/sbin/rmqlb", 50)
	if cmd.Path != selfExe {
		t.Errorf("path %q, want %s", cmd.Path, selfExe)
	}
	if want := []string{"/usr/sbin/rmqlb", SenderSubcommand, "--rt-priority", "50"}; !slices.Equal(cmd.Args, want) {
		t.Errorf("args %q, want %q", cmd.Args, want)
	}
	if !slices.Contains(cmd.Env, "GODEBUG=madvdontneed=1,asyncpreemptoff=1") {
		t.Errorf("environment lacks GODEBUG with asyncpreemptoff: %q", strings.Join(cmd.Env, " "))
	}
	if cmd := defaultSenderCommand("rmqlb", 0); slices.Contains(cmd.Args, "--rt-priority") {
		t.Errorf("args %q with priority 0", cmd.Args)
	}
}

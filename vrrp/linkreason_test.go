package vrrp

import (
	"testing"
	"time"
)

// TestLinkDownReason: a LinkDown's reason is the FAULT's; another reason
// while the link is down replaces it in place, without a transition; the
// link coming up starts the machine as usual, and a LinkDown without a
// reason is "interface link down" again.
func TestLinkDownReason(t *testing.T) {
	m := NewMachine(testConfig(), local)
	m.Step(t0, LinkDown{Reason: "interface eth1 does not exist"})
	m.Step(t0, Startup{})
	if m.State() != StateFault || m.Reason() != "startup: interface eth1 does not exist" {
		t.Fatalf("start without the interface: %v %q", m.State(), m.Reason())
	}
	acts := m.Step(t0.Add(time.Second), LinkDown{Reason: "interface eth1 has no IPv4 address to send adverts from"})
	for _, a := range acts {
		if _, ok := a.(StateChange); ok {
			t.Fatalf("a new reason made a transition: %v", acts)
		}
	}
	if m.State() != StateFault || m.Reason() != "startup: interface eth1 has no IPv4 address to send adverts from" || !m.Since().Equal(t0) {
		t.Fatalf("after the new reason: %v %q since %v", m.State(), m.Reason(), m.Since())
	}
	m.Step(t0.Add(2*time.Second), LinkUp{})
	if m.State() != StateBackup || m.Reason() != "interface link up" {
		t.Fatalf("interface ready: %v %q", m.State(), m.Reason())
	}
	m.Step(t0.Add(3*time.Second), LinkDown{})
	if m.State() != StateFault || m.Reason() != "interface link down" {
		t.Fatalf("link down: %v %q", m.State(), m.Reason())
	}
	// An owner fault's FAULT keeps its reason when the link goes down too.
	m2 := NewMachine(testConfig(), local)
	m2.Step(t0, Startup{})
	m2.Step(t0, OwnerFault{})
	m2.Step(t0, LinkDown{Reason: "interface eth1 does not exist"})
	if m2.Reason() != "cannot hold the VIPs" {
		t.Fatalf("owner fault, then the link: %q", m2.Reason())
	}
}

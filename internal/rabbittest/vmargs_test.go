package rabbittest

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// TestErlArgs starts a node with extra Erlang VM flags and reads them back
// from the running VM's command line, after RabbitMQ's own defaults (so
// that they override them).
func TestErlArgs(t *testing.T) {
	n := StartT(t, Options{ErlArgs: []string{"+sbwt", "very_short", "+sbwtdio", "short"}})
	args, err := n.VMArgs()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("beam.smp %s", strings.Join(args, " "))
	last := func(flag string) (string, int) {
		for i := len(args) - 2; i >= 0; i-- {
			if args[i] == flag {
				return args[i+1], i
			}
		}
		return "", -1
	}
	first := func(flag string) int {
		return slices.Index(args, flag)
	}
	for flag, want := range map[string]string{"-sbwt": "very_short", "-sbwtdio": "short"} {
		got, i := last(flag)
		if got != want {
			t.Errorf("last %s is %q, want %q", flag, got, want)
		}
		if j := first(flag); j != i {
			t.Logf("%s %s (RabbitMQ's default) comes first, at %d; ours at %d", flag, args[j+1], j, i)
		}
	}
	if got, _ := last("-sbwtdcpu"); got == "" {
		t.Logf("no -sbwtdcpu: the VM runs with Erlang's default")
	} else {
		t.Logf("-sbwtdcpu %s (not ours: RabbitMQ's default)", got)
	}

	if _, err := Start(context.Background(), Options{ErlArgs: []string{"+sbwt none"}}); err == nil {
		t.Fatal("Start took an Erlang VM argument with a space in it")
	}
}

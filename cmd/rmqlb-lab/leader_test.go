package main

import (
	"fmt"
	"testing"
)

func TestLeaderPlacement(t *testing.T) {
	cases := []struct {
		fault string
		cycle int
		want  placement
	}{
		{"cut-owner", 0, placeOwner},
		{"cut-owner", 1, placeNotOwner},
		{"cut-owner", 6, placeOwner},
		{"cut-other", 0, placeNotOwner},
		{"cut-other", 1, placeAny},
		{"cut-other", 4, placeNotOwner},
		{"kill-broker", 0, placeAny},
		{"freeze-broker", 1, placeAny},
		{"stop-app", 2, placeAny},
	}
	for _, c := range cases {
		if got := leaderPlacement(c.fault, c.cycle); got != c.want {
			t.Errorf("leaderPlacement(%s, %d) = %v, want %v", c.fault, c.cycle, got, c.want)
		}
	}
}

func TestLeaderDestination(t *testing.T) {
	three := []string{"rmq1", "rmq2", "rmq3"}
	cases := []struct {
		p          placement
		owner, cur string
		want       string
	}{
		{placeAny, "rmq1", "rmq1", ""},
		{placeAny, "rmq1", "rmq2", ""},
		{placeOwner, "rmq1", "rmq1", ""},
		{placeOwner, "rmq1", "rmq3", "rmq1"},
		{placeOwner, "rmq2", "rmq1", "rmq2"},
		{placeNotOwner, "rmq1", "rmq3", ""},
		{placeNotOwner, "rmq1", "rmq1", "rmq2"},
		{placeNotOwner, "rmq2", "rmq2", "rmq1"},
	}
	for _, c := range cases {
		if got := leaderDestination(c.p, three, c.owner, c.cur); got != c.want {
			t.Errorf("leaderDestination(%v, owner %s, leader on %s) = %q, want %q", c.p, c.owner, c.cur, got, c.want)
		}
	}
	if got := leaderDestination(placeNotOwner, []string{"rmq1"}, "rmq1", "rmq1"); got != "" {
		t.Errorf("one broker: leaderDestination = %q, want none", got)
	}
}

func TestTransferLeaderExpr(t *testing.T) {
	got := transferLeaderExpr("tao", "sayHello", "rabbit-1a2b3c@rmq2")
	want := `{ok, Q} = rabbit_amqqueue:lookup(rabbit_misc:r(<<"tao">>, queue, <<"sayHello">>)), rabbit_quorum_queue:transfer_leadership(Q, 'rabbit-1a2b3c@rmq2').`
	if got != want {
		t.Errorf("transferLeaderExpr:\n got %s\nwant %s", got, want)
	}
	for _, p := range []placement{placeAny, placeOwner, placeNotOwner} {
		if s := fmt.Sprint(p); s == "" {
			t.Errorf("placement %d has no description", int(p))
		}
	}
}

package vrrp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/vrrp"
)

// logOwner stands in for netsetup's VIP owner.
type logOwner struct{ log *zap.Logger }

func (o logOwner) Acquire(ctx context.Context) error { o.log.Info("add VIPs, send GARP"); return nil }
func (o logOwner) Release(ctx context.Context) error { o.log.Info("remove VIPs"); return nil }

// The equivalent of a keepalived vrrp_instance (the blog post's), run until SIGTERM.
func ExampleInstance() {
	log, _ := zap.NewProduction()
	cfg := vrrp.Config{
		Name:           "rabbitmq",
		Interface:      "eth0",
		VRID:           1,
		Priority:       150,
		Version:        2,
		AdvertInterval: 5 * time.Second,
		Preempt:        true,
		AuthPass:       "passwd",
		VIPs:           []netip.Prefix{netip.MustParsePrefix("192.168.1.100/32")},
	}
	inst, err := vrrp.NewInstance(cfg, vrrp.Options{Owner: logOwner{log}, Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	go func() {
		// A failing tracked check (weight -60) lowers the priority.
		inst.SetPriorityAdjust(-60)
	}()
	if err := inst.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	json.NewEncoder(os.Stdout).Encode(inst.Snapshot())
}

// Machine can be driven directly, with any notion of time.
func ExampleMachine() {
	cfg := vrrp.Config{Name: "x", Interface: "eth0", VRID: 1, Priority: 100, Version: 3,
		AdvertInterval: time.Second, Preempt: true, VIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.100/24")}}
	m := vrrp.NewMachine(cfg, netip.MustParseAddr("10.0.0.1"))
	t0 := time.Unix(0, 0)
	fmt.Println(m.Step(t0, vrrp.Startup{}))
	at, _ := m.NextDeadline()
	fmt.Println(at.Sub(t0))
	fmt.Println(m.Step(at, vrrp.Tick{}))
	// Output:
	// [INIT to BACKUP: startup]
	// 3.609375s
	// [BACKUP to MASTER: no advertisement heard within master down interval {100} {}]
}

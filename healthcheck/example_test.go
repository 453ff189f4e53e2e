package healthcheck_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/rmqlb/rmqlb/amqpcheck"
	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/healthcheck"
	"go.uber.org/zap"
)

// balancerStub stands for the balancer's backend table.
type balancerStub struct{}

func (balancerStub) SetBackendState(id backend.ID, st backend.State, reason string) {
	fmt.Println(id, st, reason)
}
func (balancerStub) SetBackendWeight(id backend.ID, pct int) {}
func (balancerStub) SetBackendFull(id backend.ID, full bool) {}

// Example shows the wiring of the daemon: one scheduler, an AMQP check per backend, the
// balancer following states and a VRRP instance following a track weight.
func Example() {
	s := healthcheck.NewScheduler(healthcheck.Options{Logger: zap.NewNop()})
	chk, err := amqpcheck.New(amqpcheck.Config{
		Addr:          netip.MustParseAddrPort("10.77.0.1:5672"),
		Mode:          amqpcheck.ModeHandshake,
		ProxyProtocol: false,
	})
	if err != nil {
		panic(err)
	}
	rmq1 := backend.ID{Listener: "amqp", Name: "rmq1"}
	rmq2 := backend.ID{Listener: "amqp", Name: "rmq2"}
	s.Add(rmq1, healthcheck.CheckConfig{Interval: 2 * time.Second, Rise: 2, Fall: 3, Timeout: time.Second}, chk)
	s.Add(rmq2, healthcheck.CheckConfig{}, &healthcheck.TCPCheck{Addr: netip.MustParseAddrPort("10.77.0.2:5672")})

	s.Subscribe(healthcheck.Forward(balancerStub{}))
	tr := healthcheck.NewTracker(func(delta int) { fmt.Println("priority delta", delta) })
	tr.TrackBackend(rmq1, -60)                                           // track: [{check: amqp/rmq1, weight: -60}]
	tr.TrackNoneServing("listener amqp", []backend.ID{rmq1, rmq2}, -100) // no backend of the listener is up
	s.Subscribe(tr.Handle)
	_ = tr.Delta() // the initial adjustment: every backend starts DOWN

	ctx, cancel := context.WithCancel(context.Background())
	go s.Run(ctx) // owned by the daemon; cancel and wait for it on shutdown
	_ = s.SetAdmin(rmq2, backend.AdminDrain)
	_ = s.Snapshot() // for `rmqlb status --json`
	cancel()
}

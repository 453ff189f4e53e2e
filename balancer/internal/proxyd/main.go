// Command proxyd runs one balancer.Listener from flags. It exists to
// measure the data path (idle cost, throughput) in a process of its own;
// the real daemon is cmd/rmqlb.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/proxyproto"
	"go.uber.org/zap"
)

func main() {
	bind := flag.String("bind", "127.0.0.1:6000", "listen address")
	backends := flag.String("backends", "127.0.0.2:5201", "comma-separated backend addresses")
	policy := flag.String("policy", "roundrobin", "roundrobin, wrr or leastconn")
	proxy := flag.String("proxy-protocol", "none", "none, v1 or v2")
	verbose := flag.Bool("v", false, "log at debug level")
	flag.Parse()
	if err := run(*bind, *backends, *policy, *proxy, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "proxyd:", err)
		os.Exit(1)
	}
}

func run(bind, backends, policy, proxy string, verbose bool) error {
	b, err := netip.ParseAddrPort(bind)
	if err != nil {
		return fmt.Errorf("parsing -bind: %w", err)
	}
	pol, err := balancer.ParsePolicy(policy)
	if err != nil {
		return fmt.Errorf("parsing -policy: %w", err)
	}
	pp, err := proxyproto.ParseVersion(proxy)
	if err != nil {
		return fmt.Errorf("parsing -proxy-protocol: %w", err)
	}
	cfg := balancer.Config{
		Name: "proxyd", Bind: b, Policy: pol,
		ConnectTimeout: 2 * time.Second, Retries: 2, ShutdownSessionsOnDown: true,
		GracefulTimeout: -1,
	}
	for i, a := range strings.Split(backends, ",") {
		ap, err := netip.ParseAddrPort(a)
		if err != nil {
			return fmt.Errorf("parsing -backends: %w", err)
		}
		cfg.Backends = append(cfg.Backends, balancer.BackendConfig{Name: fmt.Sprintf("b%d", i), Address: ap, Weight: 1, ProxyProtocol: pp})
	}
	log := zap.NewNop()
	if verbose {
		log, _ = zap.NewDevelopment()
	}
	l, err := balancer.NewListener(cfg, log, nil)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return l.Run(ctx)
}

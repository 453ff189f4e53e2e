// Command loadgen runs one load generator of the rmqlb benchmark and prints
// its result as one JSON line on stdout. It is started by rmqlb-bench inside
// the lab's network namespaces; it can also be run by hand.
//
//	loadgen echo     -listen ADDR [-max-time D]
//	loadgen rr       -target ADDR [-conns 16] [-size 128] [-warmup 1s] [-duration 5s]
//	loadgen connrate -target ADDR [-workers 8] [-duration 5s] [-reset]
//	loadgen idle     -target ADDR [-conns 3000] [-max-time 60s]
//	loadgen wait     -target ADDR [-timeout 10s]
//
// idle prints its result once every connection is open, then holds them
// until stdin reaches EOF (or -max-time passes), closes them and exits.
// wait dials the target until one 1-byte echo succeeds.
//
// Every mode stops on SIGINT/SIGTERM and at its time bound.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rmqlb/rmqlb/bench/loadgen"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: loadgen echo|rr|connrate|idle|wait [flags]")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	target := fs.String("target", "", "address to dial (host:port)")
	listen := fs.String("listen", "", "address to listen on (echo)")
	conns := fs.Int("conns", 0, "connections (rr: 16, idle: 3000)")
	size := fs.Int("size", 128, "request size in bytes (rr)")
	workers := fs.Int("workers", 8, "parallel connect loops (connrate)")
	warmup := fs.Duration("warmup", time.Second, "unmeasured warm-up (rr)")
	duration := fs.Duration("duration", 5*time.Second, "measured duration (rr, connrate)")
	maxTime := fs.Duration("max-time", 0, "upper bound on run time (echo: 0 = until signal; idle: 60s)")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to keep trying (wait)")
	reset := fs.Bool("reset", false, "close each connection with a reset instead of a FIN (connrate)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	out := json.NewEncoder(os.Stdout)

	switch args[0] {
	case "echo":
		if *maxTime > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, *maxTime)
			defer cancel()
		}
		ln, err := net.Listen("tcp", *listen)
		if err != nil {
			return fmt.Errorf("listening on %s: %w", *listen, err)
		}
		return loadgen.Echo(ctx, ln)
	case "rr":
		res, err := loadgen.RR(ctx, loadgen.RRConfig{Target: *target, Conns: *conns, Size: *size, Warmup: *warmup, Duration: *duration})
		if err != nil {
			return err
		}
		return out.Encode(res)
	case "connrate":
		res, err := loadgen.ConnRate(ctx, loadgen.ConnRateConfig{Target: *target, Workers: *workers, Duration: *duration, Reset: *reset})
		if err != nil {
			return err
		}
		return out.Encode(res)
	case "idle":
		if *maxTime <= 0 {
			*maxTime = 60 * time.Second
		}
		ctx, cancel := context.WithTimeout(ctx, *maxTime)
		defer cancel()
		idle, res, err := loadgen.OpenIdle(ctx, loadgen.IdleConfig{Target: *target, Conns: *conns})
		if err != nil {
			return err
		}
		defer idle.Close()
		if err := out.Encode(res); err != nil {
			return err
		}
		eof := make(chan struct{})
		go func() { io.Copy(io.Discard, os.Stdin); close(eof) }()
		select {
		case <-eof:
		case <-ctx.Done():
		}
		return nil
	case "wait":
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		for {
			idle, res, err := loadgen.OpenIdle(ctx, loadgen.IdleConfig{Target: *target, Conns: 1, Timeout: time.Second})
			if err != nil {
				return fmt.Errorf("waiting for %s: %w", *target, err)
			}
			idle.Close()
			if res.Open == 1 {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for %s: %w", *target, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return fmt.Errorf("unknown mode %q", args[0])
}

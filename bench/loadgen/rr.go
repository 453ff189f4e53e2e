package loadgen

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// RRConfig describes a request/response run. Zero values take the defaults
// named on each field.
type RRConfig struct {
	// Target is the echo server (or a proxy in front of it) to dial.
	Target string
	// Conns is the number of connections, each with one request in
	// flight at a time. Default 16.
	Conns int
	// Size is the request (and echoed response) size in bytes. Default 128.
	Size int
	// Warmup runs before measuring and is not counted. Default 0.
	Warmup time.Duration
	// Duration is the measured time. Default 5s.
	Duration time.Duration
}

// RRResult is the outcome of RR, ready for JSON.
type RRResult struct {
	Requests int64   `json:"requests"`
	Seconds  float64 `json:"seconds"`
	Rate     float64 `json:"rate"`
	P50us    float64 `json:"p50_us"`
	P99us    float64 `json:"p99_us"`
	Errors   int64   `json:"errors"`
}

// RR opens cfg.Conns connections to cfg.Target and on each one repeatedly
// writes cfg.Size bytes and reads the same number back, recording every
// round trip's latency during cfg.Duration (after cfg.Warmup). A connection
// that fails stops and counts one error.
func RR(ctx context.Context, cfg RRConfig) (RRResult, error) {
	if cfg.Conns <= 0 {
		cfg.Conns = 16
	}
	if cfg.Size <= 0 {
		cfg.Size = 128
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 5 * time.Second
	}
	var d net.Dialer
	conns := make([]net.Conn, 0, cfg.Conns)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range cfg.Conns {
		c, err := d.DialContext(ctx, "tcp", cfg.Target)
		if err != nil {
			return RRResult{}, fmt.Errorf("dialing %s: %w", cfg.Target, err)
		}
		conns = append(conns, c)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		for _, c := range conns {
			c.SetDeadline(time.Unix(1, 0))
		}
	})
	defer stop()

	start := time.Now()
	measureFrom := start.Add(cfg.Warmup)
	end := measureFrom.Add(cfg.Duration)
	samples := make([][]time.Duration, len(conns))
	errs := make([]int64, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := make([]byte, cfg.Size)
			resp := make([]byte, cfg.Size)
			s := make([]time.Duration, 0, 1<<16)
			for {
				t0 := time.Now()
				if t0.After(end) {
					break
				}
				if _, err := c.Write(req); err != nil {
					errs[i]++
					break
				}
				if _, err := io.ReadFull(c, resp); err != nil {
					errs[i]++
					break
				}
				if t0.After(measureFrom) {
					s = append(s, time.Since(t0))
				}
			}
			samples[i] = s
		}()
	}
	wg.Wait()
	elapsed := time.Since(measureFrom).Seconds()
	all := mergeSorted(samples)
	res := RRResult{
		Requests: int64(len(all)),
		Seconds:  elapsed,
		Rate:     float64(len(all)) / elapsed,
		P50us:    float64(percentile(all, 50)) / 1e3,
		P99us:    float64(percentile(all, 99)) / 1e3,
	}
	for _, e := range errs {
		res.Errors += e
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, nil
}

package loadgen

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// ConnRateConfig describes a connection-rate run. Zero values take the
// defaults named on each field.
type ConnRateConfig struct {
	// Target is the echo server (or a proxy in front of it) to dial.
	Target string
	// Workers is the number of connections in flight at once. Default 8.
	Workers int
	// Duration is the measured time. Default 5s.
	Duration time.Duration
	// Timeout bounds each connection's dial and echo. Default 2s.
	Timeout time.Duration
	// Reset closes each connection with a reset (SO_LINGER 0) instead of a
	// FIN: the client then keeps no TIME_WAIT socket, and the proxy's or
	// server's side of the connection ends at once. Default false (FIN).
	Reset bool
}

// ConnRateResult is the outcome of ConnRate, ready for JSON.
type ConnRateResult struct {
	Conns   int64   `json:"conns"`
	Seconds float64 `json:"seconds"`
	Rate    float64 `json:"rate"`
	Errors  int64   `json:"errors"`
	// ErrorKinds counts failed cycles by error text (addresses and ports
	// stripped), at most 8 kinds.
	ErrorKinds map[string]int64 `json:"error_kinds,omitempty"`
}

// ConnRate runs cfg.Workers loops that each connect to cfg.Target, write one
// byte, read it back and close, for cfg.Duration. Only complete cycles
// count; a failed cycle counts one error and the loop goes on.
func ConnRate(ctx context.Context, cfg ConnRateConfig) (ConnRateResult, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 5 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	// Workers stop at end; ctx only carries cancellation (signals). A dial
	// cut short by the end of the run is not an error.
	start := time.Now()
	end := start.Add(cfg.Duration)
	oks := make([]int64, cfg.Workers)
	errs := make([]int64, cfg.Workers)
	var (
		kindsMu sync.Mutex
		kinds   = make(map[string]int64)
	)
	var wg sync.WaitGroup
	for w := range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := net.Dialer{Timeout: cfg.Timeout}
			b := []byte{'x'}
			for ctx.Err() == nil && time.Now().Before(end) {
				if err := cycle(ctx, &d, cfg.Target, b, cfg.Timeout, cfg.Reset); err != nil {
					if ctx.Err() == nil && time.Now().Before(end) {
						errs[w]++
						k := errorKind(err)
						kindsMu.Lock()
						if _, ok := kinds[k]; ok || len(kinds) < 8 {
							kinds[k]++
						}
						kindsMu.Unlock()
					}
					continue
				}
				oks[w]++
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	if err := ctx.Err(); err != nil {
		return ConnRateResult{}, err
	}
	var res ConnRateResult
	for w := range oks {
		res.Conns += oks[w]
		res.Errors += errs[w]
	}
	res.Seconds = elapsed
	if len(kinds) > 0 {
		res.ErrorKinds = kinds
	}
	res.Rate = float64(res.Conns) / elapsed
	return res, nil
}

// cycle is one connect, 1-byte echo, close (with a reset if reset is set).
func cycle(ctx context.Context, d *net.Dialer, target string, b []byte, timeout time.Duration, reset bool) error {
	c, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		return err
	}
	defer c.Close()
	if tc, ok := c.(*net.TCPConn); ok && reset {
		if err := tc.SetLinger(0); err != nil {
			return err
		}
	}
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write(b); err != nil {
		return err
	}
	var r [1]byte
	_, err = io.ReadFull(c, r[:])
	return err
}

// errorKind reduces an error to its kind: the innermost message, without
// the operation and addresses that net.OpError adds.
func errorKind(err error) string {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Op + ": " + oe.Err.Error()
	}
	return err.Error()
}

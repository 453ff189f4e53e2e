package loadgen

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// IdleConfig describes an idle-connection run.
type IdleConfig struct {
	// Target is the echo server (or a proxy in front of it) to dial.
	Target string
	// Conns is the number of connections to open and hold. Default 3000.
	Conns int
	// Parallel is the number of dials in flight at once. Default 32.
	Parallel int
	// Timeout bounds each connection's dial and first echo. Default 5s.
	Timeout time.Duration
}

// IdleResult reports how many connections are held.
type IdleResult struct {
	Open   int `json:"open"`
	Errors int `json:"errors"`
}

// Idle is a set of connections opened by OpenIdle. The caller owns it and
// must Close it.
type Idle struct {
	conns []net.Conn
}

// OpenIdle opens cfg.Conns connections to cfg.Target and on each one
// echoes one byte, so that the whole path (through a proxy, its backend
// connection too) is established and has carried data; then the
// connections stay idle. It returns the set (to Close) and a count of
// connections that failed.
func OpenIdle(ctx context.Context, cfg IdleConfig) (*Idle, IdleResult, error) {
	if cfg.Conns <= 0 {
		cfg.Conns = 3000
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 32
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	var (
		mu    sync.Mutex
		idle  = &Idle{conns: make([]net.Conn, 0, cfg.Conns)}
		nerr  int
		wg    sync.WaitGroup
		slots = make(chan struct{}, cfg.Parallel)
	)
	for range cfg.Conns {
		if ctx.Err() != nil {
			break
		}
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			c, err := openOne(ctx, cfg.Target, cfg.Timeout)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				nerr++
				return
			}
			idle.conns = append(idle.conns, c)
		}()
	}
	wg.Wait()
	res := IdleResult{Open: len(idle.conns), Errors: nerr}
	if ctx.Err() != nil {
		idle.Close()
		return nil, res, fmt.Errorf("opening idle connections: %w", ctx.Err())
	}
	return idle, res, nil
}

func openOne(ctx context.Context, target string, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(timeout))
	var b [1]byte
	if _, err := c.Write([]byte{'i'}); err != nil {
		c.Close()
		return nil, err
	}
	if _, err := io.ReadFull(c, b[:]); err != nil {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// Close closes every held connection.
func (i *Idle) Close() {
	for _, c := range i.conns {
		c.Close()
	}
	i.conns = nil
}

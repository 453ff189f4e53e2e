package daemon

import (
	"context"
	"io"
	"net/netip"
	"sync"
	"time"

	"github.com/rmqlb/rmqlb/amqpcheck"
	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/healthcheck"
)

// OnceResult is the outcome of one backend's check run once by RunChecksOnce.
type OnceResult struct {
	// Backend is the backend checked.
	Backend backend.ID
	// Address is where its check connects.
	Address netip.AddrPort
	// Kind names the check: "amqp handshake", "amqp login" or "tcp", with "+tls" over TLS.
	Kind string
	// Result is what the check returned; a checker that could not be set up is a failed
	// Result with that error.
	Result healthcheck.Result
	// Took is how long the check ran.
	Took time.Duration
	// PassedElsewhere, for a check that passed with the broker refusing its login
	// (healthcheck.Result.Refused), names the backends of its listener where the same login
	// (config.Check.Login) was let in, in the same run (healthcheck.PassedAlike): the
	// refusal is this node's own.
	PassedElsewhere []backend.ID
}

// onceParallel bounds the checks RunChecksOnce runs at the same time.
const onceParallel = 16

// RunChecksOnce runs the health check of every backend of c that has one, once and from this
// host, as the daemon's scheduler would run its first (newChecker builds them: NewChecker), each
// bounded by its check's timeout and by ctx. The checks run at the same time (at most 16 at
// once); the results come in the order of the backends in the file. It closes what a checker
// keeps (a connection a broker under an alarm blocked) before it returns.
func RunChecksOnce(ctx context.Context, c *config.Config, newChecker func(*config.Backend) (healthcheck.Checker, error)) []OnceResult {
	var backends []*config.Backend
	for i := range c.Listeners {
		for j := range c.Listeners[i].Backends {
			if b := &c.Listeners[i].Backends[j]; b.Check.Type != config.CheckNone {
				backends = append(backends, b)
			}
		}
	}
	out := make([]OnceResult, len(backends))
	sem := make(chan struct{}, onceParallel)
	var wg sync.WaitGroup
	for i, b := range backends {
		out[i] = OnceResult{Backend: b.ID, Address: b.Check.Address, Kind: checkKind(&b.Check)}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i].Result, out[i].Took = runOnce(ctx, b, newChecker)
		}()
	}
	wg.Wait()
	// One run: every login let in counts, as if the refusals began before it.
	ended := time.Now()
	logins := make([]healthcheck.LoginCheck, len(out))
	for i, r := range out {
		logins[i] = healthcheck.LoginCheck{Backend: r.Backend, Login: backends[i].Check.Schedule.Login,
			LoggedIn: r.Result.Passed() && !r.Result.Refused, At: ended}
	}
	for i, r := range out {
		if r.Result.Passed() && r.Result.Refused {
			out[i].PassedElsewhere = healthcheck.PassedAlike(r.Backend, logins[i].Login, time.Time{}, logins)
		}
	}
	return out
}

// runOnce runs b's check once within its timeout.
func runOnce(ctx context.Context, b *config.Backend, newChecker func(*config.Backend) (healthcheck.Checker, error)) (healthcheck.Result, time.Duration) {
	chk, err := newChecker(b)
	if err != nil {
		return healthcheck.Result{Err: err}, 0
	}
	if cl, ok := chk.(io.Closer); ok {
		defer cl.Close()
	}
	ctx, cancel := context.WithTimeout(ctx, b.Check.Schedule.Timeout)
	defer cancel()
	t0 := time.Now()
	r := chk.Check(ctx)
	return r, time.Since(t0)
}

// checkKind names a check for RunChecksOnce's results.
func checkKind(c *config.Check) string {
	k := c.Type.String()
	switch c.Type {
	case config.CheckAMQP:
		mode := c.Mode
		if mode == "" {
			mode = amqpcheck.ModeHandshake
		}
		k = "amqp " + string(mode)
	case config.CheckHTTP:
		k = "http " + c.Method + " " + c.Path
	}
	if c.TLS != nil {
		k += "+tls"
	}
	return k
}

package netlab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Defaults of ProbeConfig.
const (
	DefaultProbeInterval = 10 * time.Millisecond
	DefaultProbeTimeout  = 200 * time.Millisecond
)

// ProbeConfig configures a Probe. Zero values take the defaults.
type ProbeConfig struct {
	// Interval between the starts of two connect attempts. Default
	// DefaultProbeInterval.
	Interval time.Duration
	// Timeout of one attempt: a connect that has not completed by then
	// counts as failed. It must stay below the kernel's first SYN
	// retransmission (1 s), or a SYN sent to the old owner and answered
	// after its retransmission would count as a success inside the
	// outage. Default DefaultProbeTimeout.
	Timeout time.Duration
	// ReadBanner reads up to one line from each connection after it
	// connects (with Timeout as deadline) and records it; use it with
	// ServeBanner to learn which host answered. A connection that
	// connects but sends no line in time still counts as a success.
	ReadBanner bool
}

// Attempt is one connect attempt of a probe.
type Attempt struct {
	Start   time.Time
	Latency time.Duration // time to connect (or to fail)
	OK      bool
	Err     string
	Banner  string
}

// Outage is a run of consecutive failed attempts.
type Outage struct {
	// From is the start of the first failed attempt of the run, To the
	// start of the first successful attempt after it (or the probe's stop).
	From, To time.Time
	// Failed is the number of failed attempts in the run.
	Failed int
	// Recovered is false if the probe stopped before a success.
	Recovered bool
}

// Duration is To - From: how long connects kept failing, measured with the
// probe's interval as resolution. One failed attempt at a 10 ms interval is a
// 10 ms outage.
func (o Outage) Duration() time.Duration { return o.To.Sub(o.From) }

// ProbeResult summarises a probe run.
type ProbeResult struct {
	Attempts []Attempt
	Outages  []Outage
	// LongestOutage is the longest of Outages (zero if none).
	LongestOutage Outage
	// MaxLatency is the longest successful connect.
	MaxLatency time.Duration
	// MaxStartGap is the longest time between the starts of two
	// consecutive attempts. Far above the interval it means the probe
	// itself was starved of CPU and the outage figures are coarser than
	// the interval.
	MaxStartGap time.Duration
	// Owners lists the banners in the order they changed (with ReadBanner).
	Owners []OwnerChange
}

// OwnerChange records the first successful attempt answered by a new banner.
type OwnerChange struct {
	At     time.Time
	Banner string
}

// Failed returns the number of failed attempts.
func (r ProbeResult) Failed() int {
	n := 0
	for _, a := range r.Attempts {
		if !a.OK {
			n++
		}
	}
	return n
}

// FirstAnswerFrom returns the start of the first successful attempt at or
// after t0 answered by host (its banner), or false.
func (r ProbeResult) FirstAnswerFrom(t0 time.Time, host string) (time.Time, bool) {
	for _, a := range r.Attempts {
		if a.OK && a.Banner == host && !a.Start.Before(t0) {
			return a.Start, true
		}
	}
	return time.Time{}, false
}

// FailoverOutage returns the outage that ended with the first answer of
// host after t0: from the first connect that failed to the first answered
// by host. It is how long the client could not connect, whatever the time
// the command that caused the failover took to act. With no failed connect
// before host answered it returns a zero outage; false if host never
// answered.
func (r ProbeResult) FailoverOutage(t0 time.Time, host string) (Outage, bool) {
	back, ok := r.FirstAnswerFrom(t0, host)
	if !ok {
		return Outage{}, false
	}
	for _, o := range r.Outages {
		if o.Recovered && o.To.Equal(back) {
			return o, true
		}
	}
	return Outage{From: back, To: back, Recovered: true}, true
}

// String is a one-line summary for test logs.
func (r ProbeResult) String() string {
	var owners []string
	for _, o := range r.Owners {
		owners = append(owners, o.Banner)
	}
	return fmt.Sprintf("%d attempts, %d failed, %d outages, longest %v (%d failed attempts), max connect latency %v, max gap between attempts %v, owners %s",
		len(r.Attempts), r.Failed(), len(r.Outages), r.LongestOutage.Duration().Round(time.Millisecond),
		r.LongestOutage.Failed, r.MaxLatency.Round(time.Microsecond), r.MaxStartGap.Round(time.Millisecond), strings.Join(owners, "->"))
}

// Probe connects to a target from a host namespace at a fixed interval and
// records each attempt. Attempts overlap: a new one starts every Interval
// whatever the earlier ones do, so an attempt hanging on a SYN to a dead owner
// does not delay the next. Start it with Host.StartProbe; Stop ends it. The
// probe owns its goroutines; Stop waits for all of them.
type Probe struct {
	cfg    ProbeConfig
	target netip.AddrPort
	host   *Host

	stop     chan struct{}
	stopped  chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	attempts []Attempt
	stopOnce sync.Once
	result   ProbeResult
}

// StartProbe starts a probe from the host to target. The socket of every
// attempt is made on one thread locked in the host's namespace; the connects
// then complete through Go's poller. The lab stops the probe on Close if the
// test did not.
func (h *Host) StartProbe(target netip.AddrPort, cfg ProbeConfig) (*Probe, error) {
	if !target.Addr().Is4() {
		return nil, fmt.Errorf("starting probe: target %s is not IPv4", target)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultProbeInterval
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultProbeTimeout
	}
	p := &Probe{cfg: cfg, target: target, host: h, stop: make(chan struct{}), stopped: make(chan struct{})}
	ready := make(chan error, 1)
	go func() {
		defer close(p.stopped)
		err := h.Do(func() error {
			ready <- nil
			p.loop()
			return nil
		})
		if err != nil {
			select {
			case ready <- err:
			default:
			}
		}
	}()
	if err := <-ready; err != nil {
		return nil, fmt.Errorf("starting probe in %s: %w", h.Name, err)
	}
	h.lab.t.Cleanup(func() { p.Stop() })
	return p, nil
}

// loop runs on the thread locked in the namespace until Stop.
func (p *Probe) loop() {
	tick := time.NewTicker(p.cfg.Interval)
	defer tick.Stop()
	for {
		p.launch()
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
	}
}

// launch makes the attempt's socket on the current (namespace) thread and
// connects it on a new goroutine.
func (p *Probe) launch() {
	start := time.Now()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	p.mu.Lock()
	i := len(p.attempts)
	p.attempts = append(p.attempts, Attempt{Start: start})
	p.mu.Unlock()
	if err != nil {
		p.finish(i, Attempt{Start: start, Err: fmt.Sprintf("socket: %v", err)})
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.finish(i, p.connect(fd, start))
	}()
}

func (p *Probe) finish(i int, a Attempt) {
	p.mu.Lock()
	p.attempts[i] = a
	p.mu.Unlock()
}

// connect connects fd to the target with a deadline of Start+Timeout, the way
// Go's net package does: non-blocking connect, wait for writability, then
// SO_ERROR and getpeername.
func (p *Probe) connect(fd int, start time.Time) Attempt {
	a := Attempt{Start: start}
	f := os.NewFile(uintptr(fd), "probe")
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	deadline := start.Add(p.cfg.Timeout)
	sa := &unix.SockaddrInet4{Port: int(p.target.Port()), Addr: p.target.Addr().As4()}
	err := unix.Connect(fd, sa)
	if err != nil && !errors.Is(err, unix.EINPROGRESS) {
		a.Latency, a.Err = time.Since(start), fmt.Sprintf("connect: %v", err)
		return a
	}
	if err != nil {
		rc, err := f.SyscallConn()
		if err != nil {
			a.Err = fmt.Sprintf("syscallconn: %v", err)
			return a
		}
		if err := f.SetWriteDeadline(deadline); err != nil {
			a.Err = fmt.Sprintf("deadline: %v", err)
			return a
		}
		var cerr error
		werr := rc.Write(func(fd uintptr) bool {
			n, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
			if err != nil {
				cerr = err
				return true
			}
			switch e := unix.Errno(n); e {
			case unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
				return false
			case 0, unix.EISCONN:
				if _, err := unix.Getpeername(int(fd)); err == nil {
					return true
				}
				return false
			default:
				cerr = e
				return true
			}
		})
		a.Latency = time.Since(start)
		if werr != nil {
			a.Err = fmt.Sprintf("connect: %v", werr)
			return a
		}
		if cerr != nil {
			a.Err = fmt.Sprintf("connect: %v", cerr)
			return a
		}
	} else {
		a.Latency = time.Since(start)
	}
	a.OK = true
	if p.cfg.ReadBanner {
		c, err := net.FileConn(f)
		if err == nil {
			_ = c.SetReadDeadline(deadline.Add(p.cfg.Timeout))
			buf := make([]byte, 64)
			n, _ := c.Read(buf)
			a.Banner = strings.TrimSpace(string(buf[:n]))
			c.Close()
		}
	}
	return a
}

// Stop ends the probe, waits for attempts in flight and returns the result.
// Later calls return the same result.
func (p *Probe) Stop() ProbeResult {
	p.stopOnce.Do(func() {
		close(p.stop)
		<-p.stopped
		p.wg.Wait()
		p.result = summarise(p.attempts, time.Now())
	})
	return p.result
}

// Snapshot returns the result so far without stopping; attempts still in
// flight count as failed with the error "in flight".
func (p *Probe) Snapshot() ProbeResult {
	p.mu.Lock()
	as := append([]Attempt(nil), p.attempts...)
	p.mu.Unlock()
	for i := range as {
		if !as[i].OK && as[i].Err == "" {
			as[i].Err = "in flight"
		}
	}
	return summarise(as, time.Now())
}

func summarise(as []Attempt, end time.Time) ProbeResult {
	r := ProbeResult{Attempts: as}
	var cur *Outage
	for i, a := range as {
		if i > 0 {
			if g := a.Start.Sub(as[i-1].Start); g > r.MaxStartGap {
				r.MaxStartGap = g
			}
		}
		if a.OK {
			if a.Latency > r.MaxLatency {
				r.MaxLatency = a.Latency
			}
			if cur != nil {
				cur.To, cur.Recovered = a.Start, true
				r.Outages = append(r.Outages, *cur)
				cur = nil
			}
			if a.Banner != "" && (len(r.Owners) == 0 || r.Owners[len(r.Owners)-1].Banner != a.Banner) {
				r.Owners = append(r.Owners, OwnerChange{At: a.Start, Banner: a.Banner})
			}
			continue
		}
		if cur == nil {
			cur = &Outage{From: a.Start}
		}
		cur.Failed++
	}
	if cur != nil {
		cur.To = end
		r.Outages = append(r.Outages, *cur)
	}
	for _, o := range r.Outages {
		if o.Duration() > r.LongestOutage.Duration() {
			r.LongestOutage = o
		}
	}
	return r
}

// OutagesAfter returns the outages that end after t (those a failover
// started at t can have caused).
func (r ProbeResult) OutagesAfter(t time.Time) []Outage {
	var os []Outage
	for _, o := range r.Outages {
		if o.To.After(t) {
			os = append(os, o)
		}
	}
	return os
}

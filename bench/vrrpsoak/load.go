package vrrpsoak

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/rmqlb/rmqlb/bench/benchkit"
	"github.com/rmqlb/rmqlb/bench/benchstat"
	"github.com/rmqlb/rmqlb/bench/loadgen"
	"github.com/rmqlb/rmqlb/integration/netlab"
)

// loadChunk is how long one run of a load generator lasts; the loads run
// back to back in such chunks until the soak ends, so that a run that
// fails (the VIP moved) is followed by the next one.
const loadChunk = 30 * time.Second

// loadRun is the running load of one lab: bulk and connection loops on the
// client host through the VIP. It owns its goroutines; wait returns once
// they ended (after the context given to startLoad is done).
type loadRun struct {
	wg   sync.WaitGroup
	logf func(format string, args ...any)

	mu         sync.Mutex // guards the fields below
	bulkBits   float64    // sum of bits/s x seconds
	bulkSecs   float64
	conns      int64
	connSecs   float64
	loadErrors int
}

func (lb *lab) startLoad(ctx context.Context) *loadRun {
	ld := &loadRun{logf: func(format string, args ...any) { lb.cfg.Logf(lb.impl+": "+format, args...) }}
	client := lb.l.Host("client")
	if lb.cfg.has(LoadBulk) {
		srv := lb.l.Host("srv")
		ld.loop(ctx, func(ctx context.Context) error {
			// A server of its own for each chunk: iperf3's server serves
			// one test at a time and stays busy for minutes with a test
			// whose client vanished (a connection reset when the VIP
			// moved).
			server := nsCommand(ctx, srv, "iperf3", "-s", "-1", "-B", serverAddr.String(), "-p", strconv.Itoa(bulkPort))
			if err := server.Start(); err != nil {
				return fmt.Errorf("starting iperf3 server: %w", err)
			}
			defer func() {
				_ = syscall.Kill(-server.Process.Pid, syscall.SIGKILL)
				_ = server.Wait()
			}()
			if err := benchstat.Sleep(ctx, 200*time.Millisecond); err != nil {
				return err
			}
			out, err := nsOutput(ctx, client, "iperf3", "-c", vip.String(), "-p", strconv.Itoa(bulkPort),
				"-t", strconv.Itoa(int(loadChunk.Seconds())), "-P", "2", "-J")
			if err != nil {
				return err
			}
			r, err := benchkit.ParseIperf3(out)
			if err != nil {
				return err
			}
			ld.mu.Lock()
			ld.bulkBits += r.BitsPerSecond * r.Seconds
			ld.bulkSecs += r.Seconds
			ld.mu.Unlock()
			return nil
		})
	}
	if lb.cfg.has(LoadConn) {
		ld.loop(ctx, func(ctx context.Context) error {
			out, err := nsOutput(ctx, client, lb.cfg.LoadgenBin, "connrate",
				"-target", netip.AddrPortFrom(vip, echoPort).String(), "-workers", "8",
				"-duration", loadChunk.String())
			if err != nil {
				return err
			}
			var r loadgen.ConnRateResult
			if err := json.Unmarshal(out, &r); err != nil {
				return fmt.Errorf("decoding connrate output: %w", err)
			}
			ld.mu.Lock()
			ld.conns += r.Conns
			ld.connSecs += r.Seconds
			ld.mu.Unlock()
			return nil
		})
	}
	return ld
}

// loop runs one chunk after the other until ctx is done, counting the
// chunks that failed for another reason than the end of the soak.
func (ld *loadRun) loop(ctx context.Context, chunk func(context.Context) error) {
	ld.wg.Add(1)
	go func() {
		defer ld.wg.Done()
		for ctx.Err() == nil {
			cctx, cancel := context.WithTimeout(ctx, loadChunk+30*time.Second)
			err := chunk(cctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				ld.mu.Lock()
				ld.loadErrors++
				ld.mu.Unlock()
				ld.logf("load: %v", err)
				_ = benchstat.Sleep(ctx, time.Second)
			}
		}
	}()
}

func (ld *loadRun) wait() { ld.wg.Wait() }

// figures returns the mean bulk throughput (Gbit/s), the connection rate
// (per second) and the failed chunks.
func (ld *loadRun) figures() (gbps, connRate float64, errs int) {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	if ld.bulkSecs > 0 {
		gbps = ld.bulkBits / ld.bulkSecs / 1e9
	}
	if ld.connSecs > 0 {
		connRate = float64(ld.conns) / ld.connSecs
	}
	return gbps, connRate, ld.loadErrors
}

// nsCommand returns a command that runs argv in h's namespace in a process
// group of its own, which gets SIGTERM when ctx is done and SIGKILL 5 s
// later, and SIGKILL if the soak dies.
func nsCommand(ctx context.Context, h *netlab.Host, argv ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.NS}, argv...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// nsOutput runs argv in h's namespace (nsCommand) until it exits and
// returns its standard output.
func nsOutput(ctx context.Context, h *netlab.Host, argv ...string) ([]byte, error) {
	cmd := nsCommand(ctx, h, argv...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("running %v on %s: %w: %s", argv, h.Name, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out.Bytes(), nil
}

// stress is stress-ng running in the root namespace (it uses no network):
// the machine's other work.
type stress struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// startStress runs stress-ng at normal priority (nice 0): with LoadCPU one
// CPU worker per CPU, with LoadVM two memory workers of 256 MiB each that
// keep writing and re-faulting their pages.
func startStress(ctx context.Context, cfg Config) (*stress, error) {
	args := []string{"--timeout", "0"}
	if cfg.has(LoadCPU) {
		args = append(args, "--cpu", strconv.Itoa(runtime.NumCPU()))
	}
	if cfg.has(LoadVM) {
		args = append(args, "--vm", "2", "--vm-bytes", "256M")
	}
	cmd := exec.Command("stress-ng", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting stress-ng: %w", err)
	}
	s := &stress{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(s.done)
	}()
	cfg.Logf("stress-ng %v started (pid %d)", args, cmd.Process.Pid)
	return s, nil
}

// stop ends stress-ng and its workers.
func (s *stress) stop() {
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
}

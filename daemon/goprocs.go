package daemon

import "github.com/rmqlb/rmqlb/config"

// GoProcs returns the number of processors (GOMAXPROCS) the daemon's Go
// runtime should have, and the event loops per listener
// (Options.ProxyLoops), for cfg. procs is GOMAXPROCS now, fromEnv says the
// environment set it, ncpu is the number of CPUs the process may run on.
//
// With at least one listener the runtime has one processor more than each
// listener has event loops. A busy event loop keeps its processor while it
// waits for its next events (balancer's wait.go), and the loops of all
// listeners share a balancer.Holds with one slot fewer than the runtime's
// processors (Daemon.holds), so at least one processor is never held by a
// loop, however many listeners there are: the daemon's other goroutines
// (checks, the control socket, VRRP) find it free at once. That matters most
// to a VRRP loop with vrrp_rt_priority, which wakes in the kernel on time
// and then needs a processor to run Go code (see bench/README.md).
// Without GOMAXPROCS in the environment the loops are procs and the
// runtime gets procs+1; with it, the environment's GOMAXPROCS is kept
// (raised to 2 if it is 1) and the loops are one fewer, at most one per
// CPU. Without a listener: procs and 0 (GOMAXPROCS loops, of which there
// are none).
func GoProcs(cfg *config.Config, procs int, fromEnv bool, ncpu int) (goprocs, loops int) {
	if len(cfg.Listeners) == 0 {
		return procs, 0
	}
	loops = procs
	if fromEnv {
		loops = max(1, min(procs-1, ncpu))
	}
	return max(procs, loops+1), loops
}

package daemon

import "github.com/rmqlb/rmqlb/config"

// GoProcs returns the number of processors (GOMAXPROCS) the daemon's Go
// runtime should have, and the event loops per listener
// (Options.ProxyLoops), for cfg. procs is GOMAXPROCS now, fromEnv says the
// environment set it, ncpu is the number of CPUs the process may run on.
//
// With vrrp_rt_priority, at least one VRRP instance and at least one
// listener, the runtime has at least one processor more than the listeners
// have event loops. A real-time VRRP loop wakes in the kernel, but to run
// Go code it needs a processor of the runtime: when the proxy's loops hold
// every processor it waits until one is handed over, which takes threads of
// normal priority that a busy host may not run for a while (see
// bench/README.md); a processor nobody else uses is free for it at once.
// Without GOMAXPROCS in the environment the loops are procs and the
// runtime gets procs+1; with it, the environment's GOMAXPROCS is kept
// (raised to 2 if it is 1) and the loops are one fewer, at most one per
// CPU, so that GOMAXPROCS can give the VRRP loops more room. Otherwise
// procs and 0 (GOMAXPROCS loops).
func GoProcs(cfg *config.Config, procs int, fromEnv bool, ncpu int) (goprocs, loops int) {
	if cfg.VRRPRealTimePriority == 0 || len(cfg.VRRP) == 0 || len(cfg.Listeners) == 0 {
		return procs, 0
	}
	loops = procs
	if fromEnv {
		loops = max(1, min(procs-1, ncpu))
	}
	return max(procs, loops+1), loops
}

package daemon

import "github.com/rmqlb/rmqlb/config"

// GoProcs returns the number of processors (GOMAXPROCS) the daemon's Go
// runtime should have, and the event loops per listener
// (Options.ProxyLoops), for cfg on a runtime that has procs now: with
// vrrp_rt_priority and at least one VRRP instance, one processor more
// than the listeners' loops. A real-time VRRP loop wakes in the kernel,
// but to run Go code it needs a processor of the runtime; when the proxy's
// loops keep every processor busy it waits until one is handed over (see
// bench/README.md), while a processor the loops do not use is free for it
// at once. Otherwise procs and 0 (GOMAXPROCS loops).
// fromEnv says the environment set GOMAXPROCS: that is kept as it is.
func GoProcs(cfg *config.Config, procs int, fromEnv bool) (goprocs, loops int) {
	if fromEnv || cfg.VRRPRealTimePriority == 0 || len(cfg.VRRP) == 0 || len(cfg.Listeners) == 0 {
		return procs, 0
	}
	return procs + 1, procs
}

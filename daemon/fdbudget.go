package daemon

import (
	"fmt"
	"os"
	"slices"

	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/control"
	"golang.org/x/sys/unix"
)

// fdReserve is the open files the daemon keeps apart from its sessions
// when it weighs the listeners' maxconn against its open-files limit:
// listening and VRRP sockets, health checks, the control socket and its
// clients, the metrics endpoint, logs.
const fdReserve = 256

// fdBudgetWarning returns a warning when the listeners' maxconn, at two
// open files per session (the client's and the backend's), do not fit in
// limit open files beside fdReserve; "" when they fit, when limit is
// unknown (0) or when no listener has a maxconn. Past the limit new
// clients are refused (fd_limit) well below maxconn, and the health checks
// find no file to connect with.
func fdBudgetWarning(ls []config.Listener, limit uint64) string {
	if limit == 0 {
		return ""
	}
	var sessions uint64
	for _, l := range ls {
		sessions += uint64(max(l.MaxConn, 0))
	}
	if sessions == 0 || 2*sessions+fdReserve <= limit {
		return ""
	}
	fit := uint64(0)
	if limit > fdReserve {
		fit = (limit - fdReserve) / 2
	}
	return fmt.Sprintf("the listeners' maxconn allow %d sessions, 2 open files each, but the open-files limit is %d: "+
		"past about %d sessions new clients are refused (fd_limit) and health checks cannot be made; "+
		"raise LimitNOFILE (systemctl edit rmqlb) or lower maxconn", sessions, limit, fit)
}

// warnAbout logs the warnings of cfg, which the daemon starts with or
// reloads to, and keeps them for the status: the file's own (config.Load)
// and whether its listeners' maxconn fit in this process's open-files
// limit, which is the daemon's (check-config, run from a shell, has
// another).
func (d *Daemon) warnAbout(cfg *config.Config) {
	ws := configWarnings(cfg)
	for _, w := range ws {
		d.log.Warn(w)
	}
	d.mu.Lock()
	d.cfgWarnings, d.hostLacks = ws, cfg.Lacks
	d.mu.Unlock()
}

// configWarnings returns the warnings of cfg: the file's, and the open-files
// budget of its listeners.
func configWarnings(cfg *config.Config) []string {
	ws := slices.Clone(cfg.Warnings)
	if w := fdBudgetWarning(cfg.Listeners, openFilesLimit()); w != "" {
		ws = append(ws, w)
	}
	return ws
}

// openFilesLimit is the process's open-files limit now (its soft limit,
// which rmqlb run raises to the hard one); 0 when it cannot be read.
func openFilesLimit() uint64 {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return rl.Cur
}

// openFiles counts the process's open files (/proc/self/fd, the
// directory's own descriptor left out) against its limit, for the status;
// nil when either cannot be read.
func openFiles() *control.OpenFiles {
	limit := openFilesLimit()
	if limit == 0 {
		return nil
	}
	dir, err := os.Open("/proc/self/fd")
	if err != nil {
		return nil
	}
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return nil
	}
	return &control.OpenFiles{Open: max(len(names)-1, 0), Limit: limit}
}

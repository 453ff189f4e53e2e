package daemon

import (
	"errors"
	"fmt"
	"net"
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
	// The instances whose interface the host lacked when the file was
	// read: those whose warning is among ws.
	ifaces := slices.DeleteFunc(cfg.MissingInterfaces(func(string) (*net.Interface, error) { return nil, errNoLookup }),
		func(m config.MissingInterface) bool { return !slices.Contains(ws, m.Warning) })
	d.mu.Lock()
	d.cfgWarnings, d.ifaceWarnings = ws, ifaces
	d.mu.Unlock()
}

// errNoLookup is the error of a look-up that finds no interface.
var errNoLookup = errors.New("not looked up")

// currentWarnings returns the warnings of the file as last read, without
// those of interfaces that exist now: the instance on a bond or VLAN
// created after the file was read runs on it, and a warning that the host
// has no such interface would mislead. It looks up the interfaces the host
// lacked then (none, usually): call it without holding mu.
func (d *Daemon) currentWarnings() []string {
	d.mu.Lock()
	ws, ifaces, lookup := d.cfgWarnings, d.ifaceWarnings, d.lookupInterface
	d.mu.Unlock()
	return liveWarnings(ws, ifaces, lookup)
}

// liveWarnings returns ws without the warnings of ifaces whose interface
// lookup finds. ws is not changed.
func liveWarnings(ws []string, ifaces []config.MissingInterface, lookup func(string) (*net.Interface, error)) []string {
	var gone []string
	for _, m := range ifaces {
		if _, err := lookup(m.Interface); err == nil {
			gone = append(gone, m.Warning)
		}
	}
	if len(gone) == 0 {
		return ws
	}
	return slices.DeleteFunc(slices.Clone(ws), func(w string) bool { return slices.Contains(gone, w) })
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

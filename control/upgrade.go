package control

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Upgrade is the answer to "upgrade": the running daemon started Binary,
// which took over its sockets and VRRP state; the old process finishes its
// sessions and exits.
type Upgrade struct {
	// Binary is the program that took over, OldPID and NewPID the
	// processes, NewVersion the new one's version.
	Binary     string `json:"binary"`
	OldPID     int    `json:"old_pid"`
	NewPID     int    `json:"new_pid"`
	NewVersion string `json:"new_version"`
	// Took is from the start of the new process to the hand-over.
	Took time.Duration `json:"took_ns"`
	// Listeners are the listening sockets handed over, by listener name.
	Listeners []string `json:"listeners"`
	// VRRP is the state of each instance handed over.
	VRRP []UpgradeVRRP `json:"vrrp"`
	// Sessions is how many sessions the old process still carries: it
	// exits when they have ended, or after GracefulTimeout (the longest
	// of its listeners').
	Sessions        int           `json:"sessions"`
	GracefulTimeout time.Duration `json:"graceful_timeout_ns"`
	// CloseSpread is the longest close_spread of its listeners with
	// sessions: over that last part of the grace period it closes the
	// sessions left evenly; 0: all when it ends.
	CloseSpread time.Duration `json:"close_spread_ns,omitempty"`
	// ConfigChange is set when the configuration file, or a file it names,
	// was not the one the old process ran on when the upgrade began
	// (changed and not loaded): the new process read it as it was, and
	// runs that.
	ConfigChange *ConfigChange `json:"config_change,omitempty"`
}

// UpgradeVRRP is one VRRP instance's state at the hand-over, and what the
// new process does with it.
type UpgradeVRRP struct {
	Name     string `json:"name"`
	State    string `json:"state"`
	Released bool   `json:"released,omitempty"`
	// Fate is FateCarried, FateAfresh or FateRemoved; empty from a new
	// process that predates it (then a MASTER or BACKUP is carried on
	// if the new file has the same instance).
	Fate string `json:"fate,omitempty"`
}

// What the new process does with an instance of the old one (UpgradeVRRP.Fate).
const (
	// FateCarried: the new file has the same virtual router (name,
	// interface, VRID and version): a MASTER or BACKUP carries on.
	FateCarried = "carried"
	// FateAfresh: the new file changed the instance's interface, VRID or
	// version: the new process starts it afresh, as at a restart. The old
	// one stopped it as at a stop: a MASTER handed its VIPs over with a
	// priority-0 advert, as for FateRemoved.
	FateAfresh = "afresh"
	// FateRemoved: the new file has no instance of that name: it is
	// stopped.
	FateRemoved = "removed"
)

// Print writes the answer for a person.
func (u Upgrade) Print(w io.Writer) {
	fmt.Fprintf(w, "upgraded: pid %d (%s) took over from pid %d in %s\n", u.NewPID, u.Binary, u.OldPID, u.Took.Round(time.Millisecond))
	if u.NewVersion != "" {
		fmt.Fprintf(w, "version: %s\n", u.NewVersion)
	}
	if c := u.ConfigChange; c != nil && c.Error == "" {
		what := "the file"
		if c.File != "" {
			what = fmt.Sprintf("%s (%s)", c.File, c.Field)
		}
		fmt.Fprintf(w, "config: %s changed %s and was not loaded by pid %d: pid %d runs it as it is now\n",
			what, c.Modified.Format(time.RFC3339), u.OldPID, u.NewPID)
	}
	if len(u.Listeners) > 0 {
		fmt.Fprintf(w, "listeners handed over: %s\n", strings.Join(u.Listeners, ", "))
	}
	for _, v := range u.VRRP {
		handed := ""
		if v.State == "MASTER" {
			handed = ", and handed its VIPs over"
		}
		switch v.Fate {
		case FateAfresh:
			fmt.Fprintf(w, "vrrp %s: started afresh by pid %d (its interface, VRID or version changed in the file; it was %s%s)\n", v.Name, u.NewPID, v.State, handed)
			continue
		case FateRemoved:
			fmt.Fprintf(w, "vrrp %s: stopped, no longer in the file (it was %s%s)\n", v.Name, v.State, handed)
			continue
		}
		if v.State != "MASTER" && v.State != "BACKUP" {
			// Stopped as usual by the old process (FAULT, a released
			// MASTER, a BACKUP still holding the VIPs it yielded): the
			// new one starts it afresh.
			fmt.Fprintf(w, "vrrp %s: started afresh by pid %d (it was neither MASTER nor BACKUP)\n", v.Name, u.NewPID)
			continue
		}
		s := v.State
		if v.Released {
			s += ", released"
		}
		fmt.Fprintf(w, "vrrp %s: %s, carried on without a transition\n", v.Name, s)
	}
	switch {
	case u.Sessions > 0 && u.CloseSpread > 0:
		fmt.Fprintf(w, "pid %d finishes its %d sessions (at most %s, closing those left evenly over the last %s), then exits\n",
			u.OldPID, u.Sessions, u.GracefulTimeout, u.CloseSpread)
	case u.Sessions > 0:
		fmt.Fprintf(w, "pid %d finishes its %d sessions (at most %s), then exits\n", u.OldPID, u.Sessions, u.GracefulTimeout)
	default:
		fmt.Fprintf(w, "pid %d had no sessions left and exits\n", u.OldPID)
	}
}

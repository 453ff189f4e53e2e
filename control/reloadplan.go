package control

import "time"

// ReloadPlan is what a reload of the configuration file would do now, as
// the daemon worked it out without applying anything (rmqlb reload
// --dry-run). A reload made later starts from what runs then, and may
// still refuse a change the plan lists: a dry run only tries the new
// addresses of listeners (bound and closed at once, never listened on),
// and starts no hook and sends no advert.
type ReloadPlan struct {
	At time.Time `json:"at"`
	// File is the file planned when it is not the daemon's own: a
	// candidate not yet installed (rmqlb reload --dry-run --file). Empty
	// for the daemon's file.
	File string `json:"file,omitempty"`
	// Error is set when a reload would refuse the file as a whole (it
	// does not load); nothing else is then set.
	Error string `json:"error,omitempty"`
	// Blocked is set when a reload would be refused now whatever the
	// file says (the daemon hands over to a new process), and why.
	Blocked string `json:"blocked,omitempty"`
	// Changes lists what a reload would apply, in the order it applies
	// them.
	Changes []PlannedChange `json:"changes,omitempty"`
	// Refused lists the changes a reload would refuse that the daemon
	// knows of before it tries (a VIP another instance still holds),
	// each with why.
	Refused []string `json:"refused,omitempty"`
	// Pending lists the changes only a restart applies, each with its
	// line in the file.
	Pending []string `json:"pending,omitempty"`
	// Warnings are the configuration's warnings, as a reload would log
	// them.
	Warnings []string `json:"warnings,omitempty"`
}

// PlannedChange is one change a reload would apply.
type PlannedChange struct {
	// Change names it as the reload's outcome would list it when
	// applied (Reload.Applied).
	Change string `json:"change"`
	// Effects says what it does to what runs now: the sessions it
	// closes or keeps, the addresses that leave this host; empty when
	// it touches nothing that runs.
	Effects []string `json:"effects,omitempty"`
}

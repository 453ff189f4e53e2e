package control

import (
	"fmt"
	"time"

	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/netsetup"
	"github.com/rmqlb/rmqlb/notify"
	"github.com/rmqlb/rmqlb/vrrp"
)

// Status is the daemon's answer to the "status" command: a snapshot of
// every part, taken when asked. `rmqlb status --json` prints it as is;
// Format prints the same data as tables. Its JSON Schema is
// statusschema/status.schema.json.
type Status struct {
	Version string    `json:"version"`
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
	Now     time.Time `json:"now"`
	Config  string    `json:"config"`
	// Starting is set while the daemon starts: from the first answer of
	// its control socket (once the operator's states of the last run are
	// restored) until every part runs, when it tells the service manager
	// READY=1; nil once it has started. The new process of an upgrade in
	// place answers once it has taken over, and starts until its VRRP
	// instances run.
	Starting *Starting `json:"starting,omitempty"`
	// Stopping is set once the daemon has begun to stop (SIGTERM, a
	// start that failed): its VRRP instances first (a MASTER hands its
	// VIPs over), then its listeners, whose sessions finish within their
	// graceful_timeout; nil while it runs.
	Stopping *Stopping `json:"stopping,omitempty"`
	// ConfigChange is set when the configuration file is not the one the
	// daemon last read and runs on (at start, or by the last reload that
	// parsed it): changed and not reloaded since, refused as a whole by
	// the last reload, or unreadable; nil when it is, or when it was not
	// looked at (the service manager's status line).
	ConfigChange *ConfigChange `json:"config_change,omitempty"`
	// StateFile is set while the daemon cannot write its state file
	// (state_file: the last write failed), or when it could not read it
	// at start and has not written it since; nil when the last write
	// succeeded, or there is no state file.
	StateFile *StateFileError `json:"state_file_error,omitempty"`
	// ConfigWarnings are the warnings of the configuration file as the
	// daemon last read it (at start, or the last reload that parsed it):
	// what `rmqlb check-config` would have printed then, as this host and
	// the daemon's process saw it (a notify hook it will not run, a file
	// others could change, a listener's address this host lacks, maxconn
	// beyond the open-files limit). None makes the daemon degraded; each
	// is worth a look.
	ConfigWarnings []string `json:"config_warnings,omitempty"`
	// OpenFiles is the daemon's open files against its limit; nil when
	// they could not be read.
	OpenFiles *OpenFiles `json:"open_files,omitempty"`
	// Previous is the process this one took over from by an upgrade in
	// place, while it still runs and finishes its sessions; nil otherwise.
	Previous *PreviousProcess `json:"previous_process,omitempty"`
	// Reload is the outcome of the last SIGHUP; nil before any.
	Reload    *Reload                     `json:"reload,omitempty"`
	VRRP      []VRRP                      `json:"vrrp_instances"`
	Listeners []balancer.Snapshot         `json:"listeners"`
	Checks    []healthcheck.BackendStatus `json:"checks"`
	// ClientListFiles are the listeners' files of client addresses
	// (allowed_clients_file, denied_clients_file) as the daemon runs on
	// them, in the order of Listeners: which addresses of a list came
	// from a file.
	ClientListFiles []ClientListFile `json:"client_list_files,omitempty"`
	// Moves are the operator's moves of a backend's clients
	// (SessionMove) under way, and those that ended within the last 10
	// minutes, in the order they began.
	Moves []SessionMove `json:"moves,omitempty"`
	// Rebalances are the operator's rebalances of a listener's sessions
	// (Rebalance) under way, and those that ended within the last 10
	// minutes, in the order they began.
	Rebalances []Rebalance `json:"rebalances,omitempty"`
	// Verdict is Assess of the rest, as the daemon saw it when it
	// answered, on its monotonic clock: what `rmqlb status` reports and
	// exits with (see VerdictOf), and what scripts that read the JSON
	// should use.
	Verdict Verdict `json:"verdict"`
}

// Starting is the step of a daemon's start that it is in.
type Starting struct {
	// Step is what the daemon does or waits for ("starting the
	// listeners", "waiting for the first health checks before VRRP",
	// "starting the VRRP instances").
	Step string `json:"step"`
	// Until is when the step ends at the latest, when it is bounded (the
	// wait for the first health checks); zero when it is not.
	Until time.Time `json:"until,omitzero"`
}

// Stopping is the step of a daemon's stop that it is in.
type Stopping struct {
	// Since is when the stop began.
	Since time.Time `json:"since"`
	// Step is what the daemon does or waits for ("finishing the
	// listeners' sessions").
	Step string `json:"step"`
	// Until is when the step ends at the latest, when it is bounded (the
	// listeners' graceful_timeout); zero when it is not.
	Until time.Time `json:"until,omitzero"`
}

// ClientListFile is a listener's file of client addresses as the daemon
// runs on it: read at start, or by the last reload that applied the
// listener's lists.
type ClientListFile struct {
	// Listener is the listener's name.
	Listener string `json:"listener"`
	// Field is the key that names the file: allowed_clients_file or
	// denied_clients_file.
	Field string `json:"field"`
	// Path is the file's absolute path.
	Path string `json:"path"`
	// Prefixes is how many of the listener's list (AllowedClients or
	// DeniedClients of its snapshot), the last ones, the file gave.
	Prefixes int `json:"prefixes"`
}

// ConfigChange is how the configuration file, or a file it names,
// differs from the configuration the daemon runs on.
type ConfigChange struct {
	// File is the path of the file that differs when it is one the
	// configuration names (a listener's file of client addresses), and
	// Field the key that names it; both empty for the configuration file.
	File  string `json:"file,omitempty"`
	Field string `json:"field,omitempty"`
	// Modified is the file's modification time; zero when it could not
	// be read.
	Modified time.Time `json:"modified,omitzero"`
	// Error is why the file could not be read (removed, not readable by
	// the daemon's user).
	Error string `json:"error,omitempty"`
}

// StateFileError is a state file the daemon could not write, or could not
// read at start. One not written holds the operator's states (backends'
// drain, maint and weights, VRRP releases) as they were at Since, which a
// restart would bring back; one not read was not applied: the operator's
// states of the run before are lost.
type StateFileError struct {
	Path string `json:"path"`
	// Op is what failed: StateFileRead (at start) or StateFileWrite.
	Op string `json:"op"`
	// Error is why.
	Error string `json:"error"`
	// Since is the first failure after the last write that succeeded.
	Since time.Time `json:"since"`
}

// The operations of a StateFileError.
const (
	StateFileRead  = "read"
	StateFileWrite = "write"
)

// OpenFiles is how many files the daemon has open (each proxied session
// holds two) and its open-files limit (RLIMIT_NOFILE).
type OpenFiles struct {
	Open  int    `json:"open"`
	Limit uint64 `json:"limit"`
}

// nearlyOut reports whether the open files take at least nine tenths of
// the limit.
func (o *OpenFiles) nearlyOut() bool {
	return o != nil && o.Limit > 0 && uint64(o.Open)*10 >= o.Limit*9
}

// Reload is the outcome of a configuration reload.
type Reload struct {
	At time.Time `json:"at"`
	// Error is set when the new file was refused as a whole (it does not
	// parse); the daemon runs on with the configuration it had.
	Error string `json:"error,omitempty"`
	// Applied lists the changes made; Refused the changes that failed,
	// each with why (those parts run on as they were); Pending the
	// changes that need a restart, each with its line in the file (after
	// a reload refused as a whole, those the reload before left).
	Applied []string `json:"applied,omitempty"`
	Refused []string `json:"refused,omitempty"`
	Pending []string `json:"pending,omitempty"`
}

// OK reports whether the reload was applied in full (restarts pending
// aside).
func (r *Reload) OK() bool { return r.Error == "" && len(r.Refused) == 0 }

// VRRP is one VRRP instance: its state machine, its VIPs as they are on
// the interface now, and its track rules.
type VRRP struct {
	vrrp.Snapshot
	Addresses netsetup.VIPSetSnapshot   `json:"addresses"`
	Tracks    []healthcheck.TrackStatus `json:"tracks,omitempty"`
	// Notify is the state of the instance's notify hooks; nil when it has
	// none and never ran one.
	Notify *notify.Snapshot `json:"notify,omitempty"`
}

// ReleasedMaster reports whether the instance is released (rmqlb vrrp
// release) and MASTER, and since when it has been both: since the
// release, or since it took the VIPs as the last resort, whichever came
// later. A release no other router answers keeps it MASTER.
func (in VRRP) ReleasedMaster() (since time.Time, ok bool) {
	if !in.Released || in.State != vrrp.StateMaster {
		return time.Time{}, false
	}
	if in.Since.After(in.ReleasedSince) {
		return in.Since, true
	}
	return in.ReleasedSince, true
}

// WhyNoTakeover is what an operator checks when no other router takes
// over from the instance, released and MASTER (ReleasedMaster), in
// parentheses after "no other router has taken over".
func (in VRRP) WhyNoTakeover() string {
	return fmt.Sprintf("(does rmqlb or keepalived with VRID %d run on the other hosts, not released there too, and do this host's adverts reach them?)", in.VRID)
}

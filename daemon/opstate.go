package daemon

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/control"
)

// opState is the operator's changes to the backends (drain, maint, an
// operator's weight) and to the VRRP instances (a release) as the daemon
// keeps them across a restart in its state file (config.Config.StateFile):
// written after each change, read at a start that is not an upgrade (an
// upgrade hands them over itself).
type opState struct {
	Version  int         `json:"version"`
	Saved    time.Time   `json:"saved"`
	Backends []opBackend `json:"backends"`
	VRRP     []opRelease `json:"vrrp,omitempty"`

	// refused are the entries of the file read (decodeOpState) that this
	// daemon could not have written, each with where and why
	// ("backends[2]: amqp/a: admin \"soft\", want drain or maint"): left out of
	// Backends and VRRP, and so of a start and of the file it writes.
	refused []string
	// ignored are the fields of the file read that this daemon does not
	// know ("backends[0].note"), of a newer version's format: the rest of
	// their entry is read as usual.
	ignored []string
	// extra are the fields of the file's top level that this daemon does
	// not know, kept when it writes the file (carryFrom); each entry has
	// its own.
	extra []jsonField
}

// opRelease is a VRRP instance the operator released (`rmqlb vrrp
// release`), with its virtual router (name, interface, VRID, version),
// when the release began, when it ends by itself (zero: at `rmqlb vrrp
// ready`) and why. A start restores it when its instance is the same
// virtual router and it has not ended.
type opRelease struct {
	handedVRRPInfo
	Since  time.Time `json:"since"`
	Until  time.Time `json:"until,omitzero"`
	Reason string    `json:"reason,omitempty"`
	// extra are the fields of the entry read that this daemon does not
	// know, written back while the release is the same (carryFrom).
	extra []jsonField
}

// opBackend is one backend's operator changes. Admin is drain or maint
// (empty: ready); Weight is the operator's weight (nil: the file's), kept
// with Config, the fingerprint of the backend's settings when it was
// saved (backendFingerprint): a restart that finds them changed in the
// file drops the weight, as a reload that changes the backend does.
type opBackend struct {
	Listener string `json:"listener"`
	Backend  string `json:"backend"`
	Admin    string `json:"admin,omitempty"`
	Weight   *int   `json:"weight,omitempty"`
	Config   string `json:"config,omitempty"`
	// extra are the fields of the entry read that this daemon does not
	// know, written back while the entry is the same (carryFrom).
	extra []jsonField
}

// backendFingerprint returns the SHA-256, in hex, of the settings of
// backend id in cfg that a reload compares to keep an operator's weight
// (balancer.BackendConfig: address, weight, maxconn, backup,
// proxy_protocol, whether it is checked), written out one by one so that
// another process, or another version, computes the same; "" when cfg has
// no such backend.
func backendFingerprint(cfg *config.Config, id backend.ID) string {
	l, ok := cfg.Listener(id.Listener)
	if !ok {
		return ""
	}
	for _, b := range cfg.BalancerConfig(l).Backends {
		if b.Name == id.Name {
			sum := sha256.Sum256(fmt.Appendf(nil, "address=%s weight=%d maxconn=%d backup=%t proxy_protocol=%d checked=%t",
				b.Address, b.Weight, b.MaxConn, b.Backup, b.ProxyProtocol, b.Checked))
			return hex.EncodeToString(sum[:])
		}
	}
	return ""
}

const (
	// opStateVersion is the version of the state file's format.
	opStateVersion = 1
	// maxOpState bounds the state file read at start.
	maxOpState = 4 << 20
	// maxReleaseReason bounds a release's reason in the state file: the
	// daemon writes a sentence.
	maxReleaseReason = 1024
)

// operatorState is a backend's operator changes: its admin state (of
// its checks when it is checked, else its state in the listener: DRAIN or
// MAINT) and the operator's weight (nil: the file's).
type operatorState struct {
	ID     backend.ID
	Admin  backend.Admin
	Weight *int
}

// operatorStatesLocked returns the operator's changes of every backend
// of the running listeners, in file order: what an upgrade hands over and
// the state file keeps. The caller holds d.mu.
func (d *Daemon) operatorStatesLocked() []operatorState {
	admins := map[backend.ID]backend.Admin{} // of the checked backends
	for _, c := range d.sched.Snapshot().Backends {
		admins[c.Backend] = c.Admin
	}
	var out []operatorState
	for _, name := range listenerOrder(d.cfg) {
		u := d.listeners[name]
		if u == nil {
			continue
		}
		for _, b := range u.l.Snapshot().Backends {
			o := operatorState{ID: backend.ID{Listener: name, Name: b.Name}}
			if a, checked := admins[o.ID]; checked {
				o.Admin = a
			} else {
				o.Admin = uncheckedAdmin(b.State)
			}
			if b.WeightOverride {
				w := b.Weight
				o.Weight = &w
			}
			out = append(out, o)
		}
	}
	return out
}

// uncheckedAdmin is the operator's state of a backend without checks
// whose state in its listener is st: DRAIN and MAINT are the operator's,
// and it is UP otherwise.
func uncheckedAdmin(st backend.State) backend.Admin {
	switch st {
	case backend.Drain:
		return backend.AdminDrain
	case backend.Maint:
		return backend.AdminMaint
	}
	return backend.AdminNone
}

// saveOpState writes the operator's changes of every backend to the state
// file, when there is one: atomically (a new file renamed over the old),
// so that a crash leaves the old one or the new one. A failure is logged,
// shown by status, and returned, for the answer to the operator's command
// (stateFileNote: the change itself stands, until the daemon stops); nil
// when written or when there is no state file. Saves are serialized.
func (d *Daemon) saveOpState() error {
	d.opStateMu.Lock()
	defer d.opStateMu.Unlock()
	d.mu.Lock()
	path := d.cfg.StateFile
	if path == "" {
		d.stateFileErr = nil
		d.mu.Unlock()
		return nil
	}
	s := opState{Version: opStateVersion, Saved: d.clock.Now(), Backends: []opBackend{}}
	for _, o := range d.operatorStatesLocked() {
		e := opBackend{Listener: o.ID.Listener, Backend: o.ID.Name, Weight: o.Weight}
		if o.Admin != backend.AdminNone {
			e.Admin = o.Admin.String()
		}
		if o.Weight != nil {
			e.Config = backendFingerprint(d.cfg, o.ID)
		}
		if e.Admin != "" || e.Weight != nil {
			s.Backends = append(s.Backends, e)
		}
	}
	s.VRRP = d.releasesLocked()
	d.mu.Unlock()
	err := writeOpState(path, s)
	if err != nil {
		d.log.Warn("saving the operator's states: they last until the daemon stops", zap.String("state_file", path), zap.Error(err))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case err == nil:
		d.stateFileErr = nil
	case d.stateFileErr == nil || d.stateFileErr.Path != path || d.stateFileErr.Op != control.StateFileWrite:
		d.stateFileErr = &control.StateFileError{Path: path, Op: control.StateFileWrite, Error: err.Error(), Since: s.Saved}
	default:
		d.stateFileErr.Error = err.Error()
	}
	if err != nil {
		return fmt.Errorf("writing the state file %s: %w", path, err)
	}
	return nil
}

// stateFileNote is the note of an operator's command whose change could
// not be written to the state file (err from saveOpState); "" when it was.
func stateFileNote(err error) string {
	if err == nil {
		return ""
	}
	return "not kept across a restart: " + err.Error() + ": this change lasts until the daemon stops"
}

// stateFileFailing reports whether the state file could not be written
// (or read at start) since the last write that succeeded.
func (d *Daemon) stateFileFailing() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stateFileErr != nil
}

// releasesLocked returns the operator's releases of the VRRP instances of
// the running configuration, in file order: what each instance's snapshot
// shows, or the release carried on (vrrpUnit.resumeRelease) that it has
// not applied yet. The caller holds d.mu.
func (d *Daemon) releasesLocked() []opRelease {
	var out []opRelease
	for i := range d.cfg.VRRP {
		in := &d.cfg.VRRP[i]
		u := d.units[in.Name]
		if u == nil {
			continue
		}
		if r, ok := u.pendingRelease(); ok {
			out = append(out, r)
			continue
		}
		if s := u.inst.Snapshot(); s.Released {
			out = append(out, opRelease{
				handedVRRPInfo: routerOf(in),
				Since:          s.ReleasedSince.UTC(), Until: utcOrZero(s.ReleasedUntil), Reason: s.ReleaseReason,
			})
		}
	}
	return out
}

// utcOrZero is t in UTC, and the zero time for the zero time.
func utcOrZero(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

// writeOpState writes s to path whole, readable by the daemon's user only,
// with the fields of the file there that this daemon does not know, of
// the entries it writes unchanged (carryFrom).
func writeOpState(path string, s opState) error {
	if prev, exists, err := readOpState(path); err == nil && exists {
		s.Backends, s.VRRP = slices.Clone(s.Backends), slices.Clone(s.VRRP) // the caller's
		s.carryFrom(prev)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return replaceFile(path, append(b, '\n'), 0o600)
}

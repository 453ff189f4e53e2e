package daemon

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/config"
)

// opState is the operator's changes to the backends (drain, maint, an
// operator's weight) as the daemon keeps them across a restart in its
// state file (config.Config.StateFile): written after each change, read
// at a start that is not an upgrade (an upgrade hands them over itself).
type opState struct {
	Version  int         `json:"version"`
	Saved    time.Time   `json:"saved"`
	Backends []opBackend `json:"backends"`
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
)

// decodeOpState parses a state file and checks every entry: a file that
// does not parse, or holds an entry the daemon could not have written, is
// refused as a whole.
func decodeOpState(b []byte) (opState, error) {
	if len(b) > maxOpState {
		return opState{}, fmt.Errorf("reading state: %d bytes, more than %d", len(b), maxOpState)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var s opState
	if err := dec.Decode(&s); err != nil {
		return opState{}, fmt.Errorf("reading state: %w", err)
	}
	if dec.More() {
		return opState{}, errors.New("reading state: data after the JSON object")
	}
	if s.Version != opStateVersion {
		return opState{}, fmt.Errorf("reading state: version %d, want %d", s.Version, opStateVersion)
	}
	seen := map[backend.ID]bool{}
	for i, e := range s.Backends {
		id, err := backend.ParseID(e.Listener + "/" + e.Backend)
		if err != nil || id.Listener != e.Listener || id.Name != e.Backend {
			return opState{}, fmt.Errorf("reading state: backends[%d]: bad name %q/%q", i, e.Listener, e.Backend)
		}
		if seen[id] {
			return opState{}, fmt.Errorf("reading state: backends[%d]: %s twice", i, id)
		}
		seen[id] = true
		if e.Admin != "" && e.Admin != "drain" && e.Admin != "maint" {
			return opState{}, fmt.Errorf("reading state: backends[%d]: admin %q, want drain or maint", i, e.Admin)
		}
		if e.Weight != nil && (*e.Weight < 0 || *e.Weight > balancer.MaxWeight) {
			return opState{}, fmt.Errorf("reading state: backends[%d]: weight %d out of 0..%d", i, *e.Weight, balancer.MaxWeight)
		}
		if e.Weight != nil {
			if b, err := hex.DecodeString(e.Config); err != nil || len(b) != sha256.Size {
				return opState{}, fmt.Errorf("reading state: backends[%d]: config %q, want the SHA-256 of the backend's settings in hex", i, e.Config)
			}
		} else if e.Config != "" {
			return opState{}, fmt.Errorf("reading state: backends[%d]: config without a weight", i)
		}
		if e.Admin == "" && e.Weight == nil {
			return opState{}, fmt.Errorf("reading state: backends[%d]: %s has no change", i, id)
		}
	}
	return s, nil
}

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
				switch b.State { // unchecked: the operator's state, or UP
				case backend.Drain:
					o.Admin = backend.AdminDrain
				case backend.Maint:
					o.Admin = backend.AdminMaint
				}
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

// saveOpState writes the operator's changes of every backend to the state
// file, when there is one: atomically (a new file renamed over the old),
// so that a crash leaves the old one or the new one. A failure is logged:
// the change itself stands. Saves are serialized.
func (d *Daemon) saveOpState() {
	d.opStateMu.Lock()
	defer d.opStateMu.Unlock()
	d.mu.Lock()
	path := d.cfg.StateFile
	if path == "" {
		d.mu.Unlock()
		return
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
	d.mu.Unlock()
	if err := writeOpState(path, s); err != nil {
		d.log.Warn("saving the operator's states: they last until the daemon stops", zap.String("state_file", path), zap.Error(err))
	}
}

// writeOpState writes s to path by way of a temporary file beside it.
func writeOpState(path string, s opState) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a rename, there is none
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// restoreOpState applies the operator's changes kept in the state file at
// path, for the backends the running configuration still has: drain and
// maint, and an operator's weight when the backend's settings are what
// they were (its fingerprint). A file that is missing is no change; one
// that cannot be read or is refused is logged and left alone (the daemon
// starts without it).
func (d *Daemon) restoreOpState(path string) {
	if path == "" {
		return
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var s opState
	if err == nil {
		s, err = decodeOpState(b)
	}
	if err != nil {
		d.log.Warn("the operator's states of the last run are not restored", zap.String("state_file", path), zap.Error(err))
		return
	}
	for _, e := range s.Backends {
		id := backend.ID{Listener: e.Listener, Name: e.Backend}
		d.mu.Lock()
		_, ok := d.cfg.Backend(id)
		fingerprint := backendFingerprint(d.cfg, id)
		d.mu.Unlock()
		if !ok {
			d.log.Info("not restoring the operator's state of a backend no longer configured", zap.Stringer("backend", id))
			continue
		}
		if e.Admin != "" {
			if _, err := d.setAdmin(id.String(), e.Admin); err != nil {
				d.log.Warn("restoring the operator's state", zap.Stringer("backend", id), zap.Error(err))
			} else {
				d.log.Info("restored the operator's state of the last run", zap.Stringer("backend", id), zap.String("admin", e.Admin))
			}
		}
		if e.Weight != nil {
			if fingerprint != e.Config {
				d.log.Info("not restoring the operator's weight: the backend changed in the file", zap.Stringer("backend", id), zap.Int("weight", *e.Weight))
				continue
			}
			if _, err := d.setWeight(id.String(), *e.Weight); err != nil {
				d.log.Warn("restoring the operator's weight", zap.Stringer("backend", id), zap.Error(err))
			} else {
				d.log.Info("restored the operator's weight of the last run", zap.Stringer("backend", id), zap.Int("weight", *e.Weight))
			}
		}
	}
	// Written once, after all: what was left out is left out of the file
	// too, and a later start does not bring it back.
	d.saveOpState()
}

package daemon

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/control"
)

// restoreKind is what a restoreAction restores.
type restoreKind uint8

const (
	restoreAdmin   restoreKind = iota // a backend's drain or maint
	restoreWeight                     // a backend's operator weight
	restoreRelease                    // a VRRP instance's release
)

// restoreAction is one operator state of a state file as a start of a
// configuration makes it: applied, or left out (skip says why).
type restoreAction struct {
	kind    restoreKind
	backend backend.ID // of restoreAdmin and restoreWeight
	admin   string     // of restoreAdmin: drain or maint
	weight  int        // of restoreWeight
	release opRelease  // of restoreRelease
	// left is what is left of a release with an end (zero: until ready).
	left time.Duration
	skip string
}

// String names the state: "amqp/rmq2 maint", "amqp/rmq1 weight 5",
// "VRRP instance vip released since ... until ...".
func (a restoreAction) String() string {
	switch a.kind {
	case restoreAdmin:
		return a.backend.String() + " " + a.admin
	case restoreWeight:
		return fmt.Sprintf("%s weight %d", a.backend, a.weight)
	}
	until := "until rmqlb vrrp ready"
	if !a.release.Until.IsZero() {
		until = "until " + a.release.Until.Format(time.RFC3339)
	}
	return fmt.Sprintf("VRRP instance %s released since %s %s", a.release.Name, a.release.Since.Format(time.RFC3339), until)
}

// planRestore returns what a start of cfg at now makes of the state s, in
// the file's order, backends first: a backend's drain or maint when cfg
// still has the backend, its operator weight when the backend's settings
// are also what they were (its fingerprint), a release when cfg has the
// same virtual router (name, interface, VRID, version) and the release
// has not ended.
func planRestore(cfg *config.Config, s opState, now time.Time) []restoreAction {
	var out []restoreAction
	for _, e := range s.Backends {
		id := backend.ID{Listener: e.Listener, Name: e.Backend}
		_, configured := cfg.Backend(id)
		if e.Admin != "" {
			a := restoreAction{kind: restoreAdmin, backend: id, admin: e.Admin}
			if !configured {
				a.skip = "no such backend in the configuration"
			}
			out = append(out, a)
		}
		if e.Weight != nil {
			a := restoreAction{kind: restoreWeight, backend: id, weight: *e.Weight}
			switch {
			case !configured:
				a.skip = "no such backend in the configuration"
			case backendFingerprint(cfg, id) != e.Config:
				a.skip = "the backend's settings changed in the configuration since (as a reload that changes them, a start drops the operator's weight)"
			}
			out = append(out, a)
		}
	}
	for _, r := range s.VRRP {
		a := restoreAction{kind: restoreRelease, release: r}
		in, ok := cfg.VRRPInstance(r.Name)
		switch {
		case !ok:
			a.skip = "no such VRRP instance in the configuration"
		case !r.sameRouter(in):
			a.skip = fmt.Sprintf("the instance is another virtual router now (was %s VRID %d version %d)", r.Interface, r.VRID, r.Version)
		case !r.Until.IsZero() && !r.Until.After(now):
			a.skip = "it ended while the daemon was stopped"
		case !r.Until.IsZero():
			a.left = r.Until.Sub(now)
		}
		out = append(out, a)
	}
	return out
}

// readOpState reads and decodes the state file at path; exists is false
// (and err nil) when there is none. It reads no more of the file than
// decodeOpState accepts and one byte, whatever is there.
func readOpState(path string) (s opState, exists bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return opState{}, false, nil
	}
	if err != nil {
		return opState{}, true, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxOpState+1))
	if err == nil {
		s, err = decodeOpState(b)
	}
	return s, true, err
}

// StatePreview is what a start of a configuration would make of its
// state file: for `rmqlb check-config`.
type StatePreview struct {
	// Path is the state file; Exists is false when there is none (a
	// start begins without the operator's states, and writes it).
	Path   string
	Exists bool
	// Saved is when the daemon last wrote it.
	Saved time.Time
	// Restored are the operator's states a start applies; LeftOut those
	// it leaves out, each with why ("amqp/rmq3 maint: no such backend in
	// the configuration"), the entries this version could not have
	// written among them ("backends[2]: amqp/a: admin \"soft\", want drain
	// or maint").
	Restored, LeftOut []string
	// Ignored are the fields of the file this version does not know
	// ("backends[0].note"): a newer version's, which a start ignores and
	// keeps in the file while their entry stays as it is.
	Ignored []string
}

// PreviewStateFile reads the state file of cfg (none: a zero preview with
// an empty Path) and returns what a start of cfg at now would restore
// from it and leave out, as the daemon does at start; an error when it
// cannot be read or is not one (a start would log it and go on without).
func PreviewStateFile(cfg *config.Config, now time.Time) (StatePreview, error) {
	p := StatePreview{Path: cfg.StateFile}
	if p.Path == "" {
		return p, nil
	}
	s, exists, err := readOpState(p.Path)
	if err != nil || !exists {
		return p, err
	}
	p.Exists, p.Saved, p.Ignored = true, s.Saved, s.ignored
	for _, a := range planRestore(cfg, s, now) {
		if a.skip != "" {
			p.LeftOut = append(p.LeftOut, a.String()+": "+a.skip)
		} else {
			p.Restored = append(p.Restored, a.String())
		}
	}
	for _, r := range s.refused {
		p.LeftOut = append(p.LeftOut, r+": not one this version could have written")
	}
	return p, nil
}

// restoredNote ends the reason of a backend state or a release restored
// from the state file, for status and logs.
const restoredNote = "restored from the state file at start"

// restoreOpState applies the operator's states kept in the state file at
// path that the running configuration can take (planRestore), and logs
// those it leaves out. A file that is missing is no change (and is
// written at once); one that cannot be read or is refused is logged,
// shown by status (control.StateFileError, read) until the file is
// written, and left alone until then (the daemon starts without it).
func (d *Daemon) restoreOpState(path string) {
	if path == "" {
		return
	}
	s, exists, err := readOpState(path)
	if err != nil {
		d.log.Warn("the operator's states of the last run are not restored", zap.String("state_file", path), zap.Error(err))
		d.mu.Lock()
		d.stateFileErr = &control.StateFileError{Path: path, Op: control.StateFileRead, Error: err.Error(), Since: d.clock.Now()}
		d.mu.Unlock()
		return
	}
	if exists {
		d.mu.Lock()
		plan := planRestore(d.cfg, s, d.clock.Now())
		d.mu.Unlock()
		for _, a := range plan {
			d.restore(a)
		}
		for _, r := range firstOf(s.refused, maxLoggedRefusals) {
			d.log.Warn("not restoring an entry of the state file: not one this version could have written", zap.String("state_file", path), zap.String("entry", r))
		}
		if len(s.ignored) > 0 {
			d.log.Warn("ignoring fields of the state file this version does not know (written by a newer version?); the rest of their entries is restored, and they stay in the file while their entries do not change",
				zap.String("state_file", path), zap.Strings("fields", firstOf(s.ignored, maxLoggedRefusals)))
		}
	}
	// Written once, after all: what was left out is left out of the file
	// too, and a later start does not bring it back. Written when there
	// was none, too: a directory where it cannot be is found at start,
	// not at the operator's first command.
	d.saveOpState()
}

// maxLoggedRefusals bounds the refused entries, and the fields ignored,
// that a start logs of a state file: the rest are counted.
const maxLoggedRefusals = 20

// firstOf returns the first n of list, the last of them replaced by how
// many more there are when list is longer than n.
func firstOf(list []string, n int) []string {
	if len(list) <= n {
		return list
	}
	return append(slices.Clone(list[:n-1]), fmt.Sprintf("and %d more", len(list)-n+1))
}

// restore applies one operator state of the state file, or logs why it is
// left out.
func (d *Daemon) restore(a restoreAction) {
	if a.skip != "" {
		d.log.Info("not restoring an operator's state of the last run", zap.Stringer("state", a), zap.String("why", a.skip))
		return
	}
	var err error
	switch a.kind {
	case restoreAdmin:
		_, err = d.setAdmin(a.backend.String(), a.admin, restoredNote)
	case restoreWeight:
		_, err = d.setWeight(a.backend.String(), a.weight)
	case restoreRelease:
		err = d.restoreRelease(a.release, a.left)
	}
	if err != nil {
		d.log.Warn("restoring an operator's state of the last run", zap.Stringer("state", a), zap.Error(err))
		return
	}
	d.log.Info("restored an operator's state of the last run", zap.Stringer("state", a))
}

// restoreRelease has the VRRP instance that the operator released carry
// its release on, for left (zero: until ready), before it starts.
func (d *Daemon) restoreRelease(r opRelease, left time.Duration) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	u := d.units[r.Name]
	if u == nil {
		return fmt.Errorf("VRRP instance %s does not run", r.Name)
	}
	// Noted once, however many restarts it has been through.
	r.Reason = strings.TrimSuffix(r.Reason, ", "+restoredNote) + ", " + restoredNote
	u.resumeRelease(r, left)
	return nil
}

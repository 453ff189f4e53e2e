package daemon

import (
	"crypto/sha256"
	"os"

	"github.com/rmqlb/rmqlb/control"
)

// configChange compares the configuration file at path with running, the
// digest of the bytes the daemon last read from it and parsed (at start,
// or by a reload): nil when the file holds those bytes, else how it
// differs (its modification time, or why it cannot be read). It reads the
// whole file: for `rmqlb status` and a scrape, not for a loop.
func configChange(path string, running [sha256.Size]byte) *control.ConfigChange {
	data, err := os.ReadFile(path)
	if err != nil {
		return &control.ConfigChange{Error: err.Error()}
	}
	if sha256.Sum256(data) == running {
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return &control.ConfigChange{Error: err.Error()}
	}
	return &control.ConfigChange{Modified: fi.ModTime()}
}

// runningDigest returns the digest of the configuration the daemon runs
// on (config.Config.Digest).
func (d *Daemon) runningDigest() [sha256.Size]byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg.Digest
}

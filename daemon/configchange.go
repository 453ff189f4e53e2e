package daemon

import (
	"crypto/sha256"
	"os"

	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/control"
)

// configChange compares the configuration file at path with running, the
// digest of the bytes the daemon last read from it and parsed (at start,
// or by a reload), and then each of files, the files it names that were
// read with it (the listeners' files of client addresses), with theirs:
// nil when each holds those bytes, else how the first that differs does
// (its modification time, or why it cannot be read). It reads the whole
// files: for `rmqlb status` and a scrape, not for a loop.
func configChange(path string, running [sha256.Size]byte, files []config.FileRead) *control.ConfigChange {
	if c := fileChange(path, running); c != nil {
		return c
	}
	for _, f := range files {
		if c := fileChange(f.Path, f.Digest); c != nil {
			c.File, c.Field = f.Path, f.Field
			return c
		}
	}
	return nil
}

// fileChange compares the file at path with running, the digest of the
// bytes read from it.
func fileChange(path string, running [sha256.Size]byte) *control.ConfigChange {
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

// configChange compares the daemon's configuration file, and the files
// it named (config.Config.Files), with what it runs on (configChange).
// It takes d.mu for a moment, not while it reads the files.
func (d *Daemon) configChange() *control.ConfigChange {
	d.mu.Lock()
	digest, files := d.cfg.Digest, d.cfg.Files
	d.mu.Unlock()
	return configChange(d.opt.Path, digest, files)
}

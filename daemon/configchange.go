package daemon

import (
	"crypto/sha256"
	"io"
	"io/fs"
	"sync"
	"syscall"
	"time"

	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/internal/regfile"
)

// settled is how long ago a file must have last changed (its inode
// change time) for fileWatch to take its identity for its contents: a
// write within the file system's timestamp granularity after a
// comparison could leave size and times as they were.
const settled = 2 * time.Second

// fileWatch compares the files the daemon runs on (its configuration file
// and the files that names) with what it read of them, for `rmqlb status`,
// a metrics scrape and an upgrade. It remembers, of each file found to
// hold the bytes read, the identity it had (device, inode, size,
// modification and change times), so that comparing an unchanged file
// again costs a stat, not a read and a hash (a tenth of a second for a
// list file of 64 MiB, at every scrape). It never blocks on a file put in
// one's place (a FIFO, a device: regfile), reads no more than the size
// read before, and hashes what it reads as it reads it. The zero value is
// ready; its methods may be called from several goroutines.
type fileWatch struct {
	// now is the wall clock that a file's change time is compared with;
	// nil: time.Now. copy reads a file compared byte by byte into its
	// hash; nil: io.Copy. Set before first use.
	now  func() time.Time
	copy func(io.Writer, io.Reader) (int64, error)

	mu sync.Mutex
	// same maps a path to its identity when last found unchanged, and
	// the digest it was compared with. Guarded by mu.
	same map[string]unchangedFile
}

// unchangedFile is a file's identity when it last held the bytes whose
// digest is digest.
type unchangedFile struct {
	id     fileID
	digest [sha256.Size]byte
}

// fileID is what a rewrite of a file changes: a file renamed into its
// place has another inode, a file written in place a new size or change
// time.
type fileID struct {
	dev, ino     uint64
	size         int64
	mtime, ctime syscall.Timespec
}

// identify returns fi's identity, false when fi does not carry one.
func identify(fi fs.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{dev: st.Dev, ino: st.Ino, size: st.Size, mtime: st.Mtim, ctime: st.Ctim}, true
}

// configChange compares the configuration file at path with running, the
// file as the daemon last read and parsed it (at start, or by a reload),
// and then each of files, the files it names that were read with it (the
// listeners' files of client addresses), with theirs: nil when each holds
// those bytes, else how the first that differs does (its modification
// time, or why it cannot be read). Entries of files no longer among them
// are forgotten.
func (w *fileWatch) configChange(path string, running config.FileRead, files []config.FileRead) *control.ConfigChange {
	defer w.forget(path, files)
	if c := w.fileChange(path, running); c != nil {
		return c
	}
	for _, f := range files {
		if c := w.fileChange(f.Path, f); c != nil {
			c.File, c.Field = f.Path, f.Field
			return c
		}
	}
	return nil
}

// fileChange compares the file at path with running: nil when it holds
// the bytes of running's size and digest.
func (w *fileWatch) fileChange(path string, running config.FileRead) *control.ConfigChange {
	f, fi, err := regfile.Open(path)
	if err != nil {
		return &control.ConfigChange{Error: err.Error()}
	}
	defer f.Close()
	changed := &control.ConfigChange{Modified: fi.ModTime()}
	if fi.Size() != running.Size {
		return changed
	}
	id, ok := identify(fi)
	if ok && w.known(path, id, running.Digest) {
		return nil
	}
	copyFile := w.copy
	if copyFile == nil {
		copyFile = io.Copy
	}
	// Hashed as it is read, in the copy's buffer; one byte more than
	// the size shows a file that grew meanwhile.
	h := sha256.New()
	n, err := copyFile(h, io.LimitReader(f, running.Size+1))
	if err != nil {
		return &control.ConfigChange{Error: err.Error()}
	}
	if n != running.Size || [sha256.Size]byte(h.Sum(nil)) != running.Digest {
		return changed
	}
	if ok && w.wallNow().Sub(time.Unix(id.ctime.Unix())) >= settled {
		w.remember(path, unchangedFile{id: id, digest: running.Digest})
	}
	return nil
}

// known reports whether the file at path had identity id when last found
// to hold the bytes of digest.
func (w *fileWatch) known(path string, id fileID, digest [sha256.Size]byte) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	s, ok := w.same[path]
	return ok && s.id == id && s.digest == digest
}

// remember records s as the file at path's identity when unchanged.
func (w *fileWatch) remember(path string, s unchangedFile) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.same == nil {
		w.same = make(map[string]unchangedFile)
	}
	w.same[path] = s
}

// forget drops the entries of paths other than path and those of files.
func (w *fileWatch) forget(path string, files []config.FileRead) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for p := range w.same {
		if p == path {
			continue
		}
		kept := false
		for _, f := range files {
			kept = kept || f.Path == p
		}
		if !kept {
			delete(w.same, p)
		}
	}
}

func (w *fileWatch) wallNow() time.Time {
	if w.now != nil {
		return w.now()
	}
	return time.Now()
}

// configChange compares the daemon's configuration file, and the files
// it named (config.Config.Files), with what it runs on (fileWatch). It
// takes d.mu for a moment, not while it reads the files.
func (d *Daemon) configChange() *control.ConfigChange {
	d.mu.Lock()
	running := config.FileRead{Path: d.opt.Path, Digest: d.cfg.Digest, Size: d.cfg.Size}
	files := d.cfg.Files
	d.mu.Unlock()
	return d.files.configChange(d.opt.Path, running, files)
}

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

// settled is how long, on the daemon's clock, a file must have kept its
// identity while holding the bytes read for fileWatch to take that
// identity for its contents: a write within the file system's timestamp
// granularity after a comparison could leave size and times as they
// were. The daemon's clock, not the file's times, measures it: those of
// a file server whose clock runs behind would make a file just written
// look settled.
const settled = 2 * time.Second

// fileWatch compares the files the daemon runs on (its configuration file
// and the files that names) with what it read of them, for `rmqlb status`,
// a metrics scrape and an upgrade. It remembers, of each file found to
// hold the bytes read, the identity it had (device, inode, size,
// modification and change times); once a file is found holding them
// again with that identity settled or more later, comparing it costs a
// stat while the identity stays, not a read and a hash (a tenth of a
// second for a list file of 64 MiB, at every scrape). It never blocks on
// a file put in one's place (a FIFO, a device: regfile), reads no more
// than the size read before, and hashes what it reads as it reads it. The
// zero value is ready; its methods may be called from several goroutines.
type fileWatch struct {
	// now is the clock that measures how long a file kept its identity;
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
// digest is digest: found so first at since, and trusted once found so
// again settled or more later.
type unchangedFile struct {
	id      fileID
	digest  [sha256.Size]byte
	since   time.Time
	trusted bool
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
		w.drop(path)
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
		w.drop(path)
		return changed
	}
	if ok {
		w.found(path, id, running.Digest)
	}
	return nil
}

// known reports whether the file at path has the identity id it was
// trusted to have while holding the bytes of digest.
func (w *fileWatch) known(path string, id fileID, digest [sha256.Size]byte) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	s, ok := w.same[path]
	return ok && s.trusted && s.id == id && s.digest == digest
}

// found records that the file at path, of identity id, was just read
// holding the bytes of digest: the identity is trusted when it was found
// so settled or more before, else it is the one to find again.
func (w *fileWatch) found(path string, id fileID, digest [sha256.Size]byte) {
	now := w.clockNow()
	w.mu.Lock()
	defer w.mu.Unlock()
	if s, ok := w.same[path]; ok && s.id == id && s.digest == digest {
		if now.Sub(s.since) >= settled {
			s.trusted = true
			w.same[path] = s
		}
		return
	}
	if w.same == nil {
		w.same = make(map[string]unchangedFile)
	}
	w.same[path] = unchangedFile{id: id, digest: digest, since: now}
}

// drop forgets the identity of the file at path, found changed.
func (w *fileWatch) drop(path string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.same, path)
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

func (w *fileWatch) clockNow() time.Time {
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
	running := d.cfg.Source
	running.Path = d.opt.Path
	files := d.cfg.Files
	d.mu.Unlock()
	return d.files.configChange(d.opt.Path, running, files)
}

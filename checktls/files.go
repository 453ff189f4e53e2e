package checktls

import (
	"crypto/tls"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/rmqlb/rmqlb/healthcheck"
)

// fileStamp tells whether a file changed: its inode, size and modification time.
type fileStamp struct {
	ino, size int64
	mtime     time.Time
}

func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{ino: -1}
	}
	st := fileStamp{size: fi.Size(), mtime: fi.ModTime()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = int64(sys.Ino)
	}
	return st
}

// Files is the client configuration of one check, with the stamps of the files it was read
// from: Get reads them again once one changed on disk, so a renewed certificate is used
// without a reload. It is safe for concurrent use.
type Files struct {
	t    *Config
	addr netip.AddrPort

	mu     sync.Mutex
	cfg    *tls.Config // the last configuration read whole
	stamps [3]fileStamp
	readAt time.Time
}

// NewFiles reads the files of t for a check of addr (see Config.Load) and fails when one
// cannot be read or parsed. It keeps a copy of t.
func NewFiles(t Config, addr netip.AddrPort) (*Files, error) {
	f := &Files{t: &t, addr: addr}
	f.stamps = f.stampNow()
	cfg, err := t.Load(addr)
	if err != nil {
		return nil, err
	}
	f.cfg, f.readAt = cfg, time.Now()
	return f, nil
}

func (f *Files) stampNow() [3]fileStamp {
	var s [3]fileStamp
	for i, p := range []string{f.t.CAFile, f.t.CertFile, f.t.KeyFile} {
		if p != "" {
			s[i] = stampOf(p)
		}
	}
	return s
}

// Get returns the configuration to use: read again when a file changed since the last read.
// When that read fails it returns the last good one and a warning that says why.
func (f *Files) Get() (*tls.Config, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.stampNow()
	if now == f.stamps {
		return f.cfg, ""
	}
	cfg, err := f.t.Load(f.addr)
	if err != nil {
		// Stamps stay as they were: the next check tries again.
		return f.cfg, fmt.Sprintf("TLS files changed but cannot be read (%v): using those read at %s",
			err, f.readAt.UTC().Format(time.RFC3339))
	}
	f.cfg, f.stamps, f.readAt = cfg, now, time.Now()
	return cfg, ""
}

// Certificates returns the certificates of a session made with cfg, a configuration Get
// returned (see the function Certificates).
func (f *Files) Certificates(cs tls.ConnectionState, cfg *tls.Config) []healthcheck.Certificate {
	return Certificates(cs, cfg, f.t.Verify)
}

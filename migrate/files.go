package migrate

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"
)

// Files is where Import reads its inputs and the files they include. Paths
// are the operating system's, as given on the command line or as an
// include resolved them.
type Files interface {
	// ReadFile returns the contents of the file.
	ReadFile(name string) ([]byte, error)
	// Glob returns the names of the files matching pattern (the syntax
	// of path/filepath.Match), sorted.
	Glob(pattern string) ([]string, error)
}

// statFiles is a Files that can also tell what a name is (os.Stat's
// answer: links followed). keepalived reads, of the files an include
// matches, only the regular files that are not executable; with a Files
// that is not a statFiles every match is read.
type statFiles interface {
	Stat(name string) (fs.FileInfo, error)
}

// hostFiles is a Files that can also look a host name up, as HAProxy
// does at its start for a server given by name (its default init-addr,
// libc): the addresses the name has. With a Files that is not a
// hostFiles, a server given by name is not translated.
type hostFiles interface {
	LookupHost(name string) ([]netip.Addr, error)
}

// LookupTimeout bounds OSFiles.LookupHost.
const LookupTimeout = 5 * time.Second

// MaxFileSize is the largest input file read: configuration files are
// small, and a larger file is most likely the wrong one.
const MaxFileSize = 16 << 20

// OSFiles reads the real file system. The zero value is ready to use.
type OSFiles struct{}

// ReadFile reads name, refusing a file larger than MaxFileSize.
func (OSFiles) ReadFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s has more than %d bytes: not a configuration file", name, MaxFileSize)
	}
	return data, nil
}

// Glob returns the files matching pattern, sorted.
func (OSFiles) Glob(pattern string) ([]string, error) { return filepath.Glob(pattern) }

// Stat returns what name is, links followed.
func (OSFiles) Stat(name string) (fs.FileInfo, error) { return os.Stat(name) }

// LookupHost returns the addresses of host name by the system's resolver
// (/etc/hosts, then DNS, as nsswitch.conf says), within LookupTimeout.
func (OSFiles) LookupHost(name string) ([]netip.Addr, error) {
	ctx, cancel := context.WithTimeout(context.Background(), LookupTimeout)
	defer cancel()
	return net.DefaultResolver.LookupNetIP(ctx, "ip", name)
}

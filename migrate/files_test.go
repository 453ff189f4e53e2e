package migrate

import (
	"io/fs"
	"net"
	"net/netip"
	"path/filepath"
	"sort"
	"strings"
)

// memFiles is a Files of files in memory, by cleaned path.
type memFiles map[string]string

func (m memFiles) ReadFile(name string) ([]byte, error) {
	v, ok := m[filepath.Clean(name)]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return []byte(v), nil
}

func (m memFiles) Glob(pattern string) ([]string, error) {
	if _, err := filepath.Match(pattern, ""); err != nil {
		return nil, err
	}
	var out []string
	for k := range m {
		if ok, _ := filepath.Match(filepath.Clean(pattern), k); ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out, nil
}

// hermeticFiles reads the real file system, as OSFiles does, and looks
// up from hosts only: the golden files do not depend on this machine's
// DNS.
type hermeticFiles struct {
	OSFiles
	hosts map[string][]netip.Addr
}

func (h hermeticFiles) LookupHost(name string) ([]netip.Addr, error) {
	if a, ok := h.hosts[name]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// LookupHost answers from the files "hosts:NAME", one address per line,
// so that a table case can give a server's name its addresses.
func (m memFiles) LookupHost(name string) ([]netip.Addr, error) {
	v, ok := m["hosts:"+name]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	var out []netip.Addr
	for _, l := range strings.Fields(v) {
		a, err := netip.ParseAddr(l)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

package migrate

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rmqlb/rmqlb/config"
)

// An HAProxy ACL takes its patterns from its words and from list files
// (-f FILE, one pattern per line, '#' comments), which a restriction of
// the clients' sources often keeps apart (acl allowed src -f
// /etc/haproxy/allowed.lst). rmqlb reads such a file too
// (allowed_clients_file, denied_clients_file), with rules of its own: the
// import names the file where rmqlb reads the same addresses from it as
// HAProxy (clientFileFor), and copies its addresses into allowed_clients,
// or denied_clients, where it does not.

// maxSrcList bounds the patterns read from one list file.
const maxSrcList = 100000

// srcArgs reads the words after an ACL's src fetch: its flags (-f FILE,
// -m ip, -n, --) and its patterns; false for a flag the import does not
// know, as its patterns would not be read as HAProxy reads them.
func srcArgs(words []string) (srcs, files []string, ok bool) {
	flags := true
	for i := 0; i < len(words); i++ {
		w := words[i]
		switch {
		case !flags || !strings.HasPrefix(w, "-"):
			srcs = append(srcs, w)
		case w == "--":
			flags = false
		case w == "-n":
		case w == "-m" && i+1 < len(words) && words[i+1] == "ip":
			i++
		case w == "-f" && i+1 < len(words):
			files = append(files, words[i+1])
			i++
		default:
			return nil, nil, false
		}
	}
	return srcs, files, len(srcs)+len(files) > 0
}

// srcList is a list file's patterns as readSrcList read them, or why
// they could not be read.
type srcList struct {
	srcs []string
	err  error
	// differs says why rmqlb would not read the same addresses from the
	// file (rmqlbDiffers); nil when it would.
	differs error
}

// readSrcList returns the patterns of the list file name, read the first
// time a rule names it (readSrcListFile).
func (t *haT) readSrcList(name string) ([]string, error) {
	l, ok := t.srcLists[name]
	if !ok {
		var data []byte
		data, l.srcs, l.err = t.readSrcListFile(name)
		if l.err == nil {
			l.differs = rmqlbDiffers(data, l.srcs)
		}
		if t.srcLists == nil {
			t.srcLists = map[string]srcList{}
		}
		t.srcLists[name] = l
	}
	return l.srcs, l.err
}

// rmqlbDiffers returns why rmqlb, reading the list file data as its
// allowed_clients_file or denied_clients_file (config.ParseClientList),
// would not match the clients HAProxy matched with srcs, the file's
// patterns as HAProxy read them; nil when it would. HAProxy masks the
// bits of a prefix past its length and reads an IPv4-mapped address as
// IPv4, where rmqlb refuses the line.
func rmqlbDiffers(data []byte, srcs []string) error {
	ps, err := config.ParseClientList(data)
	if err != nil {
		return err
	}
	ha := make([]netip.Prefix, 0, len(srcs))
	for _, s := range srcs {
		p, _ := haPrefix(s) // readSrcListFile read only prefixes
		ha = append(ha, p)
	}
	if !slices.Equal(ps, ha) {
		return errors.New("it reads other addresses from it")
	}
	return nil
}

// readSrcListFile reads the list file name, and its patterns as HAProxy
// does: a pattern per line, the spaces before it left out (and those
// after it, which HAProxy refuses), empty lines and those that start
// with '#' skipped. A relative name is not read: HAProxy read it from its
// working directory, which the import does not know.
func (t *haT) readSrcListFile(name string) (data []byte, srcs []string, err error) {
	if !filepath.IsAbs(name) {
		return nil, nil, fmt.Errorf("%s is a relative path, read by HAProxy from its working directory", name)
	}
	if t.files == nil {
		return nil, nil, fmt.Errorf("reading %s: no files to read from", name)
	}
	data, err = t.files.ReadFile(name)
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", name, err)
	}
	for i, line := range bytes.Split(data, []byte("\n")) {
		s := strings.TrimSpace(string(line))
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		if len(srcs) == maxSrcList {
			return nil, nil, fmt.Errorf("%s has more than %d addresses", name, maxSrcList)
		}
		if _, ok := haPrefix(s); !ok {
			return nil, nil, fmt.Errorf("line %d of %s: %q is not an address or a prefix", i+1, name, s)
		}
		srcs = append(srcs, s)
	}
	return data, srcs, nil
}

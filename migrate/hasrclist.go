package migrate

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
)

// An HAProxy ACL takes its patterns from its words and from list files
// (-f FILE, one pattern per line, '#' comments), which a restriction of
// the clients' sources often keeps apart (acl allowed src -f
// /etc/haproxy/allowed.lst). rmqlb reads no such file: the import copies
// its addresses into allowed_clients, or denied_clients.

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
}

// readSrcList returns the patterns of the list file name, read the first
// time a rule names it (readSrcListFile).
func (t *haT) readSrcList(name string) ([]string, error) {
	l, ok := t.srcLists[name]
	if !ok {
		l.srcs, l.err = t.readSrcListFile(name)
		if t.srcLists == nil {
			t.srcLists = map[string]srcList{}
		}
		t.srcLists[name] = l
	}
	return l.srcs, l.err
}

// readSrcListFile reads the patterns of the list file name as HAProxy does:
// a pattern per line, the spaces before it left out (and those after it,
// which HAProxy refuses), empty lines and those that start with '#'
// skipped. A relative name is not read: HAProxy read
// it from its working directory, which the import does not know.
func (t *haT) readSrcListFile(name string) ([]string, error) {
	if !filepath.IsAbs(name) {
		return nil, fmt.Errorf("%s is a relative path, read by HAProxy from its working directory", name)
	}
	if t.files == nil {
		return nil, fmt.Errorf("reading %s: no files to read from", name)
	}
	data, err := t.files.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	var out []string
	for i, line := range bytes.Split(data, []byte("\n")) {
		s := strings.TrimSpace(string(line))
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		if len(out) == maxSrcList {
			return nil, fmt.Errorf("%s has more than %d addresses", name, maxSrcList)
		}
		if _, ok := haPrefix(s); !ok {
			return nil, fmt.Errorf("line %d of %s: %q is not an address or a prefix", i+1, name, s)
		}
		out = append(out, s)
	}
	return out, nil
}

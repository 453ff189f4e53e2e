package migrate

import (
	"io/fs"
	"path/filepath"
	"sort"
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

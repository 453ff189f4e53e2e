package daemon

import (
	"os"
	"path/filepath"
	"testing"
)

// TestReplaceFile: the file is replaced whole with the mode asked for, and
// no temporary file is left beside it.
func TestReplaceFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	for _, c := range []struct {
		data string
		perm os.FileMode
	}{{"first\n", 0o600}, {"second\n", 0o644}} {
		if err := replaceFile(path, []byte(c.data), c.perm); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		fi, serr := os.Stat(path)
		if err != nil || serr != nil || string(b) != c.data || fi.Mode().Perm() != c.perm {
			t.Errorf("after writing %q with %v: %q, %v, %v", c.data, c.perm, b, fi.Mode(), err)
		}
	}
	if es, _ := os.ReadDir(dir); len(es) != 1 {
		t.Errorf("%d files in the directory, want the file alone", len(es))
	}
	if err := replaceFile(filepath.Join(dir, "missing", "state.json"), []byte("x"), 0o600); err == nil {
		t.Error("no error for a directory that does not exist")
	}
}

package regfile

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestRead: what Read makes of each kind of file, none of which blocks it.
func TestRead(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		limit      int64
		want, err  string
	}{
		{"a file", write("ok", "10.0.0.0/8\n"), 16, "10.0.0.0/8\n", ""},
		{"at the limit", write("full", "0123456789"), 10, "0123456789", ""},
		{"empty", write("empty", ""), 10, "", ""},
		{"over the limit", write("big", "0123456789a"), 10, "", "11 bytes, more than the 10 it may hold"},
		{"a FIFO", fifo, 10, "", "not a regular file (p---------)"},
		{"a directory", dir, 10, "", "not a regular file (d---------)"},
		{"a device", "/dev/zero", 10, "", "not a regular file (Dc---------)"},
		{"missing", filepath.Join(dir, "none"), 10, "", "no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := Read(tc.path, tc.limit)
			if tc.err != "" {
				if err == nil || !strings.HasSuffix(err.Error(), tc.err) {
					t.Fatalf("Read: %q, %v; want an error ending %q", data, err, tc.err)
				}
				return
			}
			if err != nil || string(data) != tc.want {
				t.Fatalf("Read: %q, %v; want %q", data, err, tc.want)
			}
		})
	}
}

// TestOpen: the file Open returns is the one its information describes,
// and a FIFO with no writer is refused at once rather than waited on.
func TestOpen(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("abc"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, fi, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if fi.Size() != 3 || !fi.Mode().IsRegular() {
		t.Fatalf("info %v %d, want a regular file of 3 bytes", fi.Mode(), fi.Size())
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(fi, st) {
		t.Fatal("the information is not of the file at the path")
	}
}

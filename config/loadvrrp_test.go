package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestLoadVRRP: the VRRP instances of a file whose files of client
// addresses and TLS files are gone, which Load refuses, are those of the
// same file without them; the rest of the file must still be valid.
func TestLoadVRRP(t *testing.T) {
	dir := t.TempDir()
	data := listConfig("    allowed_clients: []\n    allowed_clients_file: DIR/allowed.lst\n    denied_clients_file: DIR/denied.lst\n")
	data = strings.Replace(data, ", check: {type: tcp}}", ", check: {tls: {ca_file: DIR/ca.pem}}}", 1)
	path := filepath.Join(dir, "rmqlb.yaml")
	write := func(data string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(strings.ReplaceAll(data, "DIR", dir)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(data)
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "allowed.lst") {
		t.Fatalf("Load without the files: %v; want the list file refused", err)
	}
	got, err := LoadVRRP(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Parse([]byte(listConfig("")))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !reflect.DeepEqual(got, want.VRRP) {
		t.Fatalf("instances %+v; want %+v", got, want.VRRP)
	}

	for _, tc := range []struct{ name, data, want string }{
		{"unknown key", data + "bogus: 1\n", "bogus"},
		{"relative list file", strings.Replace(data, "DIR/denied.lst", "denied.lst", 1), `must be an absolute path of a file, not "denied.lst"`},
		{"bad instance", strings.Replace(data, "virtual_router_id: 1", "virtual_router_id: 300", 1), "virtual_router_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			write(tc.data)
			if _, err := LoadVRRP(path); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v; want %q", err, tc.want)
			}
		})
	}
	if _, err := LoadVRRP(filepath.Join(dir, "none.yaml")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("a missing file: %v", err)
	}
}

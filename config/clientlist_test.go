package config

import (
	"crypto/sha256"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// TestParseClientList: a file of client addresses holds an address or a
// prefix a line, blanks around it and what follows a # ignored, blank
// lines and CRLF line ends too; a bad line is named by its number, the
// first five of them, the others counted.
func TestParseClientList(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		want       []string
		err        string
	}{
		{"empty", "", nil, ""},
		{"comments and blanks", "# allowed\n\n   \n# end\n", nil, ""},
		{"entries", "10.0.0.0/8\n 192.0.2.7 \n2001:db8::/32 # office\n\t198.51.100.0/24\t#x\n", []string{"10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32", "198.51.100.0/24"}, ""},
		{"CRLF, no last newline", "10.0.0.1\r\n10.0.0.2", []string{"10.0.0.1/32", "10.0.0.2/32"}, ""},
		{"dotted masks", "10.1.0.0/255.255.0.0\n192.0.2.0/255.255.255.255\n0.0.0.0/0.0.0.0\n", []string{"10.1.0.0/16", "192.0.2.0/32", "0.0.0.0/0"}, ""},
		{"mask not contiguous", "10.1.0.0/255.0.255.0\n", nil, "line 1: 255.0.255.0 is not a contiguous netmask"},
		{"dotted mask of IPv6", "2001:db8::/255.255.0.0\n", nil, `line 1: must be an address or a prefix (10.0.0.0/8, 2001:db8::/32), not "2001:db8::/255.255.0.0"`},
		{"host bits past a dotted mask", "10.1.2.3/255.255.0.0\n", nil, "line 1: 10.1.2.3/16 has bits set past its length 16: did you mean 10.1.0.0/16?"},
		{"IPv4-mapped", "::ffff:10.0.0.0/104\n", nil, "line 1: ::ffff:10.0.0.0/104 is IPv4-mapped, which never matches (IPv4 clients are matched as IPv4): write 10.0.0.0/8"},
		{"bad line", "10.0.0.1\napp.example.com\n", nil, `line 2: must be an address or a prefix (10.0.0.0/8, 2001:db8::/32), not "app.example.com"`},
		{"zone", "fe80::1%eth0\n", nil, "line 1: fe80::1%eth0: zoned addresses are not supported"},
		{"two entries a line", "10.0.0.1 10.0.0.2\n", nil, `line 1: must be an address or a prefix (10.0.0.0/8, 2001:db8::/32), not "10.0.0.1 10.0.0.2"`},
		{"many bad lines", "a\nb\n10.0.0.1\nc\nd\ne\nf\ng\n", nil, `line 1: must be an address or a prefix (10.0.0.0/8, 2001:db8::/32), not "a"; line 2: must be an address or a prefix (10.0.0.0/8, 2001:db8::/32), not "b"; line 4: must be an address or a prefix (10.0.0.0/8, 2001:db8::/32), not "c"; line 5: must be an address or a prefix (10.0.0.0/8, 2001:db8::/32), not "d"; line 6: must be an address or a prefix (10.0.0.0/8, 2001:db8::/32), not "e"; and 2 more bad lines`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseClientList([]byte(tc.data))
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v; want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for _, p := range got {
				s = append(s, p.String())
			}
			if !slices.Equal(s, tc.want) {
				t.Errorf("got %v; want %v", s, tc.want)
			}
		})
	}
}

// FuzzParseClientList: any input is parsed or refused without a panic;
// what is accepted is one valid prefix per line that holds one, each
// written again as it parses back.
func FuzzParseClientList(f *testing.F) {
	f.Add([]byte("10.0.0.0/8\n 192.0.2.7 # x\n2001:db8::/32\r\n"))
	f.Add([]byte("# only a comment"))
	f.Add([]byte("fe80::1%eth0\n::ffff:10.0.0.1/128\n"))
	f.Add([]byte("10.1.0.0/255.255.0.0\n10.1.0.0/255.0.255.0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, err := ParseClientList(data)
		if err != nil {
			if ps != nil {
				t.Fatalf("prefixes %v with error %v", ps, err)
			}
			return
		}
		if n := strings.Count(string(data), "\n") + 1; len(ps) > n {
			t.Fatalf("%d prefixes from %d lines", len(ps), n)
		}
		for _, p := range ps {
			if !p.IsValid() {
				t.Fatalf("invalid prefix %v", p)
			}
			if q, err := parseListEntry(p.String()); err != nil || q != p {
				t.Fatalf("%v written again parses as %v, %v", p, q, err)
			}
		}
	})
}

// listConfig is base with the listener's client list keys lines.
func listConfig(lines string) string {
	return strings.Replace(strings.Replace(base, "interface: eth0", "interface: lo", 1), "    keepalive: 30s\n", "    keepalive: 30s\n"+lines, 1)
}

// loadWith writes data as a configuration file beside the files of
// files (name to content, written 0644 in the same directory, whose path
// DIR stands for in data) and loads it.
func loadWith(t *testing.T, data string, files map[string]string) (*Config, string, error) {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, "rmqlb.yaml")
	if err := os.WriteFile(p, []byte(strings.ReplaceAll(data, "DIR", dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	return c, dir, err
}

// TestClientListFiles: Load reads a listener's allowed_clients_file and
// denied_clients_file, their addresses following those of allowed_clients
// and denied_clients, and records each file's digest (and the
// configuration file's own, with its path); Parse reads none
// and says so. An allowed list that ends up empty is refused, an empty
// denied one is none; a relative path, a missing file, one that is not a
// regular file (a FIFO a reload would wait on) and a bad line are errors
// naming the key and its line.
func TestClientListFiles(t *testing.T) {
	cfg := listConfig("    allowed_clients: [192.0.2.7]\n    allowed_clients_file: DIR/allowed.lst\n    denied_clients_file: DIR/denied.lst\n")
	allowed, denied := "# the office\n10.1.0.0/16\n2001:db8::/32\n", "10.1.2.3\n"
	c, dir, err := loadWith(t, cfg, map[string]string{"allowed.lst": allowed, "denied.lst": denied})
	if err != nil {
		t.Fatal(err)
	}
	l := c.Listeners[0]
	want := []netip.Prefix{netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("2001:db8::/32")}
	if !slices.Equal(l.AllowedClients, want) || !slices.Equal(l.DeniedClients, []netip.Prefix{netip.MustParsePrefix("10.1.2.3/32")}) {
		t.Errorf("allowed %v, denied %v; want %v and [10.1.2.3/32]", l.AllowedClients, l.DeniedClients, want)
	}
	if l.AllowedClientsFile != filepath.Join(dir, "allowed.lst") || l.DeniedClientsFile != filepath.Join(dir, "denied.lst") {
		t.Errorf("files %q and %q", l.AllowedClientsFile, l.DeniedClientsFile)
	}
	if l.AllowedFromFile != 2 || l.DeniedFromFile != 1 {
		t.Errorf("from the files: %d allowed, %d denied; want 2 and 1", l.AllowedFromFile, l.DeniedFromFile)
	}
	wantLists := []ListFile{{Key: "allowed_clients_file", Path: filepath.Join(dir, "allowed.lst"), Prefixes: 2, Listed: 3},
		{Key: "denied_clients_file", Path: filepath.Join(dir, "denied.lst"), Prefixes: 1, Listed: 1}}
	if got := l.ListFiles(); !slices.Equal(got, wantLists) {
		t.Errorf("list files %+v; want %+v", got, wantLists)
	}
	wantFiles := []FileRead{
		{Path: filepath.Join(dir, "allowed.lst"), Field: "listeners[0].allowed_clients_file", Digest: sha256.Sum256([]byte(allowed)), Size: int64(len(allowed))},
		{Path: filepath.Join(dir, "denied.lst"), Field: "listeners[0].denied_clients_file", Digest: sha256.Sum256([]byte(denied)), Size: int64(len(denied))},
	}
	if !slices.Equal(c.Files, wantFiles) {
		t.Errorf("files read %+v; want %+v", c.Files, wantFiles)
	}
	yaml := strings.ReplaceAll(cfg, "DIR", dir)
	if want := (FileRead{Path: filepath.Join(dir, "rmqlb.yaml"), Digest: sha256.Sum256([]byte(yaml)), Size: int64(len(yaml))}); c.Source != want {
		t.Errorf("the file itself read as %+v; want %+v", c.Source, want)
	}
	if _, err := Parse([]byte(strings.ReplaceAll(cfg, "DIR", dir))); err == nil ||
		!strings.Contains(err.Error(), "listeners[0].allowed_clients_file: "+dir+"/allowed.lst: not read: files of client addresses are read when the configuration is loaded from its file") {
		t.Errorf("Parse: %v; want the file refused as not read", err)
	}

	fileOnly := listConfig("    allowed_clients_file: DIR/allowed.lst\n    denied_clients_file: DIR/denied.lst\n")
	if c, _, err := loadWith(t, fileOnly, map[string]string{"allowed.lst": "10.1.0.0/16\n", "denied.lst": "# nobody\n"}); err != nil ||
		!slices.Equal(c.Listeners[0].AllowedClients, []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}) || c.Listeners[0].DeniedClients != nil ||
		c.Listeners[0].AllowedFromFile != 1 || c.Listeners[0].DeniedFromFile != 0 {
		t.Errorf("a file alone, and an empty denied file: %v; want 10.1.0.0/16 allowed and none denied", err)
	}
	if c, _, err := loadWith(t, listConfig("    allowed_clients: []\n    allowed_clients_file: DIR/a.lst\n"), map[string]string{"a.lst": "10.1.0.0/16\n"}); err != nil ||
		len(c.Listeners[0].AllowedClients) != 1 {
		t.Errorf("an empty allowed_clients beside a file: %v; want the file's address", err)
	}

	fifo := filepath.Join(t.TempDir(), "fifo.lst")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, lines string
		files       map[string]string
		want        string
	}{
		{"relative", "    allowed_clients_file: allowed.lst\n", nil, `line 16: listeners[0].allowed_clients_file: must be an absolute path of a file, not "allowed.lst"`},
		{"missing", "    denied_clients_file: DIR/none.lst\n", nil, "line 16: listeners[0].denied_clients_file: reading DIR/none.lst: no such file or directory"},
		{"not a regular file", "    allowed_clients_file: " + fifo + "\n", nil, "line 16: listeners[0].allowed_clients_file: reading " + fifo + ": not a regular file (p---------)"},
		{"a directory", "    allowed_clients_file: DIR\n", nil, "line 16: listeners[0].allowed_clients_file: reading DIR: not a regular file (d---------)"},
		{"bad line", "    allowed_clients_file: DIR/a.lst\n", map[string]string{"a.lst": "10.0.0.1\n\n10.0.0.0/33\n"},
			`line 16: listeners[0].allowed_clients_file: DIR/a.lst: line 3: must be an address or a prefix (10.0.0.0/8, 2001:db8::/32), not "10.0.0.0/33"`},
		{"host bits", "    denied_clients_file: DIR/d.lst\n", map[string]string{"d.lst": "10.1.2.3/8\n"},
			"line 16: listeners[0].denied_clients_file: DIR/d.lst: line 1: 10.1.2.3/8 has bits set past its length 8: did you mean 10.0.0.0/8?"},
		{"allowed file empty", "    allowed_clients_file: DIR/a.lst\n", map[string]string{"a.lst": "# nobody yet\n"},
			"line 16: listeners[0].allowed_clients_file: holds no address or prefix, which would refuse every client"},
		{"allowed family", "    allowed_clients_file: DIR/a.lst\n", map[string]string{"a.lst": "2001:db8::/32\n"},
			"line 16: listeners[0].allowed_clients_file: holds no IPv4 prefix, and bind 10.0.0.100:5672 takes IPv4 clients only: every client would be refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, dir, err := loadWith(t, listConfig(tc.lines), tc.files)
			if want := strings.ReplaceAll(tc.want, "DIR", dir); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v; want %q", err, want)
			}
		})
	}
}

// TestClientListFileUnsafe: a file of client addresses that others may
// change gets a warning naming it and the listener.
func TestClientListFileUnsafe(t *testing.T) {
	c, dir, err := loadWith(t, listConfig("    denied_clients_file: DIR/denied.lst\n"), map[string]string{"denied.lst": "10.1.2.3\n"})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range c.Warnings {
		if strings.Contains(w, "denied.lst") {
			t.Fatalf("a file of mode 0644 in a private directory: warning %q", w)
		}
	}
	p := filepath.Join(dir, "denied.lst")
	if err := os.Chmod(p, 0o666); err != nil {
		t.Fatal(err)
	}
	c, err = Load(filepath.Join(dir, "rmqlb.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, w := range c.Warnings {
		found = found || strings.HasPrefix(w, p+": ") && strings.Contains(w, "whoever can change the file chooses which clients listener l serves")
	}
	if !found {
		t.Errorf("a file of client addresses writable by others: no warning naming it in %q", c.Warnings)
	}
}

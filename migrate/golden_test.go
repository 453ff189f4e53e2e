package migrate

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rmqlb/rmqlb/config"
)

var update = flag.Bool("update", false, "rewrite the golden files of TestGolden")

// goldenCases are the inputs of TestGolden: the blog post's configurations
// (testdata/blog: its keepalived.conf of each host and its haproxy.cfg)
// and a corpus of realistic files: keepalived with includes, unicast
// peers and check scripts in front of HAProxy (tier), active-active
// VRRPv3 with HAProxy defaults, frontends and backends (active), an LVS
// table set by hand beside HAProxy (lvs), HAProxy passing AMQPS
// through with checks over TLS (tls), and the management and MQTT ports
// of the brokers checked over HTTP, by HAProxy and by keepalived
// (plugins), and an LVS virtual_server of a virtual_server_group: two VIPs
// and two ports (group).
var goldenCases = []struct {
	name string
	src  Sources
}{
	{"blog-rabbitmq01", Sources{Keepalived: "testdata/blog/rabbitmq01-keepalived.conf", HAProxy: "testdata/blog/haproxy.cfg"}},
	{"blog-rabbitmq02", Sources{Keepalived: "testdata/blog/rabbitmq02-keepalived.conf", HAProxy: "testdata/blog/haproxy.cfg"}},
	{"blog-haproxy", Sources{HAProxy: "testdata/blog/haproxy.cfg"}},
	{"tier", Sources{Keepalived: "testdata/tier/keepalived.conf", HAProxy: "testdata/tier/haproxy.cfg"}},
	{"active", Sources{Keepalived: "testdata/active/keepalived.conf", HAProxy: "testdata/active/haproxy.cfg"}},
	{"lvs", Sources{Keepalived: "testdata/lvs/keepalived.conf", HAProxy: "testdata/lvs/haproxy.cfg", IPVSAdm: "testdata/lvs/ipvsadm.rules"}},
	{"tls", Sources{HAProxy: "testdata/tls/haproxy.cfg"}},
	{"plugins-haproxy", Sources{HAProxy: "testdata/plugins/haproxy.cfg"}},
	{"plugins-keepalived", Sources{Keepalived: "testdata/plugins/keepalived.conf"}},
	{"group", Sources{Keepalived: "testdata/group/keepalived.conf"}},
}

// TestGolden translates each case and compares the file written and the
// notes with testdata/golden/NAME.yaml and NAME.stderr (go test -update
// rewrites them). Every file written must pass config.Parse, and every
// note must name its file and line.
func TestGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Import(tc.src, hermeticFiles{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := config.ParseWithFiles(r.YAML, hermeticFiles{}.ReadFile); err != nil {
				t.Errorf("config.ParseWithFiles refuses the file written: %v\n%s", err, r.YAML)
			}
			var notes strings.Builder
			for _, n := range r.Notes {
				if n.Pos.File == "" || n.Pos.Line < 1 {
					t.Errorf("note without file and line: %v", n)
				}
				notes.WriteString(n.String() + "\n")
			}
			golden(t, filepath.Join("testdata", "golden", tc.name+".yaml"), r.YAML)
			golden(t, filepath.Join("testdata", "golden", tc.name+".stderr"), []byte(notes.String()))
		})
	}
}

// golden compares got with the file at path, or rewrites it with -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

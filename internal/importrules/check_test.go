package importrules

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestModuleImports checks the module's own import graph against Rules.
func TestModuleImports(t *testing.T) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || !filepath.IsAbs(gomod) {
		t.Fatalf("go env GOMOD = %q: not inside the module", gomod)
	}
	mod, pkgs, err := Load(filepath.Dir(gomod))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range pkgs {
		if _, ok := relative(mod, p.ImportPath); ok {
			n++
		}
	}
	// The module has a dozen packages and more; far fewer means go list
	// did not see the module and the check below would prove nothing.
	if n < 10 {
		t.Fatalf("go list found %d packages of %s", n, mod)
	}
	vs := Check(mod, pkgs, Rules, Known)
	for _, v := range vs {
		t.Error(v)
	}
	t.Logf("%d packages of %s checked against %d rules", n, mod, len(Rules))
}

const testMod = "example.com/m"

func pkg(path string, imports ...string) Package {
	p := Package{ImportPath: testMod + "/" + path}
	for _, i := range imports {
		if !strings.Contains(i, ".") {
			i = testMod + "/" + i
		}
		p.Imports = append(p.Imports, i)
	}
	return p
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		pkgs []Package
		want []string // "pkg: chain" of each violation, or "pkg: unclassified"
	}{
		{"a one-way graph", []Package{
			pkg("proxyproto", "encoding/binary"),
			pkg("internal/clock"),
			pkg("vrrp", "internal/clock", "golang.org/x/net/ipv4"),
			pkg("backend", "internal/clock"),
			pkg("balancer", "proxyproto", "backend"),
			pkg("healthcheck", "internal/clock"),
			pkg("amqpcheck", "healthcheck", "proxyproto"),
			pkg("config", "vrrp", "balancer"),
			pkg("control", "balancer", "healthcheck", "vrrp"),
			pkg("daemon", "config", "control", "vrrp", "balancer"),
			pkg("cmd/rmqlb", "daemon", "config", "control"),
			pkg("integration/netlab"),
			pkg("internal/rabbittest"),
			pkg("cmd/rmqlb-lab", "control", "config", "integration/netlab", "internal/rabbittest"),
			pkg("bench/lab"),
			pkg("bench/cmd/rmqlb-bench", "bench/lab", "config"),
			{ImportPath: "golang.org/x/net/ipv4"},
		}, nil},
		{"a codec imports config", []Package{pkg("proxyproto", "config"), pkg("config")},
			[]string{"proxyproto: proxyproto -> config"}},
		{"a domain package reaches the daemon through others", []Package{
			pkg("vrrp", "internal/clock"), pkg("internal/clock", "config"), pkg("config", "daemon"), pkg("daemon"),
		}, []string{
			"config: config -> daemon",
			"internal/clock: internal/clock -> config",
			"internal/clock: internal/clock -> config -> daemon",
			"vrrp: vrrp -> internal/clock -> config",
			"vrrp: vrrp -> internal/clock -> config -> daemon",
		}},
		{"config imports control", []Package{pkg("config", "control"), pkg("control")},
			[]string{"config: config -> control"}},
		{"control imports config", []Package{pkg("control", "config"), pkg("config")},
			[]string{"control: control -> config"}},
		{"control imports the daemon", []Package{pkg("control", "daemon"), pkg("daemon")},
			[]string{"control: control -> daemon"}},
		{"a tool imports a command", []Package{pkg("cmd/rmqlb-lab", "cmd/rmqlb"), pkg("cmd/rmqlb")},
			[]string{"cmd/rmqlb-lab: cmd/rmqlb-lab -> cmd/rmqlb"}},
		{"the daemon imports the lab", []Package{pkg("cmd/rmqlb", "daemon"), pkg("daemon", "integration/netlab"), pkg("integration/netlab")},
			[]string{"cmd/rmqlb: cmd/rmqlb -> daemon -> integration/netlab", "daemon: daemon -> integration/netlab"}},
		{"the binary imports the benchmark", []Package{pkg("cmd/rmqlb", "bench/lab"), pkg("bench/lab")},
			[]string{"cmd/rmqlb: cmd/rmqlb -> bench/lab"}},
		{"a domain package imports RabbitMQ test nodes", []Package{pkg("amqpcheck", "internal/rabbittest"), pkg("internal/rabbittest")},
			[]string{"amqpcheck: amqpcheck -> internal/rabbittest"}},
		{"a package outside every group", []Package{pkg("util", "vrrp"), pkg("vrrp")},
			[]string{"util: unclassified"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, v := range Check(testMod, tt.pkgs, Rules, Known) {
				if v.Rule == nil {
					got = append(got, v.Pkg+": unclassified")
				} else {
					got = append(got, v.Pkg+": "+strings.Join(v.Chain, " -> "))
				}
				if !strings.Contains(v.String(), v.Pkg) {
					t.Errorf("message %q does not name %s", v, v.Pkg)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("violations:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

func TestMatch(t *testing.T) {
	for _, tt := range []struct {
		pattern, pkg string
		want         bool
	}{
		{"...", "vrrp", true},
		{"cmd/...", "cmd", true},
		{"cmd/...", "cmd/rmqlb", true},
		{"cmd/...", "cmdx", false},
		{"cmd/rmqlb", "cmd/rmqlb-lab", false},
		{"cmd/rmqlb", "cmd/rmqlb", true},
		{"bench/cmd/...", "bench/lab", false},
	} {
		if got := Match(tt.pattern, tt.pkg); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.pkg, got, tt.want)
		}
	}
}

func TestDecode(t *testing.T) {
	stream := `{"ImportPath": "fmt", "Standard": true}
{"ImportPath": "example.com/m/vrrp", "Imports": ["fmt"], "Module": {"Path": "example.com/m", "Main": true}}
{"ImportPath": "golang.org/x/net/ipv4", "Module": {"Path": "golang.org/x/net"}}
`
	mod, pkgs, err := Decode(strings.NewReader(stream))
	if err != nil || mod != "example.com/m" || len(pkgs) != 3 {
		t.Fatalf("Decode = %q, %d packages, %v", mod, len(pkgs), err)
	}
	if _, _, err := Decode(strings.NewReader(`{"ImportPath": "fmt"}`)); err == nil {
		t.Error("Decode of a stream without the main module: no error")
	}
	if _, _, err := Decode(strings.NewReader(`{"ImportPath": `)); err == nil {
		t.Error("Decode of a truncated stream: no error")
	}
}

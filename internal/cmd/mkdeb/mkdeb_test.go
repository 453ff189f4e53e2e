package main

import (
	"os"
	"os/exec"
	"regexp"
	"testing"

	"github.com/rmqlb/rmqlb/config"
)

// TestConffileInert: the configuration file the package installs
// validates, runs nothing (no VRRP instance, no listener) and has the
// default control socket, the one the unit's runtime directory holds.
func TestConffileInert(t *testing.T) {
	c, err := config.Load("../../../" + srcConf)
	if err != nil {
		t.Fatalf("%s: %v", srcConf, err)
	}
	if !c.Inert || len(c.VRRP) != 0 || len(c.Listeners) != 0 || c.MetricsListen.IsValid() {
		t.Errorf("%s: inert %v, %d VRRP instances, %d listeners, metrics %v: want an inert file", srcConf, c.Inert, len(c.VRRP), len(c.Listeners), c.MetricsListen)
	}
	if c.ControlSocket != config.DefaultControlSocket {
		t.Errorf("%s: control socket %s, want %s", srcConf, c.ControlSocket, config.DefaultControlSocket)
	}
}

// TestScriptsStartNothing: the maintainer scripts are valid sh and never
// enable, start or restart the service.
func TestScriptsStartNothing(t *testing.T) {
	starts := regexp.MustCompile(`systemctl\s+(--\S+\s+)*(enable|start|restart|try-restart|reload-or-restart|unmask)\b|deb-systemd-helper\s+(enable|unmask)|deb-systemd-invoke\s+(start|restart)|invoke-rc\.d\s+\S+\s+(start|restart)|service\s+rmqlb\s+(start|restart)`)
	comments := regexp.MustCompile(`(?m)^\s*#.*$`)
	for _, s := range []string{srcPostinst, srcPrerm, srcPostrm} {
		p := "../../../" + s
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		code := comments.ReplaceAll(b, nil)
		if m := starts.Find(code); m != nil {
			t.Errorf("%s: %q enables or starts the service", s, m)
		}
		if out, err := exec.Command("sh", "-n", p).CombinedOutput(); err != nil {
			t.Errorf("sh -n %s: %v\n%s", s, err, out)
		}
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm()&0o111 == 0 {
			t.Errorf("%s: not executable (%v)", s, err)
		}
	}
	// The regexp finds what it must.
	if !starts.MatchString("systemctl --system enable rmqlb.service") || !starts.MatchString("deb-systemd-invoke start rmqlb.service") {
		t.Fatal("the pattern misses a start")
	}
}

// TestVersion: mkdeb refuses a version Debian would not take, before
// building anything.
func TestVersion(t *testing.T) {
	for _, v := range []string{"", "v1.2.3", "1.2 3", "1:2.0"} {
		if _, err := build(v, "amd64", t.TempDir()); err == nil {
			t.Errorf("version %q accepted", v)
		}
	}
}

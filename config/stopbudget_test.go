package config

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestStopBudgetWarnings: a setting that lets a stop last as long as the
// packaged unit's TimeoutStopSec is a warning naming the field and its
// line; a listener bound to a VIP (its sessions close at once on stop) and
// an instance without a stop hook get none.
func TestStopBudgetWarnings(t *testing.T) {
	dir := t.TempDir()
	hook := filepath.Join(dir, "hook")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	other := "  - name: other\n    bind: 0.0.0.0:5673\n    graceful_timeout: GRACE\n    backends:\n      - {name: c, address: 10.0.0.3:5672, check: {type: tcp}}\n"
	notify := func(kind, timeout string) string {
		s := "garp: {refresh: 60s}\n    notify:\n      " + kind + ": [" + hook + "]"
		if timeout != "" {
			s += "\n      timeout: " + timeout
		}
		return s
	}
	for _, tc := range []struct {
		name string
		edit func(string) string
		want []string
	}{
		{"defaults", func(s string) string { return s + strings.ReplaceAll(other, "    graceful_timeout: GRACE\n", "") }, nil},
		{"graceful below", func(s string) string { return s + strings.ReplaceAll(other, "GRACE", "89s") }, nil},
		{"graceful at the unit's", func(s string) string { return s + strings.ReplaceAll(other, "GRACE", "90s") }, []string{
			"listeners[1].graceful_timeout (line 22): 1m30s is not below the packaged unit's TimeoutStopSec=90s: systemd kills the daemon before the sessions have finished (its VIPs are handed over first); shorten it, or raise TimeoutStopSec in a drop-in (systemctl edit rmqlb)"}},
		{"graceful of a VIP's listener", func(s string) string {
			return strings.Replace(s, "    keepalive: 30s", "    keepalive: 30s\n    graceful_timeout: 5m", 1)
		}, nil},
		{"stop hook's default timeout", func(s string) string { return strings.Replace(s, "garp: {refresh: 60s}", notify("stop", ""), 1) }, nil},
		{"stop hook's long timeout", func(s string) string { return strings.Replace(s, "garp: {refresh: 60s}", notify("stop", "2m"), 1) }, []string{
			"vrrp_instances[0].notify.timeout (line 13): 2m0s is not below the packaged unit's TimeoutStopSec=90s: a stop hook that runs that long is killed by systemd with the daemon (its VIPs are handed over first); shorten it, or raise TimeoutStopSec in a drop-in (systemctl edit rmqlb)"}},
		{"long timeout without a stop hook", func(s string) string { return strings.Replace(s, "garp: {refresh: 60s}", notify("master", "2m"), 1) }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, "rmqlb.yaml")
			// On lo, which every host has: no warning about the interface.
			file := strings.Replace(tc.edit(base), "interface: eth0", "interface: lo", 1)
			if err := os.WriteFile(p, []byte(file), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := Load(p)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.Warnings, tc.want) {
				t.Fatalf("warnings:\n%s\nwant:\n%s", strings.Join(c.Warnings, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestUnitStopTimeout: UnitStopTimeout is the packaged unit's
// TimeoutStopSec.
func TestUnitStopTimeout(t *testing.T) {
	unit, err := os.ReadFile("../dist/systemd/rmqlb.service")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^TimeoutStopSec=(\S+)$`).FindSubmatch(unit)
	if m == nil {
		t.Fatal("the unit sets no TimeoutStopSec")
	}
	d, err := time.ParseDuration(string(m[1]))
	if err != nil {
		t.Fatalf("TimeoutStopSec=%s: %v", m[1], err)
	}
	if d != UnitStopTimeout {
		t.Fatalf("the unit's TimeoutStopSec is %v, UnitStopTimeout %v", d, UnitStopTimeout)
	}
}

package main

import (
	"runtime/debug"
	"strings"

	"github.com/rmqlb/rmqlb/daemon"
)

// programVersion is the version rmqlb reports (rmqlb version, rmqlb status,
// rmqlb_build_info): version as set at build time, or for a build from a
// git checkout without it ("dev") that version with the revision Go
// recorded (daemon.Revision), "dev+7047b50cd8a1", and "-modified" when
// the tree had changes, so that hosts running different source builds
// tell them apart.
func programVersion() string {
	return withRevision(version, daemon.Revision())
}

// withRevision returns v, or for "dev" v with rev, a revision as
// daemon.Revision has it ("unknown": none).
func withRevision(v, rev string) string {
	if v != "dev" || rev == "unknown" || rev == "" {
		return v
	}
	r, modified := strings.CutSuffix(rev, "-modified")
	v += "+" + r[:min(12, len(r))]
	if modified {
		v += "-modified"
	}
	return v
}

// goVersion is the Go release and platform rmqlb was built with:
// "go1.26.8 linux/amd64".
func goVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	var goos, goarch string
	for _, s := range info.Settings {
		switch s.Key {
		case "GOOS":
			goos = s.Value
		case "GOARCH":
			goarch = s.Value
		}
	}
	return strings.TrimSpace(info.GoVersion + " " + strings.Trim(goos+"/"+goarch, "/"))
}

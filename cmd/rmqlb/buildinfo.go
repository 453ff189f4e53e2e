package main

import (
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

package main

import (
	"strings"
	"testing"
)

func TestWithRevision(t *testing.T) {
	for _, tc := range []struct{ v, rev, want string }{
		{"1.2.3", "7047b502956af0334dd8", "1.2.3"},
		{"dev", "7047b502956af0334dd8", "dev+7047b502956a"},
		{"dev", "7047b502956af0334dd8-modified", "dev+7047b502956a-modified"},
		{"dev", "abc", "dev+abc"},
		{"dev", "unknown", "dev"},
		{"dev", "", "dev"},
	} {
		if got := withRevision(tc.v, tc.rev); got != tc.want {
			t.Errorf("withRevision(%q, %q): %q, want %q", tc.v, tc.rev, got, tc.want)
		}
	}
}

// TestVersionCommand: rmqlb version prints the version alone after
// "rmqlb ", as scripts read it.
func TestVersionCommand(t *testing.T) {
	var out strings.Builder
	if code := run([]string{"version"}, &out, &out); code != 0 {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	if out.String() != "rmqlb "+programVersion()+"\n" {
		t.Errorf("rmqlb version: %q", out.String())
	}
}

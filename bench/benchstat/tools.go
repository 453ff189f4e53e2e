package benchstat

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
)

// NeedTools returns an error that names every one of tools not found on
// PATH, each with the Debian package that installs it, so that a
// benchmark says all it lacks at once, before it builds a lab; nil when
// every one is there.
func NeedTools(tools ...string) error {
	var missing []string
	for _, tool := range slices.Compact(slices.Sorted(slices.Values(tools))) {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, fmt.Sprintf("%s (apt-get install %s)", tool, debianPackage(tool)))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("not installed: %s", strings.Join(missing, ", "))
	}
	return nil
}

// debianPackage returns the Debian package of tool: its own name, but for
// the tools of a package named otherwise.
func debianPackage(tool string) string {
	switch tool {
	case "ip", "bridge", "tc":
		return "iproute2"
	case "sysctl":
		return "procps"
	case "perf":
		return "linux-perf"
	case "go":
		return "golang-go (or Go 1.26 from go.dev)"
	}
	return tool
}

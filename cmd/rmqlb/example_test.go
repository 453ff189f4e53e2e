package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rmqlb/rmqlb/config"
)

// commentedListener is the first line of a listener the example file
// shows commented out.
var commentedListener = regexp.MustCompile(`^  # - name: (\S+)$`)

// TestExampleCommentedListeners: each listener the example file shows
// commented out, uncommented, makes a file config.Parse takes, with the
// listener in it: the examples do not drift from the configuration's
// rules.
func TestExampleCommentedListeners(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	found := 0
	for i, l := range lines {
		m := commentedListener.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		found++
		t.Run(m[1], func(t *testing.T) {
			out := slices.Clone(lines)
			for j := i; j < len(out) && (j == i || strings.HasPrefix(out[j], "  #   ")); j++ {
				out[j] = "  " + out[j][len("  # "):]
			}
			c, err := config.Parse([]byte(strings.Join(out, "\n")))
			if err != nil {
				t.Fatalf("%s uncommented: %v", m[1], err)
			}
			for _, ln := range c.Listeners {
				if ln.Name == m[1] {
					return
				}
			}
			t.Fatalf("%s uncommented: no such listener parsed", m[1])
		})
	}
	if found < 5 {
		t.Fatalf("%d commented listeners in %s, want the AMQPS, management, MQTT, STOMP and stream examples", found, examplePath)
	}
}

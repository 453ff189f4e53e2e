package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// timeline prints what happens, each line stamped with the time since the
// run started. It is safe for concurrent use; lines never interleave.
type timeline struct {
	start time.Time
	mu    sync.Mutex
	w     io.Writer
}

func newTimeline(w io.Writer) *timeline { return &timeline{start: time.Now(), w: w} }

// since formats t relative to the start of the run.
func (tl *timeline) since(t time.Time) string {
	return fmt.Sprintf("+%7.3fs", t.Sub(tl.start).Seconds())
}

// Logf prints one event line.
func (tl *timeline) Logf(format string, args ...any) {
	tl.logAt(time.Now(), format, args...)
}

// logAt prints one event line stamped with t (for events observed late).
func (tl *timeline) logAt(t time.Time, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	tl.mu.Lock()
	defer tl.mu.Unlock()
	for i, line := range strings.Split(strings.TrimRight(msg, "\n"), "\n") {
		if i == 0 {
			fmt.Fprintf(tl.w, "%s  %s\n", tl.since(t), line)
		} else {
			fmt.Fprintf(tl.w, "%s  %s\n", strings.Repeat(" ", 9), line)
		}
	}
}

// Section prints a heading.
func (tl *timeline) Section(format string, args ...any) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	fmt.Fprintf(tl.w, "\n== %s\n", fmt.Sprintf(format, args...))
}

// Block prints text indented under the current event, unstamped.
func (tl *timeline) Block(text string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		fmt.Fprintf(tl.w, "           | %s\n", line)
	}
}

// Plain prints text as is.
func (tl *timeline) Plain(text string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	fmt.Fprint(tl.w, text)
}

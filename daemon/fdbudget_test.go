package daemon

import (
	"strconv"
	"strings"
	"testing"

	"github.com/rmqlb/rmqlb/config"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestFdBudgetWarning: the listeners' maxconn together, two open files a
// session beside the daemon's own, against the open-files limit.
func TestFdBudgetWarning(t *testing.T) {
	ls := func(maxconn ...int) []config.Listener {
		var out []config.Listener
		for _, m := range maxconn {
			out = append(out, config.Listener{MaxConn: m})
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		listeners []config.Listener
		limit     uint64
		want      string // "" for no warning, else a part of it
	}{
		{"fits", ls(8000), 65536, ""},
		{"fits exactly", ls(1000), 2*1000 + fdReserve, ""},
		{"one file short", ls(1000), 2*1000 + fdReserve - 1, "allow 1000 sessions, 2 open files each, but the open-files limit is 2255: past about 999 sessions"},
		{"the lab's limit", ls(30000), 20000, "past about 9872 sessions new clients are refused (fd_limit)"},
		{"listeners add up", ls(6000, 6000), 20000, "allow 12000 sessions"},
		{"no maxconn", ls(0, 0), 1024, ""},
		{"limit unknown", ls(30000), 0, ""},
		{"limit below the reserve", ls(10), 100, "past about 0 sessions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := fdBudgetWarning(tc.listeners, tc.limit)
			if tc.want == "" {
				if got != "" {
					t.Fatalf("warning %q, want none", got)
				}
				return
			}
			if !strings.Contains(got, tc.want) {
				t.Fatalf("warning %q, want it to contain %q", got, tc.want)
			}
		})
	}
}

// TestFdBudgetLogged: the daemon warns at start, and at a reload, when
// its listeners' maxconn do not fit in its open-files limit.
func TestFdBudgetLogged(t *testing.T) {
	const maxconn = 1 << 30
	if openFilesLimit() >= 2*maxconn+fdReserve {
		t.Skipf("the open-files limit %d fits any maxconn", openFilesLimit())
	}
	core, logs := observer.New(zap.WarnLevel)
	l := newLab(t)
	big := l.file("policy: roundrobin", "policy: roundrobin\n    maxconn: "+strconv.Itoa(maxconn))
	h := newHarness(t, big, func(o *Options) { o.Logger = zap.New(zapcore.NewTee(o.Logger.Core(), core)) })
	startChecked(t, h)
	warned := func() int {
		return logs.FilterMessageSnippet("the listeners' maxconn allow 1073741824 sessions").Len()
	}
	if warned() != 1 {
		t.Fatalf("start: %d warnings about maxconn, want 1; logs: %v", warned(), logs.All())
	}
	if r := h.reload(l.file()); !r.OK() {
		t.Fatalf("reload: %+v", r)
	}
	if warned() != 1 {
		t.Fatalf("reload without maxconn: %d warnings, want still 1", warned())
	}
	if r := h.reload(big); !r.OK() {
		t.Fatalf("reload: %+v", r)
	}
	if warned() != 2 {
		t.Fatalf("reload with the maxconn again: %d warnings, want 2", warned())
	}
}

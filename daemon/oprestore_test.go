package daemon

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/backend"
)

// TestPreviewStateFile: what a start would make of a state file, as
// check-config shows it: each state restored, or left out with why.
func TestPreviewStateFile(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	file := `control_socket: /run/rmqlb/test.sock
state_file: ` + state + `
vrrp_instances:
  - {name: vip, interface: eth0, virtual_router_id: 51, version: 3, virtual_ipaddress: [10.0.0.100/24]}
  - {name: moved, interface: eth1, virtual_router_id: 52, version: 3, virtual_ipaddress: [10.0.1.100/24]}
  - {name: over, interface: eth0, virtual_router_id: 53, version: 3, virtual_ipaddress: [10.0.0.101/24]}
listeners:
  - name: amqp
    bind: 10.0.0.100:5672
    check: {type: tcp}
    backends:
      - {name: rmq1, address: 10.0.0.1:5672, weight: 10}
      - {name: rmq2, address: 10.0.0.2:5672, weight: 10}
      - {name: rmq3, address: 10.0.0.3:5672, weight: 10}
`
	cfg := mustParse(t, file)
	now := time.Date(2026, 12, 4, 15, 0, 0, 0, time.UTC)

	// No state file yet, and no state_file.
	if p, err := PreviewStateFile(cfg, now); err != nil || p.Exists || p.Path != state {
		t.Errorf("without a file: %+v, %v", p, err)
	}
	if p, err := PreviewStateFile(mustParse(t, strings.Replace(file, "state_file: "+state+"\n", "", 1)), now); err != nil || p.Path != "" {
		t.Errorf("without state_file: %+v, %v", p, err)
	}

	fp := backendFingerprint(cfg, backend.ID{Listener: "amqp", Name: "rmq1"})
	stale := strings.Repeat("ab", 32)
	writeFile(t, state, `{"version": 1, "saved": "2026-12-04T14:00:00Z", "backends": [
	{"listener": "amqp", "backend": "rmq1", "weight": 5, "config": "`+fp+`"},
	{"listener": "amqp", "backend": "rmq2", "admin": "maint", "weight": 3, "config": "`+stale+`"},
	{"listener": "amqp", "backend": "gone", "admin": "drain"}],
  "vrrp": [
	{"name": "vip", "interface": "eth0", "vrid": 51, "version": 3, "since": "2026-12-04T13:00:00Z", "reason": "released"},
	{"name": "moved", "interface": "eth0", "vrid": 52, "version": 3, "since": "2026-12-04T13:00:00Z"},
	{"name": "over", "interface": "eth0", "vrid": 53, "version": 3, "since": "2026-12-04T13:00:00Z", "until": "2026-12-04T14:30:00Z"},
	{"name": "gone", "interface": "eth0", "vrid": 54, "version": 3, "since": "2026-12-04T13:00:00Z"}]}`)
	p, err := PreviewStateFile(cfg, now)
	if err != nil {
		t.Fatal(err)
	}
	wantRestored := []string{
		"amqp/rmq1 weight 5",
		"amqp/rmq2 maint",
		"VRRP instance vip released since 2026-12-04T13:00:00Z until rmqlb vrrp ready",
	}
	wantLeftOut := []string{
		"amqp/rmq2 weight 3: the backend's settings changed in the configuration since (as a reload that changes them, a start drops the operator's weight)",
		"amqp/gone drain: no such backend in the configuration",
		"VRRP instance moved released since 2026-12-04T13:00:00Z until rmqlb vrrp ready: the instance is another virtual router now (was eth0 VRID 52 version 3)",
		"VRRP instance over released since 2026-12-04T13:00:00Z until 2026-12-04T14:30:00Z: it ended while the daemon was stopped",
		"VRRP instance gone released since 2026-12-04T13:00:00Z until rmqlb vrrp ready: no such VRRP instance in the configuration",
	}
	if !p.Exists || !p.Saved.Equal(time.Date(2026, 12, 4, 14, 0, 0, 0, time.UTC)) || !slices.Equal(p.Restored, wantRestored) || !slices.Equal(p.LeftOut, wantLeftOut) {
		t.Errorf("preview:\n%+v\nwant restored\n%q\nleft out\n%q", p, wantRestored, wantLeftOut)
	}
	// Before the end of the release of "over": restored, with what is left.
	plan := planRestore(cfg, mustReadOpState(t, state), time.Date(2026, 12, 4, 14, 0, 0, 0, time.UTC))
	if i := slices.IndexFunc(plan, func(a restoreAction) bool { return a.release.Name == "over" }); i < 0 || plan[i].skip != "" || plan[i].left != 30*time.Minute {
		t.Errorf("the release of over before its end: %+v", plan)
	}

	writeFile(t, state, `{"version": 7}`)
	if _, err := PreviewStateFile(cfg, now); err == nil || !strings.Contains(err.Error(), "version 7, want 1") {
		t.Errorf("a file that is not one: %v", err)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

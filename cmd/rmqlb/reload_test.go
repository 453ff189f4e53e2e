package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/rmqlb/rmqlb/control"
)

// TestReloadDryRun: rmqlb reload --dry-run asks for the plan, prints each
// change with its effects below it, the restarts and the warnings, and
// exits 1 when a reload would refuse the file or a change in it, or be
// refused now, with --json too, which prints the answer as it came; a
// daemon that predates the dry run is named as such.
func TestReloadDryRun(t *testing.T) {
	var answer any
	var refuse error
	f := newFakeDaemon(t, func(control.Request) (any, error) { return answer, refuse })
	dry := []string{"reload", "--dry-run", "--socket", f.sock}
	req := []string{"reload", "dry-run"}

	answer = control.ReloadPlan{
		Changes: []control.PlannedChange{
			{Change: "listener amqp updated", Effects: []string{"backend b removed: its 2 sessions are closed at once (on_marked_down shutdown-sessions)", "maxconn changed, for new connections"}},
			{Change: "check of amqp/c added"},
		},
		Pending:  []string{"line 5: vrrp_instances[0].interface: changed from eth0 to eth1: needs a restart"},
		Warnings: []string{"a warning"},
	}
	runCLICases(t, f, []cliCase{{args: dry, code: 0, req: req, out: "dry run: nothing was applied\n" +
		"would apply: listener amqp updated\n" +
		"    backend b removed: its 2 sessions are closed at once (on_marked_down shutdown-sessions)\n" +
		"    maxconn changed, for new connections\n" +
		"would apply: check of amqp/c added\n" +
		"would need restart: line 5: vrrp_instances[0].interface: changed from eth0 to eth1: needs a restart\n" +
		restartInPlace + "\n" +
		"warning: a warning\n"}})

	asJSON := append(dry[:len(dry):len(dry)], "--json")
	runCLICases(t, f, []cliCase{{args: asJSON, code: 0, req: req, out: `"changes": [
    {
      "change": "listener amqp updated",
      "effects": [
        "backend b removed: its 2 sessions are closed at once (on_marked_down shutdown-sessions)",`}})

	answer = control.ReloadPlan{}
	runCLICases(t, f, []cliCase{{args: dry, code: 0, req: req, out: "dry run: nothing was applied\nnothing would change\n"}})

	answer = control.ReloadPlan{Error: "line 1: listeners[0].bind: not an address"}
	runCLICases(t, f, []cliCase{{args: dry, code: 1, req: req,
		err: "a reload would refuse the file, and the daemon would run on unchanged:\nline 1: listeners[0].bind: not an address\n"}})

	answer = control.ReloadPlan{Changes: []control.PlannedChange{{Change: "vrrp instance v updated: priority"}},
		Refused: []string{"vrrp instance w: 192.0.2.100 is still a VIP of vrrp instance v"}}
	runCLICases(t, f, []cliCase{{args: dry, code: 1, req: req, out: "would apply: vrrp instance v updated: priority\n",
		err: "would be refused: vrrp instance w: 192.0.2.100 is still a VIP of vrrp instance v\n"}})

	answer = control.ReloadPlan{Blocked: "an upgrade is under way (new process pid 42)", Changes: []control.PlannedChange{{Change: "listener amqp updated"}}}
	runCLICases(t, f, []cliCase{{args: dry, code: 1, req: req, out: "would apply: listener amqp updated\n",
		err: "a reload now would be refused: an upgrade is under way (new process pid 42)"}})

	answer = control.ReloadPlan{Error: "line 1: listeners[0].bind: not an address"}
	runCLICases(t, f, []cliCase{{args: asJSON, code: 1, req: req, out: `"error": "line 1: listeners[0].bind: not an address"`}})

	answer, refuse = nil, errors.New("usage: reload")
	runCLICases(t, f, []cliCase{{args: dry, code: 2, req: req, err: "usage: reload (this daemon predates --dry-run)"}})
}

// TestReloadDryRunFile: --file names a candidate to the daemon by its
// absolute path and the plan is printed as of that file (a candidate the
// daemon may not read with a hint of whose permissions count); --file
// without --dry-run is a usage error, and a daemon that predates --file
// is named as such.
func TestReloadDryRunFile(t *testing.T) {
	var answer any
	var refuse error
	f := newFakeDaemon(t, func(control.Request) (any, error) { return answer, refuse })
	t.Chdir(t.TempDir())
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	abs := filepath.Join(wd, "new.yaml")
	args := []string{"reload", "--dry-run", "--file", "new.yaml", "--socket", f.sock}
	req := []string{"reload", "dry-run", abs}

	answer = control.ReloadPlan{File: abs, Changes: []control.PlannedChange{{Change: "listener amqp updated"}}}
	runCLICases(t, f, []cliCase{{args: args, code: 0, req: req,
		out: "dry run of " + abs + " in place of the daemon's file: nothing was applied\nwould apply: listener amqp updated\n"}})
	answer = control.ReloadPlan{File: abs, Error: "line 1: listeners[0].bind: not an address"}
	runCLICases(t, f, []cliCase{{args: args, code: 1, req: req,
		err: "a reload would refuse " + abs + ", and the daemon would run on unchanged:\nline 1: listeners[0].bind: not an address\n"}})

	answer = control.ReloadPlan{File: abs, Error: "reading config: open " + abs + ": permission denied"}
	runCLICases(t, f, []cliCase{{args: args, code: 1, req: req,
		err: "permission denied\n(the daemon reads a candidate as its own user, the packaged daemon's is rmqlb: make the file, and the files it names, readable by it, as they must be once installed)\n"}})

	answer, refuse = nil, errors.New("reload dry-run of another file: only root or the daemon's user may have the daemon read a file named to it")
	runCLICases(t, f, []cliCase{{args: args, code: 2, req: req, err: "only root or the daemon's user"}})
	refuse = errors.New("usage: reload [dry-run]")
	runCLICases(t, f, []cliCase{{args: args, code: 2, req: req, err: "usage: reload [dry-run] (this daemon predates --file)"}})
	refuse = errors.New("usage: reload")
	runCLICases(t, f, []cliCase{{args: args, code: 2, req: req, err: "usage: reload (this daemon predates --dry-run)"}})

	runCLICases(t, f, []cliCase{{args: []string{"reload", "--file", "new.yaml", "--socket", f.sock}, code: 2, err: "--file names the candidate of a dry run: add --dry-run"}})
}

// TestReloadJSON: rmqlb reload --json prints the daemon's answer as it
// came, and exits as without it: 1 when a change was refused.
func TestReloadJSON(t *testing.T) {
	var answer control.Reload
	f := newFakeDaemon(t, func(control.Request) (any, error) { return answer, nil })
	args := []string{"reload", "--json", "--socket", f.sock}
	answer = control.Reload{Applied: []string{"listener amqp updated"}}
	runCLICases(t, f, []cliCase{{args: args, code: 0, req: []string{"reload"}, out: "\"applied\": [\n    \"listener amqp updated\"\n  ]"}})
	answer = control.Reload{Refused: []string{"listener mgmt: address in use"}}
	runCLICases(t, f, []cliCase{{args: args, code: 1, req: []string{"reload"}, out: "\"refused\": ["}})
}

// TestReloadPending: rmqlb reload prints what needs a restart, and then
// once that an upgrade in place applies it; nothing of it when nothing
// does.
func TestReloadPending(t *testing.T) {
	var answer control.Reload
	f := newFakeDaemon(t, func(control.Request) (any, error) { return answer, nil })
	args := []string{"reload", "--socket", f.sock}
	answer = control.Reload{Applied: []string{"vrrp instance v updated: priority"}, Pending: []string{
		"line 5: vrrp_instances[0].interface: changed from eth0 to eth1: needs a restart",
		"line 12: vrrp_instances[1].version: changed from 2 to 3: needs a restart"}}
	runCLICases(t, f, []cliCase{{args: args, code: 0, req: []string{"reload"}, out: "applied: vrrp instance v updated: priority\n" +
		"needs restart: line 5: vrrp_instances[0].interface: changed from eth0 to eth1: needs a restart\n" +
		"needs restart: line 12: vrrp_instances[1].version: changed from 2 to 3: needs a restart\n" +
		restartInPlace + "\n"}})
	answer = control.Reload{Applied: []string{"vrrp instance v updated: priority"}}
	var out, errb bytes.Buffer
	if code := run(args, &out, &errb); code != 0 || out.String() != "applied: vrrp instance v updated: priority\n" {
		t.Errorf("nothing pending: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
}

package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/notify"
)

// TestNotifyCommand runs `rmqlb notify` against a control socket whose
// handler records the requests: the arguments reach the daemon as the
// notify command, the outcome and output are printed, and the exit status
// says whether the hook exited 0.
func TestNotifyCommand(t *testing.T) {
	f := newFakeDaemon(t, func(req control.Request) (any, error) {
		if req.Args[0] != "vip" {
			return nil, errors.New(`no vrrp instance "` + req.Args[0] + `"`)
		}
		run := notify.TestRun{Argv: []string{"/etc/rmqlb/hooks/vip.sh", req.Args[1]}, Output: []string{"stdout: moving the VIP", "stderr: no route"},
			RunInfo: notify.RunInfo{State: strings.ToUpper(req.Args[1]), Result: notify.ResultOK, Duration: 12 * time.Millisecond}}
		if req.Args[1] == "fault" {
			run.Result, run.Error = notify.ResultFailed, "running notify fault hook /etc/rmqlb/hooks/vip.sh: exit status 3"
		}
		return control.HookTest{Instance: req.Args[0], TestRun: run}, nil
	})
	sock := f.sock
	runCLICases(t, f, []cliCase{
		{[]string{"notify", "--socket", sock, "vip", "master"}, 0, []string{"notify", "vip", "master"},
			"vip: master hook /etc/rmqlb/hooks/vip.sh master: ok in 12ms\n  stdout: moving the VIP\n  stderr: no route\n", ""},
		{[]string{"notify", "vip", "fault", "--socket", sock}, 1, []string{"notify", "vip", "fault"},
			"vip: fault hook /etc/rmqlb/hooks/vip.sh fault: failed in 12ms", "rmqlb notify: running notify fault hook /etc/rmqlb/hooks/vip.sh: exit status 3\n"},
		{[]string{"notify", "--socket", sock, "other", "master"}, 1, []string{"notify", "other", "master"}, "", `rmqlb notify: no vrrp instance "other"`},
		{[]string{"notify", "--socket", sock, "vip"}, 2, nil, "", "usage:"},
		{[]string{"notify"}, 2, nil, "", "usage:"},
	})
}

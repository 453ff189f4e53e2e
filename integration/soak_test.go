package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/integration/netlab"
	"github.com/rmqlb/rmqlb/internal/rabbittest"
)

// soakFaults are the rows the lab's soak runs by default, in order.
var soakFaults = []string{"cut-owner", "cut-other", "kill-rmqlb", "term-rmqlb", "stop-app", "freeze-broker", "kill-broker", "random"}

// soakReport is the part of the soak's -json file the tests read.
type soakReport struct {
	Checks             string        `json:"checks"`
	OutOfRotationBound time.Duration `json:"out_of_rotation_bound_ns"`
	Cycles             []struct {
		Row, Fault, Target    string
		Roles, Errors         []string
		FalseDowns            []string `json:"false_downs"`
		PartitionsLeft        string   `json:"partitions_left"`
		AppsLeftStopped       string   `json:"apps_left_stopped"`
		Confirmed, Lost       int
		ProducerOutage        time.Duration `json:"producer_outage_ns"`
		ConsumerOutage        time.Duration `json:"consumer_outage_ns"`
		ProducerOutageRestore time.Duration `json:"producer_outage_restore_ns"`
		ConsumerOutageRestore time.Duration `json:"consumer_outage_restore_ns"`
		OutOfRotation         time.Duration `json:"out_of_rotation_ns"`
		ProducerReconnects    int           `json:"producer_reconnects"`
		ConsumerReconnects    int           `json:"consumer_reconnects"`
		VIPTransitions        int           `json:"vip_transitions"`
		RecoveredAfter        time.Duration `json:"recovered_after_ns"`
	} `json:"cycles"`
	Totals struct{ Confirmed, Received, Lost, Duplicates int } `json:"totals"`
}

// requireLab skips unless the lab can run here: root, iproute2 and the
// RabbitMQ binaries.
func requireLab(t *testing.T) {
	t.Helper()
	netlab.Require(t, "bridge")
	if err := rabbittest.Available(); err != nil {
		t.Skip(err)
	}
}

// TestLabSoak runs the demo lab's fault soak (cmd/rmqlb-lab -soak) with one
// cycle of every fault on the three-node topology with the README's
// settings: producer and consumer through the VIP, every cycle injected,
// repaired and recovered, no confirmed message lost, a frozen broker out of
// rotation within the checks' bound (plus the usual scheduling slack), and
// an SVG timeline per fault. The outages are logged, not asserted.
func TestLabSoak(t *testing.T) {
	requireLab(t)
	lab, bin := goBinary(t, "cmd/rmqlb-lab", ""), rmqlbBinary(t)
	dir := t.TempDir()
	jsonPath, svgDir := filepath.Join(dir, "soak.json"), filepath.Join(dir, "svg")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, lab, "-rmqlb", bin, "-soak", "-cycles", "1",
		"-json", jsonPath, "-svg", svgDir, "-events", filepath.Join(dir, "events"))
	// Ctrl-C, not SIGKILL, when the test's own deadline comes: the lab
	// then removes its namespaces.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = time.Minute
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	err := cmd.Run()
	t.Logf("rmqlb-lab -soak -cycles 1 took %v; its output:\n%s", time.Since(t0).Round(time.Second), out.String())
	if err != nil {
		ev, _ := os.ReadFile(filepath.Join(dir, "events"))
		t.Fatalf("soak: %v\nthe lab's last events:\n%s\nlast lines of the events file (the processes' logs):\n%s",
			err, tail(withoutDumps(string(ev)), 80), tail(string(ev), 60))
	}

	var rep soakReport
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("soak JSON: %v", err)
	}
	if rep.OutOfRotationBound <= 0 {
		t.Fatalf("soak JSON has no out_of_rotation_bound_ns: %s", b)
	}
	rows := map[string]int{}
	for _, c := range rep.Cycles {
		rows[c.Row]++
		t.Logf("%-13s %-13s on %s %v: outage producer %v consumer %v, after the repair %v / %v; reconnects %d/%d; VIP moves %d; out of rotation %v; false DOWN %v; partitions RabbitMQ left %q; applications RabbitMQ left stopped %q",
			c.Row, c.Fault, c.Target, c.Roles, c.ProducerOutage.Round(time.Millisecond), c.ConsumerOutage.Round(time.Millisecond),
			c.ProducerOutageRestore.Round(time.Millisecond), c.ConsumerOutageRestore.Round(time.Millisecond),
			c.ProducerReconnects, c.ConsumerReconnects, c.VIPTransitions, c.OutOfRotation.Round(time.Millisecond), c.FalseDowns, c.PartitionsLeft, c.AppsLeftStopped)
		if len(c.Errors) > 0 {
			t.Errorf("%s cycle on %s: %v", c.Row, c.Target, c.Errors)
		}
		if c.Lost != 0 {
			t.Errorf("%s cycle on %s lost %d confirmed messages", c.Row, c.Target, c.Lost)
		}
		if c.Confirmed == 0 {
			t.Errorf("%s cycle on %s confirmed no message", c.Row, c.Target)
		}
		if c.Fault == "freeze-broker" {
			if bound := rep.OutOfRotationBound + netlab.SchedulingSlack; c.OutOfRotation <= 0 || c.OutOfRotation > bound {
				t.Errorf("frozen broker %s out of rotation after %v, bound %v (%s) + %v slack", c.Target, c.OutOfRotation, rep.OutOfRotationBound, rep.Checks, netlab.SchedulingSlack)
			}
		}
	}
	for _, f := range soakFaults {
		if rows[f] != 1 {
			t.Errorf("fault %s ran %d cycles, want 1", f, rows[f])
		}
		checkSoakSVG(t, filepath.Join(svgDir, f+".svg"))
	}
	if rep.Totals.Lost != 0 || rep.Totals.Confirmed == 0 || rep.Totals.Received < rep.Totals.Confirmed {
		t.Errorf("totals: %+v", rep.Totals)
	}
}

// checkSoakSVG checks that path is well-formed XML with an svg root and
// the timeline's series and lanes.
func checkSoakSVG(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Error(err)
		return
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	ids := map[string]bool{}
	root := ""
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Errorf("%s is not well-formed XML: %v", path, err)
			return
		}
		if se, ok := tok.(xml.StartElement); ok {
			if root == "" {
				root = se.Name.Local
			}
			for _, a := range se.Attr {
				if a.Name.Local == "id" {
					ids[a.Value] = true
				}
			}
		}
	}
	if root != "svg" {
		t.Errorf("%s: root element %q", path, root)
	}
	for _, id := range []string{"confirms", "deliveries", "vip", "backend-rmq1", "backend-rmq2", "backend-rmq3", "mark-0", "mark-1"} {
		if !ids[id] {
			t.Errorf("%s has no element %q", path, id)
		}
	}
}

// TestLabSoakInterrupt interrupts the soak (SIGINT, as Ctrl-C does) while a
// link is cut and checks that the lab removed everything: its namespaces,
// their /etc/netns files, every RabbitMQ process (by rabbittest's marker)
// and every rmqlb process (the rmqlb binary in one of the lab's
// namespaces).
func TestLabSoakInterrupt(t *testing.T) {
	requireLab(t)
	lab, bin := goBinary(t, "cmd/rmqlb-lab", ""), rmqlbBinary(t)
	dir := t.TempDir()
	events := filepath.Join(dir, "events")
	cmd := exec.Command(lab, "-rmqlb", bin, "-soak", "-faults", "cut-owner", "-cycles", "1", "-cut", "2m", "-events", events)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		netlab.Sweep() // the lab died: remove what it left (the checks below have run)
	})

	// Wait for the cut.
	if err := waitFor(3*time.Minute, func() (bool, error) {
		select {
		case err := <-done:
			done <- err
			return false, fmt.Errorf("lab exited before the fault: %v\n%s", err, out.String())
		default:
		}
		ev, _ := os.ReadFile(events)
		return bytes.Contains(ev, []byte("FAULT cut-owner")), errors.New("no FAULT line in the events yet")
	}); err != nil {
		t.Fatal(err)
	}
	if len(ownedNamespaces(pid)) == 0 {
		t.Fatal("the running lab has no namespaces named after its pid: the check below would prove nothing")
	}
	if len(markedProcesses(pid)) == 0 {
		t.Fatal("the running lab has no marked RabbitMQ processes: the check below would prove nothing")
	}
	// The lab's rmqlb processes run bin in the lab's namespaces; the
	// namespaces' inodes still name them once the names are deleted.
	labNS := netnsInodes(pid)
	if len(processesIn(labNS, bin)) == 0 {
		t.Fatal("no rmqlb process runs in the lab's namespaces: the check below would prove nothing")
	}
	time.Sleep(time.Second) // inside the fault
	t0 := time.Now()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-done:
		done <- err
	case <-time.After(2 * time.Minute):
		t.Fatalf("lab still running 2m after SIGINT:\n%s", out.String())
	}
	t.Logf("lab exited %v after SIGINT (%v); output:\n%s", time.Since(t0).Round(time.Millisecond), err, out.String())
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("exit status after SIGINT: %v, want 1", err)
	}
	if !strings.Contains(out.String(), "lab removed") {
		t.Errorf("no 'lab removed' line in the output")
	}
	if ns := ownedNamespaces(pid); len(ns) > 0 {
		t.Errorf("namespaces left behind: %v", ns)
	}
	if ps := markedProcesses(pid); len(ps) > 0 {
		t.Errorf("RabbitMQ processes left behind: %v", ps)
	}
	if ps := processesIn(labNS, bin); len(ps) > 0 {
		t.Errorf("rmqlb processes left behind: %v", ps)
	}
}

// netnsInodes returns the inodes of the named network namespaces of the
// labs made by process pid: they identify a namespace, and the processes
// in it, after its name is deleted.
func netnsInodes(pid int) map[uint64]bool {
	inodes := map[uint64]bool{}
	prefix := "nl" + strconv.Itoa(pid) + "_"
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		fi, err := os.Stat(filepath.Join("/run/netns", e.Name()))
		if err != nil {
			continue
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			inodes[st.Ino] = true
		}
	}
	return inodes
}

// processesIn lists the live processes that run the executable exe
// (their argv[0] or /proc/PID/exe) in one of the network namespaces whose
// inodes are given.
func processesIn(inodes map[uint64]bool, exe string) []int {
	if abs, err := filepath.Abs(exe); err == nil {
		exe = abs
	}
	ents, _ := os.ReadDir("/proc")
	var ps []int
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		link, err := os.Readlink(filepath.Join("/proc", e.Name(), "ns", "net"))
		if err != nil {
			continue
		}
		var ino uint64
		if _, err := fmt.Sscanf(link, "net:[%d]", &ino); err != nil || !inodes[ino] {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		argv0, _, _ := bytes.Cut(cmdline, []byte{0})
		path, _ := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if string(argv0) == exe || path == exe {
			ps = append(ps, p)
		}
	}
	return ps
}

// ownedNamespaces lists the namespaces and /etc/netns entries of the labs
// made by process pid.
func ownedNamespaces(pid int) []string {
	prefix := "nl" + strconv.Itoa(pid) + "_"
	var left []string
	for _, d := range []string{"/run/netns", "/etc/netns"} {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), prefix) {
				left = append(left, filepath.Join(d, e.Name()))
			}
		}
	}
	return left
}

// markedProcesses lists the live processes started by rabbittest in
// process pid (their environment carries pid's marker).
func markedProcesses(pid int) []int {
	mark := []byte("RMQLB_RABBITTEST_MARK=p" + strconv.Itoa(pid) + "-")
	ents, _ := os.ReadDir("/proc")
	var ps []int
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		if bytes.Contains(env, mark) {
			ps = append(ps, p)
		}
	}
	return ps
}

// withoutDumps returns the lab's events file without the logs of its
// processes that netlab dumps into it when the lab is removed (a header
// line "netlab: --- output of ..." and its indented lines).
func withoutDumps(s string) string {
	var out []string
	dump := false
	for _, line := range strings.Split(s, "\n") {
		switch {
		case strings.Contains(line, "netlab: --- output of"):
			dump = true
			continue
		case dump && strings.HasPrefix(line, " "):
			continue
		}
		dump = false
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestWithoutDumps: the processes' logs netlab dumps into the events file
// are left out, the lab's own events (also their indented continuation
// lines) kept.
func TestWithoutDumps(t *testing.T) {
	in := strings.Join([]string{
		"+  1.000s  FAULT cut-owner on rmq1",
		"+  2.000s  rmq1: RabbitMQ application not running; the last lines of its log:",
		"           waiting for tables",
		"+  3.000s  netlab: --- output of rmq1/rmqlb1 (x.log), last lines:",
		"           INFO starting",
		"           INFO stopping",
		"+  4.000s  lab removed",
	}, "\n")
	want := strings.Join([]string{
		"+  1.000s  FAULT cut-owner on rmq1",
		"+  2.000s  rmq1: RabbitMQ application not running; the last lines of its log:",
		"           waiting for tables",
		"+  4.000s  lab removed",
	}, "\n")
	if got := withoutDumps(in); got != want {
		t.Errorf("withoutDumps:\n%s\nwant\n%s", got, want)
	}
}

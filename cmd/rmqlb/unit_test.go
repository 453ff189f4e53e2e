package main

import (
	"bufio"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/internal/freeport"
	"github.com/rmqlb/rmqlb/internal/sdnotifytest"
	"github.com/rmqlb/rmqlb/vrrp"
)

// The packaging files, from this package's directory.
const (
	unitPath    = "../../dist/systemd/rmqlb.service"
	examplePath = "../../dist/rmqlb.yaml"
	// unitBinary is where the unit runs rmqlb from.
	unitBinary = "/usr/sbin/rmqlb"
)

// unitFile is a systemd unit file: section -> key -> values, in order.
type unitFile map[string]map[string][]string

// readUnit parses the unit at path (KEY=VALUE lines under [Section]
// headers; comments and blank lines skipped; no continuation lines).
func readUnit(t *testing.T, path string) unitFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unitFile{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || strings.HasSuffix(line, `\`) {
				t.Fatalf("%s:%d: not a KEY=VALUE line of a section: %q", path, n, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

// one returns the single value of key in [Service].
func (u unitFile) one(t *testing.T, key string) string {
	t.Helper()
	vs := u["Service"][key]
	if len(vs) != 1 {
		t.Fatalf("[Service] %s: %q, want one value", key, vs)
	}
	return vs[0]
}

// command returns the command line of key (ExecStart, ExecReload) in
// [Service], with the unit's paths replaced by the test's.
func (u unitFile) command(t *testing.T, key string, paths *strings.Replacer) []string {
	t.Helper()
	argv := strings.Fields(u.one(t, key))
	if len(argv) == 0 || argv[0] != unitBinary {
		t.Fatalf("%s=%q does not run %s", key, argv, unitBinary)
	}
	for i := range argv {
		argv[i] = paths.Replace(argv[i])
	}
	return argv
}

// TestUnitFile: the unit agrees with the binary and the configuration
// (the config file it names is the command's default, its control socket
// is the configuration's default and lies in the unit's RuntimeDirectory,
// which the user can write), gives exactly the capabilities the daemon
// needs, keeps the host's network reachable, and passes systemd-analyze
// verify without a warning; the example configuration is valid and uses
// the same socket.
func TestUnitFile(t *testing.T) {
	u := readUnit(t, unitPath)
	if v := u.one(t, "Type"); v != "notify" {
		t.Errorf("Type=%s, want notify: the daemon says READY=1 (sd_notify)", v)
	}
	same := strings.NewReplacer()
	if argv := u.command(t, "ExecStart", same); !slices.Equal(argv, []string{unitBinary, "run", "--config", defaultConfig}) {
		t.Errorf("ExecStart=%q, want %s run --config %s", argv, unitBinary, defaultConfig)
	}
	reload := u.command(t, "ExecReload", same)
	if len(reload) < 2 || reload[1] != "reload" {
		t.Fatalf("ExecReload=%q, want rmqlb reload", reload)
	}
	if !slices.Equal(reload[2:], []string{"--config", defaultConfig}) {
		t.Errorf("ExecReload=%q, want rmqlb reload --config %s: the daemon's socket as its file says", reload, defaultConfig)
	}
	fs := flag.NewFlagSet("reload", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	defineReload(fs)
	if err := fs.Parse(reload[2:]); err != nil || fs.NArg() != 0 {
		t.Fatalf("ExecReload=%q: %v", reload, err)
	}
	if sock, err := config.ControlSocketOf("../../dist/rmqlb.yaml"); err != nil || sock != config.DefaultControlSocket {
		t.Errorf("the shipped configuration's control socket is %q (%v), the unit's runtime directory holds %s", sock, err, config.DefaultControlSocket)
	}
	rundir := "/run/" + u.one(t, "RuntimeDirectory")
	if filepath.Dir(config.DefaultControlSocket) != rundir {
		t.Errorf("the default control socket %s is not in the RuntimeDirectory %s", config.DefaultControlSocket, rundir)
	}
	if !slices.Contains(strings.Fields(u.one(t, "ReadWritePaths")), rundir) {
		t.Errorf("ReadWritePaths=%s lacks %s", u.one(t, "ReadWritePaths"), rundir)
	}
	if user := u.one(t, "User"); user != "rmqlb" {
		t.Errorf("User=%s, want rmqlb, the unprivileged system user of the package", user)
	}
	for k, want := range map[string]string{
		// A crash or a failed start is retried; a clean stop is not.
		"Restart": "on-failure",
		// /run/rmqlb outlives a restart and an upgrade in place: a new
		// daemon finds the old one's lock there.
		"RuntimeDirectoryPreserve": "yes",
		// A daemon that hangs is killed (SIGABRT) and restarted; the
		// daemon pings only from its main process, as NotifyAccess=
		// allows.
		"WatchdogSec":  "30s",
		"NotifyAccess": "main",
	} {
		if v := u.one(t, k); v != want {
			t.Errorf("%s=%s, want %s", k, v, want)
		}
	}
	caps := []string{"CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"}
	for _, k := range []string{"AmbientCapabilities", "CapabilityBoundingSet"} {
		got := strings.Fields(u.one(t, k))
		slices.Sort(got)
		if !slices.Equal(got, caps) {
			t.Errorf("%s=%q, want %q", k, got, caps)
		}
	}
	// vrrp_rt_priority: SCHED_FIFO up to 99 through RLIMIT_RTPRIO, not
	// through CAP_SYS_NICE.
	if v := u.one(t, "LimitRTPRIO"); v != strconv.Itoa(vrrp.MaxRealTimePriority) {
		t.Errorf("LimitRTPRIO=%s, want %d (vrrp_rt_priority)", v, vrrp.MaxRealTimePriority)
	}
	// vrrp_sender: process locks its memory without CAP_IPC_LOCK.
	if v := u.one(t, "LimitMEMLOCK"); v != "infinity" {
		t.Errorf("LimitMEMLOCK=%s, want infinity (the advert sender process's mlockall)", v)
	}
	if v := u.one(t, "RestrictRealtime"); v != "no" {
		t.Errorf("RestrictRealtime=%s: vrrp_rt_priority needs SCHED_FIFO", v)
	}
	if v := u.one(t, "NoNewPrivileges"); v != "yes" {
		t.Errorf("NoNewPrivileges=%s", v)
	}
	for _, k := range []string{"PrivateNetwork", "IPAddressDeny", "PrivateUsers", "SystemCallFilter"} {
		if vs, ok := u["Service"][k]; ok {
			t.Errorf("%s=%q: the daemon needs the host's network, netlink and raw sockets", k, vs)
		}
	}
	families := strings.Fields(u.one(t, "RestrictAddressFamilies"))
	for _, f := range []string{"AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK", "AF_PACKET"} {
		if !slices.Contains(families, f) {
			t.Errorf("RestrictAddressFamilies lacks %s", f)
		}
	}
	if n, err := strconv.Atoi(u.one(t, "LimitNOFILE")); err != nil || n < 4096 {
		t.Errorf("LimitNOFILE=%s: 2 per session", u.one(t, "LimitNOFILE"))
	}

	cfg, err := config.Load(examplePath)
	if err != nil {
		t.Fatalf("%s: %v", examplePath, err)
	}
	if cfg.ControlSocket != config.DefaultControlSocket || len(cfg.VRRP) == 0 || len(cfg.Listeners) == 0 {
		t.Errorf("%s: control socket %s, %d VRRP instances, %d listeners", examplePath, cfg.ControlSocket, len(cfg.VRRP), len(cfg.Listeners))
	}

	// systemd-analyze verify wants the binary to exist: point the unit at
	// the test's. It exits 0 on unknown keys and bad values, printing
	// them: any output fails.
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatalf("systemd-analyze (Debian package systemd, which scripts/setup.sh installs): %v", err)
	}
	unit, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(t.TempDir(), "rmqlb.service")
	if err := os.WriteFile(copyPath, []byte(strings.ReplaceAll(string(unit), unitBinary, binary)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", copyPath).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify %s: %v\n%s", unitPath, err, out)
	}
}

// TestUnitCommands runs the unit's ExecStart and ExecReload command lines
// as systemd would for this Type=notify unit, against a fake service
// manager: READY=1 once the daemon serves; `systemctl reload` (ExecReload)
// succeeds for a good file and fails for a bad one, each reload framed by
// RELOADING=1 and READY=1, as is a SIGHUP's; SIGTERM (systemctl stop) ends
// with STOPPING=1 and exit 0.
func TestUnitCommands(t *testing.T) {
	u := readUnit(t, unitPath)
	mgr := sdnotifytest.Listen(t, "")
	a := echo(t, "127.0.0.2")
	bind := freeport.Addr(t, "127.0.0.1")
	cfg := strings.NewReplacer("BIND", bind, "A", a, "metrics_listen: METRICS\n", "").Replace(procConfig)
	var paths *strings.Replacer
	p := startProcAs(t, cfg, []string{mgr.Env()}, func(path, socket string) []string {
		paths = strings.NewReplacer(unitBinary, binary, defaultConfig, path, config.DefaultControlSocket, socket)
		return u.command(t, "ExecStart", paths)
	})
	if msg := mgr.NextLifecycle(t, nil); !msg.Has("READY=1") {
		t.Fatalf("first notification %q, want READY=1", msg)
	}
	if s := p.status(); len(s.Listeners) != 1 || !s.Listeners[0].Listening {
		t.Fatalf("listeners when READY=1: %+v", s.Listeners)
	}

	// reload runs ExecReload and returns its exit code, output and
	// notifications (all sent before it exits: the command waits for the
	// reload's outcome).
	reload := func() (int, string, []sdnotifytest.Message) {
		t.Helper()
		argv := u.command(t, "ExecReload", paths)
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		code := 0
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, string(out), mgr.Drain(t)
	}
	framed := func(what string, msgs []sdnotifytest.Message) string {
		t.Helper()
		var life []sdnotifytest.Message
		for _, m := range msgs {
			if m.Lifecycle() {
				life = append(life, m)
			}
		}
		if len(life) != 2 || !life[0].Has("RELOADING=1") || !life[1].Has("READY=1") {
			t.Fatalf("notifications of %s: %q, want RELOADING=1 then READY=1", what, msgs)
		}
		if _, ok := life[0].Get("MONOTONIC_USEC"); !ok {
			t.Errorf("RELOADING=1 of %s without MONOTONIC_USEC: %q", what, life[0])
		}
		st, _ := life[1].Get("STATUS")
		return st
	}

	p.write(strings.Replace(cfg, "weight: 10", "weight: 7", 1))
	code, out, msgs := reload()
	if code != 0 || !strings.Contains(out, "applied: listener amqp updated") {
		t.Fatalf("ExecReload of a good file: exit %d\n%s", code, out)
	}
	if st := framed("a good reload", msgs); strings.Contains(st, "refused") {
		t.Errorf("status after a good reload: %q", st)
	}
	p.write("control_socket: SOCKET\nlisteners: [{name: amqp, bind: nowhere}]\n") // broken, but it names the socket
	code, out, msgs = reload()
	if code != 1 || !strings.Contains(out, "refused") {
		t.Fatalf("ExecReload of a bad file: exit %d, want 1\n%s", code, out)
	}
	if st := framed("a refused reload", msgs); !strings.Contains(st, "last reload refused") {
		t.Errorf("status after a refused reload: %q", st)
	}
	p.write(cfg)
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	var hup []sdnotifytest.Message
	for len(hup) < 2 {
		hup = append(hup, mgr.NextLifecycle(t, nil))
	}
	framed("SIGHUP", hup)

	p.terminate()
	rest := mgr.Drain(t)
	if len(rest) == 0 || !rest[len(rest)-1].Has("STOPPING=1") {
		t.Fatalf("notifications at stop: %q, want STOPPING=1 last", rest)
	}
}

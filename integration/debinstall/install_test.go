package debinstall

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The module's root, from this package's directory.
const root = "../.."

// Versions of the two packages built: an install, then an upgrade.
const (
	version1 = "0.0.1~installtest1"
	version2 = "0.0.1~installtest2"
)

// Where the package puts its files (README.md, "Install").
const (
	binPath  = "/usr/sbin/rmqlb"
	unitPath = "/lib/systemd/system/rmqlb.service"
	confDir  = "/etc/rmqlb"
	confPath = "/etc/rmqlb/rmqlb.yaml"
	manPath  = "/usr/share/man/man8/rmqlb.8.gz"
	bashPath = "/usr/share/bash-completion/completions/rmqlb"
	zshPath  = "/usr/share/zsh/vendor-completions/_rmqlb"
	docPath  = "/usr/share/doc/rmqlb/README.md"
	// runDir holds the control socket and the lock of a daemon that
	// runs (the unit's RuntimeDirectory, or made by the daemon).
	runDir  = "/run/rmqlb"
	example = "/usr/share/doc/rmqlb/examples/rmqlb.yaml"
	// wantsLink is what `systemctl enable rmqlb` makes.
	wantsLink = "/etc/systemd/system/multi-user.target.wants/rmqlb.service"
)

// installed are the files of the package that dpkg -r removes.
var installed = []string{binPath, unitPath, manPath, bashPath, zshPath, docPath, example}

// run runs a command and returns its stdout; stderr goes with the error.
func run(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		err = errors.Join(err, errors.New(strings.TrimSpace(stderr.String())))
	}
	return stdout.String(), err
}

// must runs a command and fails the test when it fails.
func must(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := run(name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// packageStatus is dpkg's status of the package rmqlb ("" when dpkg
// knows none).
func packageStatus() string {
	out, err := run("dpkg-query", "-W", "-f=${Status}", "rmqlb")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

// exists reports whether path exists (a dangling link counts).
func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// buildPackages builds the two packages into dir with mkdeb.
func buildPackages(t *testing.T, dir string) (deb1, deb2 string) {
	t.Helper()
	mkdeb := filepath.Join(dir, "mkdeb")
	must(t, "go", "build", "-o", mkdeb, root+"/internal/cmd/mkdeb")
	var debs []string
	for _, v := range []string{version1, version2} {
		cmd := exec.Command(mkdeb, "-version", v, "-out", dir)
		cmd.Dir = root
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("mkdeb -version %s: %v", v, err)
		}
		debs = append(debs, strings.TrimSpace(string(out)))
	}
	return debs[0], debs[1]
}

// cleanup puts the machine back as the test found it: the package purged,
// its statoverrides, /etc/rmqlb, /run/rmqlb and the enable link gone, and the user and
// group rmqlb deleted unless they were there before.
func cleanup(t *testing.T, userBefore, groupBefore bool) {
	if packageStatus() != "" {
		if out, err := run("dpkg", "--purge", "rmqlb"); err != nil {
			t.Errorf("cleanup: dpkg --purge rmqlb: %v\n%s", err, out)
		}
	}
	for _, p := range []string{confPath, confDir} {
		if _, err := run("dpkg-statoverride", "--list", p); err == nil {
			run("dpkg-statoverride", "--remove", p)
		}
	}
	os.RemoveAll(confDir)
	os.RemoveAll(runDir)
	os.Remove(wantsLink)
	if _, err := user.Lookup("rmqlb"); err == nil && !userBefore {
		if out, err := run("userdel", "rmqlb"); err != nil {
			t.Errorf("cleanup: userdel rmqlb: %v\n%s", err, out)
		}
	}
	if _, err := user.LookupGroup("rmqlb"); err == nil && !groupBefore {
		if out, err := run("groupdel", "rmqlb"); err != nil {
			t.Errorf("cleanup: groupdel rmqlb: %v\n%s", err, out)
		}
	}
}

// owner returns a file's mode, uid and gid.
func owner(t *testing.T, path string) (os.FileMode, int, int) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fi.Mode().Perm(), int(st.Uid), int(st.Gid)
}

// daemonsRunning returns the pids of processes running the installed
// binary.
func daemonsRunning() []string {
	var pids []string
	procs, _ := filepath.Glob("/proc/[0-9]*/exe")
	for _, exe := range procs {
		if target, err := os.Readlink(exe); err == nil && strings.HasPrefix(target, binPath) {
			pids = append(pids, filepath.Base(filepath.Dir(exe)))
		}
	}
	return pids
}

// netnsOf returns the network namespace of process pid ("self" for this
// one), as its /proc link names it: net:[INODE].
func netnsOf(t *testing.T, pid string) string {
	t.Helper()
	ns, err := os.Readlink("/proc/" + pid + "/ns/net")
	if err != nil {
		t.Fatalf("network namespace of pid %s: %v", pid, err)
	}
	return ns
}

// TestDebInstall installs, checks, upgrades, removes and purges the
// package on this machine.
func TestDebInstall(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("installing a Debian package needs root")
	}
	// Refuse a machine where rmqlb is installed or configured: the test
	// would remove it.
	if st := packageStatus(); st != "" {
		t.Fatalf("a package rmqlb is known to dpkg here (%s): not touching it", st)
	}
	for _, p := range append([]string{confDir, runDir, wantsLink}, installed...) {
		if exists(p) {
			t.Fatalf("%s exists before the install: not touching this machine's rmqlb", p)
		}
	}
	_, uerr := user.Lookup("rmqlb")
	_, gerr := user.LookupGroup("rmqlb")
	t.Cleanup(func() { cleanup(t, uerr == nil, gerr == nil) })

	dir := t.TempDir()
	deb1, deb2 := buildPackages(t, dir)

	// Install.
	must(t, "dpkg", "-i", deb1)
	if st := packageStatus(); st != "install ok installed" {
		t.Fatalf("after dpkg -i: status %q", st)
	}
	for _, p := range installed {
		if !exists(p) {
			t.Errorf("%s not installed", p)
		}
	}
	if out := must(t, binPath, "version"); out != "rmqlb "+version1+"\n" {
		t.Errorf("rmqlb version: %q, want rmqlb %s", out, version1)
	}
	if out, err := run(binPath, "check-config", "--config", confPath); err != nil {
		t.Errorf("rmqlb check-config --config %s: %v\n%s", confPath, err, out)
	}
	unit, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := os.ReadFile(root + "/dist/systemd/rmqlb.service"); !bytes.Equal(unit, want) {
		t.Errorf("%s differs from dist/systemd/rmqlb.service", unitPath)
	}
	if !bytes.Contains(unit, []byte("ExecStart="+binPath+" run --config "+confPath)) {
		t.Errorf("the unit does not run %s with %s", binPath, confPath)
	}

	// Nothing enabled, nothing started.
	if exists(wantsLink) {
		t.Errorf("%s exists: the package enabled the service", wantsLink)
	}
	if links, _ := filepath.Glob("/etc/systemd/system/*.wants/rmqlb.service"); len(links) > 0 {
		t.Errorf("the service is wanted by %q", links)
	}
	if pids := daemonsRunning(); len(pids) > 0 {
		t.Errorf("rmqlb runs after the install (pids %v)", pids)
	}

	// The system user and group, and who may read the configuration.
	u, err := user.Lookup("rmqlb")
	if err != nil {
		t.Fatalf("user rmqlb: %v", err)
	}
	g, err := user.LookupGroup("rmqlb")
	if err != nil {
		t.Fatalf("group rmqlb: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(g.Gid)
	if uid == 0 || uid >= 1000 || u.Gid != g.Gid {
		t.Errorf("user rmqlb: uid %d gid %s, want a system user (1..999) in group rmqlb (%d)", uid, u.Gid, gid)
	}
	if pw := must(t, "getent", "passwd", "rmqlb"); !strings.HasSuffix(strings.TrimSpace(pw), ":/usr/sbin/nologin") {
		t.Errorf("user rmqlb: %q, want the shell /usr/sbin/nologin", pw)
	}
	checkOwners := func(when string) {
		t.Helper()
		if mode, u, g := owner(t, confDir); mode != 0o750 || u != 0 || g != gid {
			t.Errorf("%s: %s is %04o %d:%d, want 0750 root:rmqlb", when, confDir, mode, u, g)
		}
		if mode, u, g := owner(t, confPath); mode != 0o640 || u != 0 || g != gid {
			t.Errorf("%s: %s is %04o %d:%d, want 0640 root:rmqlb", when, confPath, mode, u, g)
		}
	}
	checkOwners("after the install")
	// The daemon's user reads the file; others do not.
	if out, err := run("setpriv", "--reuid=rmqlb", "--regid=rmqlb", "--init-groups", binPath, "check-config", "--config", confPath); err != nil {
		t.Errorf("check-config as the user rmqlb: %v\n%s", err, out)
	}
	if _, err := run("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "cat", confPath); err == nil {
		t.Errorf("user nobody reads %s", confPath)
	}
	if out := must(t, "dpkg-query", "-W", "-f=${Conffiles}", "rmqlb"); !strings.Contains(out, confPath) {
		t.Errorf("conffiles: %q, want %s", out, confPath)
	}

	// The manual page renders without a warning and man finds it; the
	// completions load.
	cmd := exec.Command("man", "--warnings", "-l", manPath)
	cmd.Env = append(os.Environ(), "MANWIDTH=80", "PAGER=cat", "MANPAGER=cat", "LC_ALL=C.UTF-8")
	var manOut, manErr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &manOut, &manErr
	if err := cmd.Run(); err != nil || manErr.Len() > 0 || !regexp.MustCompile(`r.?m.?q.?l.?b.? .?s.?t.?a.?t.?u.?s`).Match(manOut.Bytes()) {
		t.Errorf("man --warnings -l %s: %v\nstderr: %s\n%.500s", manPath, err, manErr.String(), manOut.String())
	}
	if out := must(t, "man", "-w", "rmqlb"); strings.TrimSpace(out) != manPath {
		t.Errorf("man -w rmqlb: %q, want %s", out, manPath)
	}
	if out := must(t, "bash", "--norc", "-c", "source "+bashPath+" && complete -p rmqlb"); strings.TrimSpace(out) != "complete -F _rmqlb rmqlb" {
		t.Errorf("bash completion: %q", out)
	}
	must(t, "zsh", "-n", zshPath)

	// An upgrade keeps the administrator's file and its owners, and
	// starts nothing.
	f, err := os.OpenFile(confPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("# changed by the administrator\n")
	f.Close()
	local, _ := os.ReadFile(confPath)
	must(t, "dpkg", "-i", deb2)
	if out := must(t, binPath, "version"); out != "rmqlb "+version2+"\n" {
		t.Errorf("after the upgrade, rmqlb version: %q, want rmqlb %s", out, version2)
	}
	if b, _ := os.ReadFile(confPath); !bytes.Equal(b, local) {
		t.Errorf("the upgrade changed the administrator's %s:\n%s", confPath, b)
	}
	checkOwners("after the upgrade")
	if pids := daemonsRunning(); len(pids) > 0 || exists(wantsLink) {
		t.Errorf("after the upgrade: rmqlb runs (pids %v) or is enabled (%v)", pids, exists(wantsLink))
	}

	// A running daemon goes on with the package's new program: here a
	// downgrade to the first package, while the daemon (inert: only its
	// control socket) runs the second.
	// Its log is a file: the new process inherits it and outlives the
	// old one.
	logFile, err := os.Create(filepath.Join(dir, "daemon.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	daemonLog := func() string { b, _ := os.ReadFile(logFile.Name()); return string(b) }
	// The daemon runs in a network namespace of its own, made for it
	// (unshare): even inert, it never runs in the machine's. The
	// namespace goes with the last process in it, which the cleanup
	// below stops.
	daemon := exec.Command(binPath, "run", "--config", confPath)
	daemon.Stdout, daemon.Stderr = logFile, logFile
	daemon.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNET}
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- daemon.Wait() }()
	t.Cleanup(func() {
		for _, pid := range daemonsRunning() {
			if n, err := strconv.Atoi(pid); err == nil {
				syscall.Kill(n, syscall.SIGTERM)
			}
		}
	})
	statusOf := func() (version string, pid int) {
		out, err := run(binPath, "status", "--config", confPath, "--json")
		if err != nil {
			return "", 0
		}
		var st struct {
			Version string `json:"version"`
			PID     int    `json:"pid"`
		}
		json.Unmarshal([]byte(out), &st)
		return st.Version, st.PID
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 10 s\ndaemon output:\n%s", what, daemonLog())
			}
		}
	}
	waitUntil("the daemon answers", func() bool { v, _ := statusOf(); return v == version2 })
	hostNS := netnsOf(t, "self")
	daemonNS := netnsOf(t, strconv.Itoa(daemon.Process.Pid))
	if daemonNS == hostNS {
		t.Fatalf("the daemon runs in the machine's network namespace (%s)", hostNS)
	}
	out := must(t, "dpkg", "-i", deb1)
	if !strings.Contains(out, "upgraded: pid ") {
		t.Errorf("dpkg -i of the other version while the daemon runs: %q, want rmqlb upgrade's answer", out)
	}
	v, pid := statusOf()
	if v != version1 || pid == daemon.Process.Pid {
		t.Errorf("after the package's upgrade the daemon is version %q, pid %d (was %d)", v, pid, daemon.Process.Pid)
	}
	if pid > 0 {
		if ns := netnsOf(t, strconv.Itoa(pid)); ns != daemonNS {
			t.Errorf("the new daemon runs in network namespace %s, want its predecessor's %s (the machine's is %s)", ns, daemonNS, hostNS)
		}
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("the replaced daemon: %v\n%s", err, daemonLog())
		}
	case <-time.After(10 * time.Second):
		t.Error("the replaced daemon did not exit")
	}
	if pid > 0 {
		syscall.Kill(pid, syscall.SIGTERM)
		waitUntil("the new daemon stops", func() bool { return len(daemonsRunning()) == 0 })
	}

	// The administrator enables the service (as systemctl enable does),
	// then removes the package: the files go, the configuration stays.
	if err := os.MkdirAll(filepath.Dir(wantsLink), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(unitPath, wantsLink); err != nil {
		t.Fatal(err)
	}
	must(t, "dpkg", "-r", "rmqlb")
	if st := packageStatus(); st != "deinstall ok config-files" {
		t.Errorf("after dpkg -r: status %q", st)
	}
	for _, p := range installed {
		if exists(p) {
			t.Errorf("%s left after dpkg -r", p)
		}
	}
	if !exists(confPath) {
		t.Errorf("dpkg -r removed %s (only a purge should)", confPath)
	}

	// Purge: the configuration, the statoverrides, the daemon's runtime
	// directory and the link go; the system user stays (postrm says why).
	must(t, "dpkg", "-P", "rmqlb")
	if st := packageStatus(); st != "" && !strings.HasSuffix(st, "not-installed") {
		t.Errorf("after dpkg -P: status %q", st)
	}
	for _, p := range []string{confDir, runDir, wantsLink} {
		if exists(p) {
			t.Errorf("%s left after dpkg -P", p)
		}
	}
	for _, p := range []string{confPath, confDir} {
		if out, err := run("dpkg-statoverride", "--list", p); err == nil {
			t.Errorf("statoverride of %s left after dpkg -P: %s", p, out)
		}
	}
	if _, err := user.Lookup("rmqlb"); err != nil {
		t.Errorf("user rmqlb gone after the purge (%v): the package leaves it, as Debian packages do", err)
	}
}

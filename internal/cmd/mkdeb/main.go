package main

import (
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
)

func main() {
	version := flag.String("version", "", "the package's and the binary's `VERSION` (Debian syntax: starts with a digit)")
	arch := flag.String("arch", "amd64", "Debian `ARCH`itecture to build for (GOARCH of the same name: amd64, arm64)")
	out := flag.String("out", ".", "`DIR`ectory to write rmqlb_VERSION_ARCH.deb to")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "mkdeb: unexpected argument %q\n", flag.Arg(0))
		os.Exit(2)
	}
	path, err := build(*version, *arch, *out)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mkdeb: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(path)
}

// versionRE is a Debian upstream version without an epoch.
var versionRE = regexp.MustCompile(`^[0-9][A-Za-z0-9.+~-]*$`)

// build builds the package and returns its path.
func build(version, arch, out string) (string, error) {
	if !versionRE.MatchString(version) {
		return "", fmt.Errorf("-version %q: want a Debian version starting with a digit (1.2.3)", version)
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp("", "rmqlb-mkdeb-")
	if err != nil {
		return "", fmt.Errorf("making the build directory: %w", err)
	}
	defer os.RemoveAll(tmp)

	gobuild := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+version,
		"-o", filepath.Join(tmp, binarySource), "./cmd/rmqlb")
	gobuild.Dir = root
	gobuild.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "CGO_ENABLED=0")
	gobuild.Stdout, gobuild.Stderr = os.Stderr, os.Stderr
	if err := gobuild.Run(); err != nil {
		return "", fmt.Errorf("building rmqlb for %s: %w", arch, err)
	}
	if err := gzipFile(filepath.Join(root, srcMan), filepath.Join(tmp, manualSource)); err != nil {
		return "", err
	}

	info := packageInfo(root, tmp, version, arch)
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return "", fmt.Errorf("preparing the package: %w", err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", fmt.Errorf("making %s: %w", out, err)
	}
	path := filepath.Join(out, deb.Default.ConventionalFileName(info))
	f, err := os.Create(path)
	if err != nil {
		return "", fmt.Errorf("writing the package: %w", err)
	}
	if err := deb.Default.Package(info, f); err != nil {
		f.Close()
		os.Remove(path)
		return "", fmt.Errorf("writing the package: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("writing the package: %w", err)
	}
	return path, nil
}

// packageInfo describes the package: root is the module's root, build
// the directory of the binary and the gzipped manual page.
func packageInfo(root, build, version, arch string) *nfpm.Info {
	in := func(p string) string { return filepath.Join(root, p) }
	return nfpm.WithDefaults(&nfpm.Info{
		Name:          "rmqlb",
		Arch:          arch,
		Platform:      "linux",
		Version:       version,
		VersionSchema: "none",
		Section:       "net",
		Priority:      "optional",
		Maintainer:    "rmqlb developers <rmqlb@localhost>",
		Homepage:      "https://github.com/rmqlb/rmqlb",
		Description: "VRRP virtual addresses and TCP load balancer for RabbitMQ\n" +
			"rmqlb replaces keepalived, LVS and HAProxy in front of a RabbitMQ\n" +
			"cluster: it speaks VRRP to own virtual IP addresses, proxies AMQP\n" +
			"connections on them to the brokers and checks the brokers with an\n" +
			"AMQP handshake. The package installs an inert configuration and\n" +
			"neither enables nor starts the service.",
		// Files dated like the source's last change would be better; a
		// fixed date keeps two builds of one tree identical.
		MTime: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Overridables: nfpm.Overridables{
			Depends:  []string{"adduser"},
			Contents: contents(root, build),
			Scripts: nfpm.Scripts{
				PostInstall: in(srcPostinst),
				PreRemove:   in(srcPrerm),
				PostRemove:  in(srcPostrm),
			},
		},
	})
}

// gzipFile writes src gzipped at dst, without a name or a time in the
// header (gzip -n), so that two builds are identical.
func gzipFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("reading the manual page: %w", err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("gzipping the manual page: %w", err)
	}
	zw, _ := gzip.NewWriterLevel(out, gzip.BestCompression)
	_, err = io.Copy(zw, in)
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("gzipping the manual page: %w", err)
	}
	return nil
}

// moduleRoot returns the root of the module mkdeb runs in.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("finding the module: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("finding the module: run mkdeb inside rmqlb's source tree")
	}
	return filepath.Dir(mod), nil
}

package main

import (
	"os"

	"github.com/goreleaser/nfpm/v2/files"
)

// Where the package puts its files, and what of the source tree (paths
// from the module's root) goes there.
const (
	binPath      = "/usr/sbin/rmqlb"
	unitPath     = "/lib/systemd/system/rmqlb.service"
	confDir      = "/etc/rmqlb"
	confPath     = "/etc/rmqlb/rmqlb.yaml"
	manPath      = "/usr/share/man/man8/rmqlb.8.gz"
	bashPath     = "/usr/share/bash-completion/completions/rmqlb"
	zshPath      = "/usr/share/zsh/vendor-completions/_rmqlb"
	docDir       = "/usr/share/doc/rmqlb"
	srcUnit      = "dist/systemd/rmqlb.service"
	srcConf      = "dist/debian/rmqlb.yaml"
	srcExample   = "dist/rmqlb.yaml"
	srcMan       = "dist/man/rmqlb.8"
	srcBash      = "dist/completion/rmqlb.bash"
	srcZsh       = "dist/completion/_rmqlb"
	srcReadme    = "README.md"
	srcPostinst  = "dist/debian/postinst"
	srcPrerm     = "dist/debian/prerm"
	srcPostrm    = "dist/debian/postrm"
	manualSource = "rmqlb.8.gz" // the gzipped manual page, in the build directory
	binarySource = "rmqlb"      // the binary, in the build directory
)

// contents lists the package's files: root is the module's root, build
// the directory holding the binary and the gzipped manual page. Modes are
// given, never taken from the source tree, and everything is root's: the
// postinst hands /etc/rmqlb and its file to the group rmqlb.
func contents(root, build string) files.Contents {
	file := func(src, dst string, mode os.FileMode) *files.Content {
		return &files.Content{Source: src, Destination: dst, FileInfo: &files.ContentFileInfo{Mode: mode, Owner: "root", Group: "root"}}
	}
	in := func(p string) string { return root + "/" + p }
	conf := file(in(srcConf), confPath, 0o640)
	conf.Type = files.TypeConfig
	return files.Contents{
		file(build+"/"+binarySource, binPath, 0o755),
		file(in(srcUnit), unitPath, 0o644),
		{Destination: confDir, Type: files.TypeDir, FileInfo: &files.ContentFileInfo{Mode: 0o750, Owner: "root", Group: "root"}},
		conf,
		file(build+"/"+manualSource, manPath, 0o644),
		file(in(srcBash), bashPath, 0o644),
		file(in(srcZsh), zshPath, 0o644),
		file(in(srcReadme), docDir+"/README.md", 0o644),
		file(in(srcExample), docDir+"/examples/rmqlb.yaml", 0o644),
	}
}

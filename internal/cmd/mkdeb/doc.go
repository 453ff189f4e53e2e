// Command mkdeb builds rmqlb's Debian package with nFPM, from the
// source tree it runs in:
//
//	go run ./internal/cmd/mkdeb -version 1.2.3 [-arch amd64] [-out DIR]
//
// It builds rmqlb for the architecture (-ldflags "-X main.version=..."),
// gzips the manual page, and packs the binary, the systemd unit, the
// inert configuration file (a conffile), the manual page, the bash and
// zsh completions, the README and the example configuration with the
// maintainer scripts of dist/debian, into DIR/rmqlb_VERSION_ARCH.deb.
// The package creates the system user rmqlb and never enables or starts
// the service (README.md, "Install").
package main

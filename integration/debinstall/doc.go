// Package debinstall holds the install test of rmqlb's Debian package
// (built by internal/cmd/mkdeb): as root, it installs the package on the
// machine with dpkg, checks what it installed and that it started
// nothing, upgrades it, removes and purges it, and leaves the machine as
// it found it. It refuses to run where an rmqlb package, /etc/rmqlb or
// /run/rmqlb already exists. The one daemon it starts itself (to see a
// package upgrade replace a running daemon in place) runs on the inert
// configuration in a network namespace the test makes for it, never in
// the machine's; the test touches no network interface.
package debinstall

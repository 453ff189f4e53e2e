// Package debinstall holds the install test of rmqlb's Debian package
// (built by internal/cmd/mkdeb): as root, it installs the package on the
// machine with dpkg, checks what it installed and that it started
// nothing, upgrades it, removes and purges it, and leaves the machine as
// it found it. It refuses to run where an rmqlb package or /etc/rmqlb
// already exists. It never starts the daemon and touches no network
// interface.
package debinstall

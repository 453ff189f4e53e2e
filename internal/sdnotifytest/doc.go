// Package sdnotifytest is the service manager's end of sd_notify(3) for
// tests: a unixgram socket that a test points $NOTIFY_SOCKET at, whose
// datagrams it reads in order, as systemd would for a Type=notify unit.
package sdnotifytest

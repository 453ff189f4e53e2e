// Package control is the daemon's control socket: a unix stream socket
// that speaks newline-delimited JSON, one request and one response per
// connection, and the status it answers with.
//
// Only root, the daemon's user and the members of an optional control
// group may ask: the socket file is mode 0600 (0660 with the group), it is
// placed at its path already with that mode (never connectable by others,
// not even for a moment), and every peer's credentials (SO_PEERCRED) are
// checked too. Requests are size-limited and time-limited; a file at the
// socket's path that is not a socket is never removed.
//
// The daemon serves a Handler; `rmqlb status` is a client that asks for the
// "status" command and formats the JSON it gets back (Format), so that the
// human table and `rmqlb status --json` always show the same data. Assess
// decides from a Status whether the daemon is healthy or degraded, and
// why: the verdict on top of the human table and the exit code of `rmqlb
// status`. The JSON Schema of Status is in package statusschema.
package control

// Package control is the daemon's control socket: a unix stream socket
// (mode 0600, so only root, or the daemon's user, may ask) that speaks
// newline-delimited JSON, one request and one response per connection.
//
// The daemon serves a Handler; `rmqlb status` is a client that asks for the
// "status" command and formats the JSON it gets back (Format), so that the
// human table and `rmqlb status --json` always show the same data. Assess
// decides from a Status whether the daemon is healthy or degraded, and
// why: the verdict on top of the human table and the exit code of `rmqlb
// status`. The JSON Schema of Status is in package statusschema.
package control

// Package control is the daemon's control socket: a unix stream socket
// (mode 0600, so only root, or the daemon's user, may ask) that speaks
// newline-delimited JSON, one request and one response per connection.
//
// The daemon serves a Handler; `rmqlb status` is a Client that asks for the
// "status" command and formats the JSON it gets back, so that the human
// table and `rmqlb status --json` always show the same data.
package control

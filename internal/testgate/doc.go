// Command testgate judges a `go test -json` run for CI. It reads the event
// stream on stdin and
//
//   - prints a condensed report as the run goes: a line per package (ok,
//     FAIL, or no test files), and for every failed or skipped test its
//     verdict line and its output (with -v also every passing test and its
//     t.Log lines, so that the figures tests log are in the report);
//   - writes the whole run's output, as `go test -v` prints it, to the file
//     given with -log;
//   - exits 1 when a test or a package failed, a build failed, a test or
//     package started and never ended, nothing was run at all, or a test
//     skipped without being on the allow-list (-allow); 0 otherwise.
//
// A skip passes silently in `go test`: a machine without keepalived, or
// without /usr/sbin on PATH, would skip whole integration suites and stay
// green. In CI every skip must therefore be listed, with its reason, in the
// allow-list file: one line per test,
//
//	PACKAGE TEST REASON...
//
// where PACKAGE is the import path relative to the module (or the full
// path), TEST the full test name (subtests with "/"), and REASON says why
// the skip is expected; blank lines and lines starting with # are ignored.
//
// Lines of the input that are not JSON (the go command's own messages) are
// printed and logged as they are.
//
// Usage:
//
//	go test -json ./... 2>&1 | testgate -allow .ci/allowed-skips -log /tmp/unit.log [-v]
package main

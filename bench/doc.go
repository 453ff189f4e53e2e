// Package bench is the home of rmqlb's data-path benchmark: a
// network-namespace lab (package bench/lab), load generators (package
// bench/loadgen, command bench/cmd/loadgen) and the orchestrator
// bench/cmd/rmqlb-bench, which compares a direct path, rmqlb and HAProxy 2.6
// side by side. See README.md in this directory for the command and the
// latest results.
//
// The benchmark is a command, not a test: it is long and its figures
// depend on the machine's load. `go test ./bench/...` only runs the
// loopback tests of the load generators and, as root, a smoke test of the
// lab.
package bench

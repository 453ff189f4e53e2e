// Package importrules is rmqlb's import graph, written down once: which
// packages of the module may depend on which. Rules (rules.go) is the table;
// Check applies it to the packages `go list -deps -json` describes, and the
// package's test runs it on the module itself, so `go test ./...` and CI
// fail as soon as a forbidden import appears, anywhere in a chain of
// imports.
//
// The graph is one-way: codecs and domain packages at the bottom, then the
// configuration model and the control socket (which do not know each
// other), then the daemon, then the commands, which nobody imports. Test
// support (the netns lab, real RabbitMQ nodes, the benchmark) sits beside
// it and is reached only from tests and tools.
//
// Only the packages' own imports count: an import made by a _test.go file
// is a dependency of the test, not of the package, and is not checked.
// Every package of the module must match one of the table's groups, so a
// new package is placed in the graph when it is created.
package importrules

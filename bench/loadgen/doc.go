// Package loadgen holds the load generators of the rmqlb benchmark: an echo
// server and three clients (request/response, connection rate, idle
// connection holder). They are plain functions over addresses with a
// context and bounded counts and durations; the command bench/cmd/loadgen
// runs them inside the network namespaces of the lab (package bench/lab),
// and bench/cmd/rmqlb-bench orchestrates the whole run.
//
// The generators only dial the address they are given. Every function
// returns when its context is done or its duration has passed, and closes
// every connection it opened.
package loadgen

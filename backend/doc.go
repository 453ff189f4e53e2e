// Package backend holds the vocabulary every part of rmqlb uses to speak of
// one broker behind a listener: its identity (ID: listener and backend
// name) and its state (State: DOWN, UP, DEGRADED, DRAIN, MAINT, with Admin
// for the operator's overrides).
//
// The health checks (package healthcheck) decide a backend's State, the
// balancer (package balancer) serves by it, and `rmqlb status` prints it:
// one type, so that no layer maps states by hand and no two columns of one
// row spell the same state differently.
//
// The package has no dependencies beyond the standard library and holds no
// state; its types are plain values, safe to copy and share.
package backend

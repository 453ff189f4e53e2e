// Package ctxclose closes a resource when a context is done, for the
// serving loops that stop when their listener is closed under them (the
// control socket's Server.Serve, the metrics endpoint's http.Server).
//
// context.AfterFunc alone does not tell when the close has finished: the
// loop's Accept fails as soon as Close has begun, and the loop may return
// while the descriptor is still open. OnDone's wait function closes that
// gap, so that once a loop has returned nothing of its listener is left.
package ctxclose

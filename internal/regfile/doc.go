// Package regfile opens the files a daemon reads again while it runs
// (its configuration, the files the configuration names) so that a file
// put in one's place cannot stall it: a FIFO, which opening for reading
// waits on until a writer comes, and reading waits on until it writes, or
// a device, which may never end.
//
// Open opens without blocking (O_NONBLOCK, which a regular file ignores)
// and then refuses anything but a regular file; Read adds a bound of size,
// so that a file grown far past what the daemon read cannot exhaust its
// memory either.
package regfile

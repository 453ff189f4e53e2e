// Package freeport hands tests TCP addresses that nothing listens on, for a
// test that must name an address before the program that listens on it
// starts (a daemon's configuration file, a second listener of a reload).
//
// A port the kernel chose for a listener on port 0 and that was then closed
// lies in the kernel's ephemeral range (net.ipv4.ip_local_port_range), where
// every outgoing connection of every test running beside this one also takes
// its local port: one of them can hold it by the time the test's program
// binds it. The ports of this package come from below that range, which only
// explicit binds use, and a port handed out once is not handed out again by
// the same process. It is for tests only.
package freeport

// Package checkconn opens the connection of a health check that speaks a
// protocol to its server (an HTTP request, an MQTT CONNECT): TCP within
// the check's deadline, a PROXY protocol v2 LOCAL header first for a
// server that reads one on every connection (the PROXY protocol
// specification, section 2.2), and TLS (RFC 8446) with the files of a
// checktls.Files. It maps the I/O errors of such a connection onto
// ErrRefused, ErrTimeout and ErrClosed, keeping the original.
package checkconn

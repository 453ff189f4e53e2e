// Package proxyproto encodes and decodes the PROXY protocol, versions 1
// (text) and 2 (binary), as specified by HAProxy in "The PROXY protocol,
// Versions 1 & 2" (doc/proxy-protocol.txt in the HAProxy source tree,
// https://www.haproxy.org/download/2.6/doc/proxy-protocol.txt).
//
// A proxy that forwards a TCP connection writes one PROXY header at the very
// start of the upstream stream, before any payload, so that the server learns
// the original client and destination addresses. RabbitMQ accepts it with
// `proxy_protocol = true`.
//
// The package is a pure codec: the Append functions append a header to a byte
// slice and Parse decodes one from the front of a byte slice. Neither touches
// a socket. ReadHeader is a small convenience for test servers that reads
// exactly one header (and not a byte more) from an io.Reader.
//
// Supported on encode:
//   - v1: "PROXY TCP4 ...", "PROXY TCP6 ..." and "PROXY UNKNOWN".
//   - v2: the PROXY command with AF_INET or AF_INET6 over STREAM, AF_UNSPEC
//     when the addresses cannot be represented, and the LOCAL command (used
//     by health checks, for which the server must use the real connection
//     endpoints).
//
// Parse accepts everything the specification allows a receiver to accept,
// including v2 TLVs (returned raw, after checking that they are well formed)
// and AF_UNIX/DGRAM v2 headers (whose addresses are not decoded).
//
// All functions are safe for concurrent use; they keep no state.
package proxyproto

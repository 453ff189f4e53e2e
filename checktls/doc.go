// Package checktls is the TLS side of rmqlb's health checks: the settings
// of a check that speaks TLS to a broker (Config), the client
// configuration read from their files and read again when one changes on
// disk (Files), and the certificates a session reports for their expiry
// (Certificates).
//
// A check speaks TLS as the broker's clients do: TLS 1.2 or later (RFC
// 5246, RFC 8446), the broker's certificate verified as RFC 5280 and RFC
// 6125 say (VerifyFull), against its chain only (VerifyChain), or not at
// all (VerifyNone). The package reads files and verifies certificates; it
// opens no connection.
package checktls

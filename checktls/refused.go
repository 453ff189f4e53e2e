package checktls

import (
	"crypto/tls"
	"errors"
	"net"
	"reflect"
)

// TLS alerts (RFC 8446 section 6.2) by which a server refuses the client's certificate.
const (
	alertBadCertificate         = 42
	alertUnsupportedCertificate = 43
	alertCertificateRevoked     = 44
	alertCertificateExpired     = 45
	alertCertificateUnknown     = 46
	alertUnknownCA              = 48
	alertAccessDenied           = 49
	alertCertificateRequired    = 116
)

// CertificateRefused reports whether err is the server refusing the check's TLS client
// certificate: a TLS alert it sent that says the certificate is bad, unsupported, revoked,
// expired or unknown, signed by a CA it does not trust, denied, or required and not sent. It
// returns the alert in crypto/tls's words ("remote error: tls: expired certificate").
//
// As a refused login, this is the check's own credential, not the node's fault: the brokers of
// a cluster trust the same CAs, so when the check's certificate expires every node refuses it
// at once, while the clients' own certificates still work. The broker's certificate refused by
// the check (wrong name, unknown CA, expired), no common TLS version or cipher, and a handshake
// the broker never answers still fail the check: those are the node's.
func CertificateRefused(err error) (string, bool) {
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "remote error" {
		return "", false
	}
	// crypto/tls reports a received alert as a net.OpError "remote error" around its
	// unexported alert type, a uint8; AlertError is its exported form.
	var code uint64
	if ae, ok := errors.AsType[tls.AlertError](oe.Err); ok {
		code = uint64(ae)
	} else if v := reflect.ValueOf(oe.Err); v.Kind() == reflect.Uint8 {
		code = v.Uint()
	} else {
		return "", false
	}
	switch code {
	case alertBadCertificate, alertUnsupportedCertificate, alertCertificateRevoked, alertCertificateExpired,
		alertCertificateUnknown, alertUnknownCA, alertAccessDenied, alertCertificateRequired:
		return oe.Error(), true
	}
	return "", false
}

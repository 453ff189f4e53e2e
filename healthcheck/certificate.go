package healthcheck

import "time"

// Certificate is a TLS certificate of a check's connection, with when it
// expires: the first to expire of those the backend sent, or the check's
// own client certificate. A check reports them so that an expiry is seen
// weeks before it fails the checks (a broker's) or makes the brokers
// refuse them (the check's own).
type Certificate struct {
	// Role says whose certificate it is: CertBroker or CertClient.
	Role CertRole `json:"role"`
	// Subject is the certificate's subject, as a distinguished name
	// ("CN=rmq1.example.com,O=Example").
	Subject string `json:"subject"`
	// NotAfter is when it expires.
	NotAfter time.Time `json:"not_after"`
}

// CertRole says whose a Certificate is.
type CertRole string

// Roles of a Certificate.
const (
	// CertBroker is the certificate that expires first of the chain the
	// broker sent (and, where the check verified it, of the chain up to
	// the root that signs it): a server certificate, an intermediate or
	// the root of ca_file.
	CertBroker CertRole = "broker"
	// CertClient is the client certificate the check presents
	// (cert_file).
	CertClient CertRole = "client"
)

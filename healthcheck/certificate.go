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

// CertificateWarning is how long before a check's certificate expires
// the Scheduler starts to log a warning of it, once a day per backend
// (the alert RmqlbTLSCertificateExpiresSoon fires as early).
const CertificateWarning = 14 * 24 * time.Hour

// certificateLogEvery is how often the warning of a backend's expiring
// certificates is logged again.
const certificateLogEvery = 24 * time.Hour

// certificatesToLog returns the certificates of the last passing check
// that expire within CertificateWarning of now, when their warning is due:
// the first time, and then a day after the last one. It notes that they
// are logged at now.
func (m *Machine) certificatesToLog(now time.Time) []Certificate {
	var soon []Certificate
	for _, c := range m.lastCerts {
		if c.NotAfter.Sub(now) < CertificateWarning {
			soon = append(soon, c)
		}
	}
	if len(soon) == 0 || (!m.certsLogged.IsZero() && now.Sub(m.certsLogged) < certificateLogEvery) {
		return nil
	}
	m.certsLogged = now
	return soon
}

package checktls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// verifyChain verifies the broker's chain against roots (nil: the system's), for any name.
func verifyChain(cs tls.ConnectionState, roots *x509.CertPool) error {
	_, err := chainsOf(cs, roots)
	return err
}

// chainsOf returns the chains from the broker's certificate up to one of roots (nil: the
// system's), for any name, as VerifyChain verifies them.
func chainsOf(cs tls.ConnectionState, roots *x509.CertPool) ([][]*x509.Certificate, error) {
	if len(cs.PeerCertificates) == 0 {
		return nil, errors.New("verifying broker certificate: none sent")
	}
	opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	chains, err := cs.PeerCertificates[0].Verify(opts)
	if err != nil {
		return nil, fmt.Errorf("verifying broker certificate: %w", err)
	}
	return chains, nil
}

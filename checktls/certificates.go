package checktls

import (
	"crypto/tls"
	"crypto/x509"
	"slices"

	"github.com/rmqlb/rmqlb/healthcheck"
)

// Certificates returns the certificates of a session made with cfg, which verified the
// broker as verify says: the broker's that expires first, of the chain it sent and of the
// chain verified up to a root (but with VerifyNone), and the client certificate of cfg, if
// any.
func Certificates(cs tls.ConnectionState, cfg *tls.Config, verify Verify) []healthcheck.Certificate {
	var certs []healthcheck.Certificate
	chains := cs.VerifiedChains
	if verify == VerifyChain {
		// Verified by VerifyConnection, which the session does not keep.
		chains, _ = chainsOf(cs, cfg.RootCAs)
	}
	chain := cs.PeerCertificates
	if len(chains) > 0 {
		chain = append(slices.Clip(chain), chains[0]...)
	}
	if len(chain) > 0 {
		first := slices.MinFunc(chain, func(a, b *x509.Certificate) int { return a.NotAfter.Compare(b.NotAfter) })
		certs = append(certs, healthcheck.Certificate{Role: healthcheck.CertBroker, Subject: first.Subject.String(), NotAfter: first.NotAfter})
	}
	if len(cfg.Certificates) > 0 {
		if leaf := leafOf(cfg.Certificates[0]); leaf != nil {
			certs = append(certs, healthcheck.Certificate{Role: healthcheck.CertClient, Subject: leaf.Subject.String(), NotAfter: leaf.NotAfter})
		}
	}
	return certs
}

// leafOf returns the parsed leaf of pair: its Leaf, which tls.LoadX509KeyPair fills in, else
// its first certificate parsed; nil when there is none.
func leafOf(pair tls.Certificate) *x509.Certificate {
	if pair.Leaf != nil {
		return pair.Leaf
	}
	if len(pair.Certificate) == 0 {
		return nil
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil
	}
	return leaf
}

// Package testpki makes the certificates of a test: a CA of its own and certificates it signs
// for servers and clients, written as PEM files. It is for tests only; its keys are ECDSA
// P-256 and live no longer than the test's directory.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"
)

// CA is a certificate authority of a test. Its methods are not safe for concurrent use.
type CA struct {
	// File is the PEM file of the CA's certificate, the root a client or server trusts.
	File string
	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	n    int64
}

// Pair is the PEM files of one issued certificate and its key.
type Pair struct {
	CertFile, KeyFile string
}

// NewCA makes a CA named name and writes its certificate to dir/name-ca.pem.
func NewCA(dir, name string) (*CA, error) {
	return NewCAUntil(dir, name, time.Now().Add(24*time.Hour))
}

// NewCAUntil makes a CA as NewCA does, whose certificate expires at notAfter.
func NewCAUntil(dir, name string, notAfter time.Time) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("making CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name + " test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              notAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("making CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing CA certificate: %w", err)
	}
	ca := &CA{File: filepath.Join(dir, name+"-ca.pem"), dir: dir, cert: cert, key: key, n: 1}
	if err := writePEM(ca.File, "CERTIFICATE", der); err != nil {
		return nil, err
	}
	return ca, nil
}

// Server issues a server certificate named name for the given DNS names and addresses, written
// to dir/name.pem and dir/name-key.pem.
func (ca *CA) Server(name string, dns []string, ips []netip.Addr) (Pair, error) {
	return ca.issue(name, dns, ips, x509.ExtKeyUsageServerAuth, time.Now().Add(24*time.Hour))
}

// ServerUntil issues a server certificate as Server does, that expires at notAfter.
func (ca *CA) ServerUntil(name string, dns []string, ips []netip.Addr, notAfter time.Time) (Pair, error) {
	return ca.issue(name, dns, ips, x509.ExtKeyUsageServerAuth, notAfter)
}

// Client issues a client certificate with common name name.
func (ca *CA) Client(name string) (Pair, error) {
	return ca.issue(name, nil, nil, x509.ExtKeyUsageClientAuth, time.Now().Add(24*time.Hour))
}

// ExpiredClient issues a client certificate with common name name that expired an hour ago.
func (ca *CA) ExpiredClient(name string) (Pair, error) {
	return ca.issue(name, nil, nil, x509.ExtKeyUsageClientAuth, time.Now().Add(-time.Hour))
}

// issue issues a certificate valid for the 25 hours up to notAfter.
func (ca *CA) issue(name string, dns []string, ips []netip.Addr, usage x509.ExtKeyUsage, notAfter time.Time) (Pair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Pair{}, fmt.Errorf("making key of %s: %w", name, err)
	}
	ca.n++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(ca.n),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    notAfter.Add(-25 * time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		DNSNames:     dns,
	}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.IP(ip.AsSlice()))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return Pair{}, fmt.Errorf("making certificate of %s: %w", name, err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return Pair{}, fmt.Errorf("encoding key of %s: %w", name, err)
	}
	p := Pair{CertFile: filepath.Join(ca.dir, name+".pem"), KeyFile: filepath.Join(ca.dir, name+"-key.pem")}
	if err := writePEM(p.CertFile, "CERTIFICATE", der); err != nil {
		return Pair{}, err
	}
	if err := writePEM(p.KeyFile, "PRIVATE KEY", kder); err != nil {
		return Pair{}, err
	}
	return p, nil
}

// writePEM writes one PEM block to path, readable by all (a test's broker may run as another
// user).
func writePEM(path, typ string, der []byte) error {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

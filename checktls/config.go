package checktls

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/netip"

	"github.com/rmqlb/rmqlb/internal/fielderr"
	"github.com/rmqlb/rmqlb/internal/regfile"
)

// Verify selects how a check over TLS verifies the broker's certificate.
type Verify string

// Verifications.
const (
	// VerifyFull verifies the chain against the roots and that the certificate names
	// Config.ServerName (or, without one, the check address's IP), as an AMQPS client does.
	VerifyFull Verify = "full"
	// VerifyChain verifies the chain against the roots and accepts any name: one check section
	// then serves brokers that each carry a certificate of their own host name.
	VerifyChain Verify = "chain"
	// VerifyNone verifies nothing: the connection is encrypted, the broker unauthenticated.
	VerifyNone Verify = "none"
)

// ParseVerify parses "full", "chain" or "none".
func ParseVerify(s string) (Verify, error) {
	switch v := Verify(s); v {
	case VerifyFull, VerifyChain, VerifyNone:
		return v, nil
	}
	return "", fmt.Errorf("must be full, chain or none, not %q", s)
}

// Config makes a check speak TLS to the broker, as the clients of RabbitMQ's TLS listeners
// (AMQPS on 5671, the management plugin's HTTPS on 15671) do. NewFiles reads its files (the
// check is not made when one cannot be read or parsed) and Files.Get reads them again after
// one of them changed on disk, so a renewed certificate is used without a reload; a file that
// cannot be read then leaves the check on the files it read last, with a warning (the backend
// is DEGRADED, still served).
type Config struct {
	// ServerName is the name the broker's certificate must carry (VerifyFull) and is sent as
	// SNI. Zero: the check address's IP, which the certificate must then list as an IP SAN.
	ServerName string
	// CAFile is a PEM file of the roots that sign the brokers' certificates. Zero: the
	// system's roots.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and its key, for brokers that ask for
	// one (RabbitMQ's ssl_options.fail_if_no_peer_cert). Both or neither. Zero: none.
	CertFile, KeyFile string
	// Verify is VerifyFull, VerifyChain or VerifyNone. Zero: VerifyFull.
	Verify Verify
}

// Validate reports the fields of t that are wrong without reading a file, each a
// *fielderr.Error under "tls.".
func (t *Config) Validate() []error {
	var errs []error
	switch t.Verify {
	case "", VerifyFull, VerifyChain, VerifyNone:
	default:
		errs = append(errs, fielderr.New("tls.verify", "must be full, chain or none, not %q", t.Verify))
	}
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		errs = append(errs, fielderr.New("tls.key_file", "is required with cert_file"))
	case t.KeyFile != "" && t.CertFile == "":
		errs = append(errs, fielderr.New("tls.cert_file", "is required with key_file"))
	}
	if t.CAFile != "" && t.Verify == VerifyNone {
		errs = append(errs, fielderr.New("tls.ca_file", "has no use with verify none"))
	}
	return errs
}

// MaxFileSize bounds each file of a check's TLS settings: a bundle of
// every root CA a system trusts is some 200 KB.
const MaxFileSize = 16 << 20

// Load reads the files of t and returns the client configuration a check of addr uses. Its
// errors name the file and what is wrong with it. Each must be a regular file (regfile: a
// FIFO put in a certificate's place is refused, not waited on, so that a check reading its
// renewed files again cannot hang) of at most MaxFileSize bytes.
func (t *Config) Load(addr netip.AddrPort) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if cfg.ServerName == "" {
		cfg.ServerName = addr.Addr().WithZone("").String()
	}
	if t.CAFile != "" {
		pem, err := regfile.Read(t.CAFile, MaxFileSize)
		if err != nil {
			return nil, fmt.Errorf("reading ca_file: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("reading ca_file %s: no PEM certificate in it", t.CAFile)
		}
	}
	if t.CertFile != "" {
		certPEM, err := regfile.Read(t.CertFile, MaxFileSize)
		if err != nil {
			return nil, fmt.Errorf("reading cert_file: %w", err)
		}
		keyPEM, err := regfile.Read(t.KeyFile, MaxFileSize)
		if err != nil {
			return nil, fmt.Errorf("reading key_file: %w", err)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("reading cert_file %s and key_file %s: %w", t.CertFile, t.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	switch t.Verify {
	case VerifyChain:
		roots := cfg.RootCAs
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			return verifyChain(cs, roots)
		}
	case VerifyNone:
		cfg.InsecureSkipVerify = true
	}
	return cfg, nil
}

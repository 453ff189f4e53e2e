package amqpcheck

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/internal/fielderr"
)

// Verify selects how a check over TLS verifies the broker's certificate.
type Verify string

// Verifications.
const (
	// VerifyFull verifies the chain against the roots and that the certificate names
	// TLSConfig.ServerName (or, without one, the check address's IP), as an AMQPS client does.
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

// TLSConfig makes a check speak TLS to the broker, as clients of RabbitMQ's AMQPS listener
// (port 5671) do. The files are read when the Check is made (New fails when one cannot be
// read or parsed) and again by the first check after one of them changed on disk, so a
// renewed certificate is used without a reload; a file that cannot be read then leaves the
// check on the files it read last, with a warning (the backend is DEGRADED, still served).
type TLSConfig struct {
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

// validate reports the fields of t that are wrong without reading a file, each a
// *fielderr.Error under "tls.".
func (t *TLSConfig) validate() []error {
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

// Load reads the files of t and returns the client configuration a check of addr uses. Its
// errors name the file and what is wrong with it.
func (t *TLSConfig) Load(addr netip.AddrPort) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if cfg.ServerName == "" {
		cfg.ServerName = addr.Addr().WithZone("").String()
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading ca_file: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("reading ca_file %s: no PEM certificate in it", t.CAFile)
		}
	}
	if t.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
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

// fileStamp tells whether a file changed: its inode, size and modification time.
type fileStamp struct {
	ino, size int64
	mtime     time.Time
}

func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{ino: -1}
	}
	st := fileStamp{size: fi.Size(), mtime: fi.ModTime()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = int64(sys.Ino)
	}
	return st
}

// tlsFiles is the client configuration of a Check with the stamps of the files it was read
// from. It is safe for concurrent use.
type tlsFiles struct {
	t    *TLSConfig
	addr netip.AddrPort

	mu     sync.Mutex
	cfg    *tls.Config // the last configuration read whole
	stamps [3]fileStamp
	readAt time.Time
}

func newTLSFiles(t *TLSConfig, addr netip.AddrPort) (*tlsFiles, error) {
	f := &tlsFiles{t: t, addr: addr}
	f.stamps = f.stampNow()
	cfg, err := t.Load(addr)
	if err != nil {
		return nil, err
	}
	f.cfg, f.readAt = cfg, time.Now()
	return f, nil
}

func (f *tlsFiles) stampNow() [3]fileStamp {
	var s [3]fileStamp
	for i, p := range []string{f.t.CAFile, f.t.CertFile, f.t.KeyFile} {
		if p != "" {
			s[i] = stampOf(p)
		}
	}
	return s
}

// get returns the configuration to use: read again when a file changed since the last read.
// When that read fails it returns the last good one and a warning that says why.
func (f *tlsFiles) get() (*tls.Config, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.stampNow()
	if now == f.stamps {
		return f.cfg, ""
	}
	cfg, err := f.t.Load(f.addr)
	if err != nil {
		// Stamps stay as they were: the next check tries again.
		return f.cfg, fmt.Sprintf("TLS files changed but cannot be read (%v): using those read at %s",
			err, f.readAt.UTC().Format(time.RFC3339))
	}
	f.cfg, f.stamps, f.readAt = cfg, now, time.Now()
	return cfg, ""
}

// tlsCertificates returns the certificates of a session made with cfg, which verified the
// broker as verify says: the broker's that expires first, of the chain it sent and of the
// chain verified up to a root (but with VerifyNone), and the client certificate of cfg, if
// any.
func tlsCertificates(cs tls.ConnectionState, cfg *tls.Config, verify Verify) []healthcheck.Certificate {
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

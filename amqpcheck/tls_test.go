package amqpcheck

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rmqlb/rmqlb/checktls"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/internal/fielderr"
	"github.com/rmqlb/rmqlb/internal/testpki"
	"github.com/rmqlb/rmqlb/proxyproto"
)

// tlsLab is a CA, a broker certificate for 127.0.0.1 and "rmq1.test", and a client
// certificate, in a test's directory.
type tlsLab struct {
	ca     *testpki.CA
	server testpki.Pair
	client testpki.Pair
	other  *testpki.CA // a CA that signed nothing of the lab's
}

func newTLSLab(t *testing.T) *tlsLab {
	t.Helper()
	dir := t.TempDir()
	ca, err := testpki.NewCA(dir, "lab")
	if err != nil {
		t.Fatal(err)
	}
	other, err := testpki.NewCA(dir, "other")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Server("rmq1", []string{"rmq1.test"}, []netip.Addr{netip.MustParseAddr("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := ca.Client("rmqlb-check")
	if err != nil {
		t.Fatal(err)
	}
	return &tlsLab{ca: ca, server: srv, client: cl, other: other}
}

// serverConfig is the broker's side: the lab's certificate, and with requireClient a
// client certificate signed by the lab's CA.
func (l *tlsLab) serverConfig(t *testing.T, requireClient bool) *tls.Config {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(l.server.CertFile, l.server.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{pair}}
	if requireClient {
		roots, err := (&checktls.Config{CAFile: l.ca.File}).Load(netip.MustParseAddrPort("127.0.0.1:1"))
		if err != nil {
			t.Fatal(err)
		}
		cfg.ClientCAs = roots.RootCAs
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg
}

// startTLSBroker is a broker on an AMQPS listener that answers the protocol header with the
// golden Connection.Start. With pp it reads a PROXY header first, in clear, and sends it
// on got.
func startTLSBroker(t *testing.T, cfg *tls.Config, pp bool, got chan<- proxyproto.Header) *fakeServer {
	start := goldenStart(t)
	return startFake(t, func(c net.Conn) {
		if pp {
			h, err := proxyproto.ReadHeader(c)
			if err != nil {
				return
			}
			got <- h
		}
		tc := tls.Server(c, cfg)
		defer tc.Close()
		if tc.Handshake() != nil || !readHeader(tc) {
			return
		}
		tc.Write(start)
		io.Copy(io.Discard, tc)
	})
}

// newTLSCheck returns a check of addr over TLS with c, closed when t ends, and a context of
// 2 s for it.
func newTLSCheck(t *testing.T, addr netip.AddrPort, c checktls.Config) (*Check, context.Context) {
	t.Helper()
	chk, err := New(Config{Addr: addr, TLS: &c})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { chk.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	t.Cleanup(cancel)
	return chk, ctx
}

func runCheck(t *testing.T, cfg Config) (Report, error) {
	t.Helper()
	chk, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer chk.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return chk.Run(ctx)
}

// TestTLSCheck: a check over TLS passes where an AMQPS client would connect and fails, with
// ErrTLS and the reason, where it would not.
func TestTLSCheck(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	l := newTLSLab(t)
	plain := startTLSBroker(t, l.serverConfig(t, false), false, nil)
	mutual := startTLSBroker(t, l.serverConfig(t, true), false, nil)
	defer plain.close()
	defer mutual.close()
	clientCert := func(c checktls.Config) checktls.Config {
		c.CertFile, c.KeyFile = l.client.CertFile, l.client.KeyFile
		return c
	}
	tests := []struct {
		name string
		srv  *fakeServer
		tls  checktls.Config
		want string // "" passes; else in the error, which must wrap ErrTLS
	}{
		{"the address's IP, lab CA", plain, checktls.Config{CAFile: l.ca.File}, ""},
		{"server name, lab CA", plain, checktls.Config{CAFile: l.ca.File, ServerName: "rmq1.test"}, ""},
		{"wrong server name", plain, checktls.Config{CAFile: l.ca.File, ServerName: "rmq2.test"}, "certificate is valid for rmq1.test, not rmq2.test"},
		{"wrong name, verify chain", plain, checktls.Config{CAFile: l.ca.File, ServerName: "rmq2.test", Verify: checktls.VerifyChain}, ""},
		{"system roots", plain, checktls.Config{}, "certificate signed by unknown authority"},
		{"another CA", plain, checktls.Config{CAFile: l.other.File}, "certificate signed by unknown authority"},
		{"another CA, verify chain", plain, checktls.Config{CAFile: l.other.File, Verify: checktls.VerifyChain}, "certificate signed by unknown authority"},
		{"verify none", plain, checktls.Config{Verify: checktls.VerifyNone}, ""},
		{"client certificate required, none", mutual, checktls.Config{CAFile: l.ca.File}, "certificate required"},
		{"client certificate required, given", mutual, clientCert(checktls.Config{CAFile: l.ca.File}), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.tls
			rep, err := runCheck(t, Config{Addr: tc.srv.addr(), TLS: &c})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("check failed: %v", err)
			case tc.want == "" && rep.Server.Product != "RabbitMQ":
				t.Fatalf("report %+v", rep)
			case tc.want != "" && (err == nil || !errors.Is(err, ErrTLS) || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err %v, want ErrTLS with %q", err, tc.want)
			}
		})
	}
}

// TestTLSCheckPeers: what a TLS check meets on a port that is not an AMQPS broker's.
func TestTLSCheckPeers(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	l := newTLSLab(t)
	cfg := checktls.Config{CAFile: l.ca.File}
	start := goldenStart(t)
	tests := []struct {
		name  string
		serve func(c net.Conn)
		want  []error
	}{
		// A plain AMQP listener reads the ClientHello as a bad protocol header, answers
		// with its own and closes.
		{"plain AMQP", func(c net.Conn) {
			c.Read(make([]byte, 8))
			c.Write([]byte("AMQP\x00\x00\x09\x01"))
			c.Close()
		}, []error{ErrTLS}},
		// A frozen broker: the kernel accepts, nobody answers the ClientHello.
		{"silence", func(c net.Conn) { io.Copy(io.Discard, c) }, []error{ErrTLS, ErrTimeout}},
		{"close", func(c net.Conn) { c.Close() }, []error{ErrTLS, ErrClosed}},
		{"Connection.Start in clear", func(c net.Conn) {
			c.Write(start)
			io.Copy(io.Discard, c)
		}, []error{ErrTLS}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startFake(t, tc.serve)
			c := cfg
			chk, err := New(Config{Addr: srv.addr(), TLS: &c})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			_, err = chk.Run(ctx)
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Fatalf("err %v, want it to wrap %v", err, w)
				}
			}
			srv.close()
		})
	}
}

// TestTLSCheckProxyHeader: a broker that expects PROXY headers gets one in clear before the
// TLS handshake, as RabbitMQ reads it.
func TestTLSCheckProxyHeader(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	l := newTLSLab(t)
	got := make(chan proxyproto.Header, 1)
	srv := startTLSBroker(t, l.serverConfig(t, false), true, got)
	defer srv.close()
	if _, err := runCheck(t, Config{Addr: srv.addr(), ProxyProtocol: true, TLS: &checktls.Config{CAFile: l.ca.File}}); err != nil {
		t.Fatal(err)
	}
	if h := <-got; h.Version != 2 || h.Command != proxyproto.CommandLocal {
		t.Fatalf("PROXY header %+v", h)
	}
}

// TestTLSFilesRenewed: files changed on disk are read by the next check; files that cannot be
// read (also a FIFO in a file's place) leave the check on those read before, with a warning,
// until they can.
func TestTLSFilesRenewed(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	l := newTLSLab(t)
	srv := startTLSBroker(t, l.serverConfig(t, false), false, nil)
	defer srv.close()
	ca := t.TempDir() + "/ca.pem"
	copyFile := func(from string) {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		// A new file renamed in place, as renewals write them: a new inode.
		if err := os.WriteFile(ca+".new", b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(ca+".new", ca); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(l.other.File)
	chk, err := New(Config{Addr: srv.addr(), TLS: &checktls.Config{CAFile: ca}})
	if err != nil {
		t.Fatal(err)
	}
	defer chk.Close()
	run := func() healthcheck.Result {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return chk.Check(ctx)
	}
	if r := run(); !errors.Is(r.Err, ErrTLS) {
		t.Fatalf("with another CA: %+v, want ErrTLS", r)
	}
	copyFile(l.ca.File)
	if r := run(); r.Err != nil || r.Warning != "" {
		t.Fatalf("after the CA was renewed: %+v, want a pass", r)
	}
	if err := os.WriteFile(ca+".new", []byte("not PEM"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(ca+".new", ca); err != nil {
		t.Fatal(err)
	}
	r := run()
	if r.Err != nil || !strings.Contains(r.Warning, "TLS files changed but cannot be read") {
		t.Fatalf("after the CA file was broken: %+v, want a pass with a warning", r)
	}
	copyFile(l.ca.File)
	if r := run(); r.Err != nil || r.Warning != "" {
		t.Fatalf("after the CA file was mended: %+v, want a pass", r)
	}
	// A FIFO in its place, which nobody writes: refused at once, not
	// waited on.
	if err := os.Remove(ca); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(ca, 0o644); err != nil {
		t.Fatal(err)
	}
	r = run()
	if r.Err != nil || !strings.Contains(r.Warning, "TLS files changed but cannot be read (reading ca_file: read "+ca+": not a regular file (p---------))") {
		t.Fatalf("with a FIFO in the CA file's place: %+v, want a pass with a warning", r)
	}
}

// TestTLSConfigErrors: New names the field or file that is wrong.
func TestTLSConfigErrors(t *testing.T) {
	l := newTLSLab(t)
	addr := netip.MustParseAddrPort("127.0.0.1:5671")
	tests := []struct {
		name  string
		tls   checktls.Config
		field string // a field error, or "" for a file error
		want  string
	}{
		{"verify", checktls.Config{Verify: "partly"}, "tls.verify", `must be full, chain or none, not "partly"`},
		{"cert without key", checktls.Config{CertFile: l.client.CertFile}, "tls.key_file", "is required with cert_file"},
		{"key without cert", checktls.Config{KeyFile: l.client.KeyFile}, "tls.cert_file", "is required with key_file"},
		{"ca with verify none", checktls.Config{CAFile: l.ca.File, Verify: checktls.VerifyNone}, "tls.ca_file", "has no use with verify none"},
		{"missing ca", checktls.Config{CAFile: "/nonexistent/ca.pem"}, "", "reading ca_file: open /nonexistent/ca.pem: no such file or directory"},
		{"ca a directory", checktls.Config{CAFile: "/"}, "", "reading ca_file: read /: not a regular file (d---------)"},
		{"cert a device", checktls.Config{CertFile: "/dev/zero", KeyFile: l.client.KeyFile}, "", "reading cert_file: read /dev/zero: not a regular file (Dc---------)"},
		{"missing key", checktls.Config{CertFile: l.client.CertFile, KeyFile: "/nonexistent/key.pem"}, "", "reading key_file: open /nonexistent/key.pem: no such file or directory"},
		{"ca not PEM", checktls.Config{CAFile: l.client.KeyFile}, "", "no PEM certificate in it"},
		{"key of another certificate", checktls.Config{CertFile: l.client.CertFile, KeyFile: l.server.KeyFile}, "", "private key does not match public key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.tls
			_, err := New(Config{Addr: addr, TLS: &c})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			var fe *fielderr.Error
			if gotField := errors.As(err, &fe); gotField != (tc.field != "") || gotField && fe.Field != tc.field {
				t.Fatalf("err %v: field error %v, want field %q", err, fe, tc.field)
			}
		})
	}
}

// TestMechanismValidate: SASL EXTERNAL needs a TLS client certificate to take the user from.
func TestMechanismValidate(t *testing.T) {
	addr := netip.MustParseAddrPort("127.0.0.1:5671")
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Mechanism: MechanismExternal}, "mechanism: external needs tls with a cert_file (the broker takes the user from it)"},
		{Config{Mechanism: MechanismExternal, TLS: &checktls.Config{}}, "mechanism: external needs tls with a cert_file (the broker takes the user from it)"},
		{Config{Mechanism: "scram"}, `mechanism: must be plain or external, not "scram"`},
		{Config{Mechanism: MechanismExternal, TLS: &checktls.Config{CertFile: "c.pem", KeyFile: "k.pem"}}, ""},
		{Config{Mechanism: MechanismPlain}, ""},
	} {
		tc.cfg.Addr = addr
		err := tc.cfg.Validate()
		if (tc.want == "") != (err == nil) || err != nil && err.Error() != tc.want {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// TestTLSCheckCertificates: a check over TLS reports the broker's certificate that expires
// first, of the chain the broker sent and, verified, of the chain up to the root, and the
// check's own client certificate; Check passes them on in its Result.
func TestTLSCheckCertificates(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	l := newTLSLab(t)
	lo := []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	// A server certificate that expires in 2 hours, of the lab's CA (24 hours), and one of
	// 24 hours of a CA that expires in 1 hour.
	soon := time.Now().Add(2 * time.Hour).Truncate(time.Second)
	expiring, err := l.ca.ServerUntil("rmq1-soon", nil, lo, soon)
	if err != nil {
		t.Fatal(err)
	}
	rootSoon := time.Now().Add(time.Hour).Truncate(time.Second)
	shortCA, err := testpki.NewCAUntil(t.TempDir(), "short", rootSoon)
	if err != nil {
		t.Fatal(err)
	}
	underShort, err := shortCA.Server("rmq1", nil, lo)
	if err != nil {
		t.Fatal(err)
	}
	broker := func(p testpki.Pair) *fakeServer {
		pair, err := tls.LoadX509KeyPair(p.CertFile, p.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		return startTLSBroker(t, &tls.Config{Certificates: []tls.Certificate{pair}}, false, nil)
	}
	leaf := func(p testpki.Pair) healthcheck.Certificate {
		pair, err := tls.LoadX509KeyPair(p.CertFile, p.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		return healthcheck.Certificate{Subject: pair.Leaf.Subject.String(), NotAfter: pair.Leaf.NotAfter}
	}
	soonSrv, shortSrv, plain := broker(expiring), broker(underShort), broker(l.server)
	defer soonSrv.close()
	defer shortSrv.close()
	defer plain.close()
	server, client := leaf(l.server), leaf(l.client)
	tests := []struct {
		name   string
		srv    *fakeServer
		tls    checktls.Config
		broker healthcheck.Certificate
		client bool
	}{
		{"verified: the server certificate expires first", soonSrv, checktls.Config{CAFile: l.ca.File},
			healthcheck.Certificate{Subject: "CN=rmq1-soon", NotAfter: soon}, false},
		{"verified: the root expires first", shortSrv, checktls.Config{CAFile: shortCA.File},
			healthcheck.Certificate{Subject: "CN=short test CA", NotAfter: rootSoon}, false},
		{"verify chain: the root expires first", shortSrv, checktls.Config{CAFile: shortCA.File, Verify: checktls.VerifyChain},
			healthcheck.Certificate{Subject: "CN=short test CA", NotAfter: rootSoon}, false},
		{"not verified: the chain the broker sent", shortSrv, checktls.Config{Verify: checktls.VerifyNone},
			healthcheck.Certificate{Subject: "CN=rmq1", NotAfter: leaf(underShort).NotAfter}, false},
		{"with a client certificate", plain, checktls.Config{Verify: checktls.VerifyNone, CertFile: l.client.CertFile, KeyFile: l.client.KeyFile},
			server, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			chk, ctx := newTLSCheck(t, tc.srv.addr(), tc.tls)
			r := chk.Check(ctx)
			if r.Err != nil {
				t.Fatalf("check failed: %v", r.Err)
			}
			want := []healthcheck.Certificate{{Role: healthcheck.CertBroker, Subject: tc.broker.Subject, NotAfter: tc.broker.NotAfter}}
			if tc.client {
				want = append(want, healthcheck.Certificate{Role: healthcheck.CertClient, Subject: client.Subject, NotAfter: client.NotAfter})
			}
			if len(r.Certificates) != len(want) {
				t.Fatalf("certificates %+v, want %+v", r.Certificates, want)
			}
			for i, w := range want {
				if g := r.Certificates[i]; g.Role != w.Role || g.Subject != w.Subject || !g.NotAfter.Equal(w.NotAfter) {
					t.Errorf("certificate %d: %+v, want %+v", i, g, w)
				}
			}
		})
	}
	// Without TLS, none.
	start := goldenStart(t)
	plainBroker := startFake(t, func(c net.Conn) {
		defer c.Close()
		if readHeader(c) {
			c.Write(start)
			io.Copy(io.Discard, c)
		}
	})
	defer plainBroker.close()
	if rep, err := runCheck(t, Config{Addr: plainBroker.addr()}); err != nil || rep.Certificates != nil {
		t.Errorf("check without TLS: %+v, %v; want no certificates", rep, err)
	}
}

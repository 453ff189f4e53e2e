package amqpcheck

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rmqlb/rmqlb/checktls"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/internal/testpki"
)

// TestBrokerTLS: checks of RabbitMQ's AMQPS listener, in both modes, pass where an AMQPS
// client connects (also with a client certificate the broker verifies), reporting the
// certificates' expiries, and fail with the reason where the check refuses the broker's
// certificate. (A broker that requires a client
// certificate is TestTLSCheck's: RabbitMQ's ssl_options are the node's, and this node serves
// checks without one.)
func TestBrokerTLS(t *testing.T) {
	n := realBroker(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	client, err := brokerCA.Client("rmqlb-check")
	if err != nil {
		t.Fatal(err)
	}
	unknownUser, err := brokerCA.Client("nobody-check")
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := testpki.NewCA(dir, "stranger")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // "" passes; else in the error, which must wrap ErrTLS
	}{
		{"handshake, by IP", Config{TLS: &checktls.Config{CAFile: brokerCA.File}}, ""},
		{"handshake, by name", Config{TLS: &checktls.Config{CAFile: brokerCA.File, ServerName: "rmq1.test"}}, ""},
		{"login", Config{Mode: ModeLogin, TLS: &checktls.Config{CAFile: brokerCA.File}}, ""},
		{"login, client certificate", Config{Mode: ModeLogin, TLS: &checktls.Config{CAFile: brokerCA.File,
			CertFile: client.CertFile, KeyFile: client.KeyFile}}, ""},
		{"login, SASL EXTERNAL", Config{Mode: ModeLogin, Mechanism: MechanismExternal, AlarmProbe: AlarmProbeOff,
			TLS: &checktls.Config{CAFile: brokerCA.File, CertFile: client.CertFile, KeyFile: client.KeyFile}}, ""},
		{"wrong name", Config{TLS: &checktls.Config{CAFile: brokerCA.File, ServerName: "rmq2.test"}}, "not rmq2.test"},
		{"wrong name, verify chain", Config{TLS: &checktls.Config{CAFile: brokerCA.File, ServerName: "rmq2.test", Verify: checktls.VerifyChain}}, ""},
		{"another CA", Config{TLS: &checktls.Config{CAFile: stranger.File}}, "unknown authority"},
	} {
		tc.cfg.Addr = tlsAddr
		rep, err := run(t, tc.cfg, 5*time.Second)
		t.Logf("%s: %v %v", tc.name, rep.Server, err)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want == "" && (rep.Server.Product != "RabbitMQ" || rep.Server.ClusterName != n.NodeName):
			t.Errorf("%s: report %+v", tc.name, rep)
		case tc.want != "" && (!errors.Is(err, ErrTLS) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: err %v, want ErrTLS with %q", tc.name, err, tc.want)
		case tc.want == "":
			// The broker's certificate (or the lab CA's, which expires
			// first), and the check's own where it has one.
			roles := []healthcheck.CertRole{healthcheck.CertBroker}
			if tc.cfg.TLS.CertFile != "" {
				roles = append(roles, healthcheck.CertClient)
			}
			if len(rep.Certificates) != len(roles) {
				t.Errorf("%s: certificates %+v, want %v", tc.name, rep.Certificates, roles)
				break
			}
			for i, c := range rep.Certificates {
				if c.Role != roles[i] || c.Subject == "" || c.NotAfter.Before(time.Now()) || c.NotAfter.After(time.Now().Add(25*time.Hour)) {
					t.Errorf("%s: certificate %d: %+v, want %s, expiring within the lab's 24 hours", tc.name, i, c, roles[i])
				}
			}
		}
	}
	// SASL EXTERNAL with the certificate of a user the broker does not know.
	_, err = run(t, Config{Addr: tlsAddr, Mode: ModeLogin, Mechanism: MechanismExternal,
		TLS: &checktls.Config{CAFile: brokerCA.File, CertFile: unknownUser.CertFile, KeyFile: unknownUser.KeyFile}}, 5*time.Second)
	t.Logf("EXTERNAL, unknown user: %v", err)
	if !errors.Is(err, ErrAuth) {
		t.Errorf("EXTERNAL with the certificate of an unknown user: %v, want ErrAuth", err)
	}
	// The check's client certificate expired: the broker (verify_peer) refuses it in the TLS
	// handshake, as it would on every node of the cluster, so the check passes with the
	// broker's alert as a warning (see checktls.CertificateRefused).
	expired, err := brokerCA.ExpiredClient("rmqlb-check-expired")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []Mode{ModeHandshake, ModeLogin} {
		_, check := checker(t, Config{Addr: tlsAddr, Mode: m,
			TLS: &checktls.Config{CAFile: brokerCA.File, CertFile: expired.CertFile, KeyFile: expired.KeyFile}}, 5*time.Second)
		r := check()
		t.Logf("%s, expired client certificate: %+v", m, r)
		if r.Err != nil || r.Warning != "client certificate refused: remote error: tls: expired certificate" || !r.Refused {
			t.Errorf("%s, expired client certificate: %+v, want a pass with the broker's alert as warning", m, r)
		}
	}
	// A plain check of the AMQPS port, and a TLS check of the plain port.
	if _, err := run(t, Config{Addr: tlsAddr}, 5*time.Second); err == nil {
		t.Error("a plain check of the AMQPS listener passed")
	}
	if _, err := run(t, Config{Addr: n.Addr, TLS: &checktls.Config{CAFile: brokerCA.File}}, 5*time.Second); !errors.Is(err, ErrTLS) {
		t.Errorf("a TLS check of the plain listener: %v, want ErrTLS", err)
	}
}

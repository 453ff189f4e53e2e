package migrate

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/internal/testpki"
)

// A server's no-ssl undoes the ssl of default-server: HAProxy speaks to
// it in clear, so the server is translated, not left out as one HAProxy
// speaks TLS to.
func TestImportNoSSLOverridesDefaultServer(t *testing.T) {
	h := "listen amqp\n bind 10.0.0.100:5672\n default-server ssl verify none\n server r1 10.0.0.1:5672 check no-ssl\n server r2 10.0.0.2:5672 check no-ssl\n"
	c, y, ns := importParsed(t, memFiles{"h": h}, Sources{HAProxy: "h"})
	if len(c.Listeners) != 1 || len(c.Listeners[0].Backends) != 2 {
		t.Fatalf("want listener amqp with r1 and r2\n%s\nnotes:\n%s", y, notesFor(ns, 4)+notesFor(ns, 5))
	}
	if strings.Contains(y, "tls:") {
		t.Errorf("a check in clear speaks TLS:\n%s", y)
	}
}

// tlsLab is a test's directory with a CA (lab-ca.pem) and a client
// certificate with its key in one PEM file (client.pem), as HAProxy's crt
// takes them.
func tlsLab(t *testing.T) string {
	t.Helper()
	// Not t.TempDir: its name, the test's, would need quotes in YAML.
	dir, err := os.MkdirTemp("", "hatls")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ca, err := testpki.NewCA(dir, "lab")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := ca.Client("rmqlb-check")
	if err != nil {
		t.Fatal(err)
	}
	var pem []byte
	for _, f := range []string{cl.CertFile, cl.KeyFile} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pem = append(pem, b...)
	}
	if err := os.WriteFile(filepath.Join(dir, "client.pem"), pem, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// haproxyAccepts fails t when the haproxy binary, if installed, refuses
// the configuration at path (haproxy -c), so that the inputs of these
// tests are files HAProxy runs.
func haproxyAccepts(t *testing.T, path string) {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		bin = "/usr/sbin/haproxy"
		if _, err := os.Stat(bin); err != nil {
			t.Log("haproxy is not installed: the input is not checked with haproxy -c")
			return
		}
	}
	cmd := exec.CommandContext(t.Context(), bin, "-c", "-q", "-f", path)
	cmd.Dir = filepath.Dir(path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c refuses the input: %v\n%s", err, out)
	}
}

// TestHAProxyCheckTLS imports HAProxy servers whose checks speak TLS
// (check-ssl and the server's TLS options). Each input is written with
// the files it names (@DIR@ is the lab's directory) and, when haproxy is
// installed, checked with haproxy -c; the file written must load as
// rmqlb check-config loads it (config.Load, which reads the TLS files),
// unless loadErr. want and not are texts of the file; notes are prefixes
// of notes ("h:LINE: ..."); quiet are texts no note may start with.
func TestHAProxyCheckTLS(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     string
		want    []string
		not     []string
		notes   []string
		quiet   []string
		loadErr string
	}{
		{
			name:  "check-ssl verify none",
			cfg:   "listen amqps\n bind 10.0.0.100:5671\n server r1 10.0.0.1:5671 check check-ssl verify none\n server r2 10.0.0.2:5671 check check-ssl verify none\n",
			want:  []string{"bind: 10.0.0.100:5671\n    check: {tls: {verify: none}}\n"},
			notes: []string{"h:3: server r1 10.0.0.1:5671 check check-ssl verify none: note: becomes an AMQP handshake check over TLS"},
			quiet: []string{"h:3: server r1 10.0.0.1:5671 check-ssl", "h:3: server r1 10.0.0.1:5671 verify none", "h:4: server r2"},
		},
		{
			// HAProxy verifies by default (verify required): the chain,
			// and no name without check-sni or verifyhost.
			name:  "default-server check-ssl with a CA: the chain is verified",
			cfg:   "listen amqps\n bind 10.0.0.100:5671\n default-server check-ssl ca-file @DIR@/lab-ca.pem\n server r1 10.0.0.1:5671 check\n server r2 10.0.0.2:5671 check\n",
			want:  []string{"check: {tls: {ca_file: @DIR@/lab-ca.pem, verify: chain}}\n"},
			quiet: []string{"h:3: default-server"},
		},
		{
			name:  "verifyhost: the name is verified, and sent as SNI by rmqlb",
			cfg:   "listen amqps\n bind 10.0.0.100:5671\n server r1 10.0.0.1:5671 check check-ssl verify required ca-file @DIR@/lab-ca.pem verifyhost rabbit.internal\n",
			want:  []string{"check: {tls: {server_name: rabbit.internal, ca_file: @DIR@/lab-ca.pem, verify: full}}"},
			notes: []string{"h:3: server r1 10.0.0.1:5671 verifyhost rabbit.internal: note: becomes the check's tls server_name, verified (verify: full); rmqlb also sends it as SNI, which HAProxy's checks do not"},
		},
		{
			name:  "verifyhost of an IP address",
			cfg:   "listen amqps\n bind 10.0.0.100:5671\n server r1 10.0.0.1:5671 check check-ssl ca-file @DIR@/lab-ca.pem verifyhost 10.0.0.1\n",
			want:  []string{"check: {tls: {server_name: 10.0.0.1, ca_file: @DIR@/lab-ca.pem, verify: full}}"},
			notes: []string{"h:3: server r1 10.0.0.1:5671 verifyhost 10.0.0.1: note: becomes the check's tls server_name, verified (verify: full); rmqlb matches an IP address against the IP addresses of the certificate"},
		},
		{
			// The name checked is the SNI sent when there is one.
			name: "check-sni is the name verified, verifyhost is not",
			cfg:  "listen amqps\n bind 10.0.0.100:5671\n default-server check-ssl ca-file @DIR@/lab-ca.pem verifyhost rabbit.internal\n server r1 10.0.0.1:5671 check check-sni r1.rabbit.internal\n server r2 10.0.0.2:5671 check check-sni r2.rabbit.internal\n",
			want: []string{
				"{name: r1, address: '10.0.0.1:5671', check: {tls: {server_name: r1.rabbit.internal, ca_file: @DIR@/lab-ca.pem, verify: full}}}",
				"{name: r2, address: '10.0.0.2:5671', check: {tls: {server_name: r2.rabbit.internal, ca_file: @DIR@/lab-ca.pem, verify: full}}}",
			},
			not:   []string{"server_name: rabbit.internal"},
			notes: []string{"h:4: server r1 10.0.0.1:5671 check-sni r1.rabbit.internal: note: becomes the check's tls server_name, verified (verify: full); rmqlb matches it against the DNS names of the certificate only, not its subject CN"},
			quiet: []string{"h:3: default-server verifyhost"},
		},
		{
			name:  "check-sni with verify none is sent, not verified",
			cfg:   "listen amqps\n bind 10.0.0.100:5671\n server r1 10.0.0.1:5671 check check-ssl verify none check-sni rabbit.internal verifyhost other.internal\n",
			want:  []string{"check: {tls: {server_name: rabbit.internal, verify: none}}"},
			quiet: []string{"h:3: server r1 10.0.0.1:5671 check-sni", "h:3: server r1 10.0.0.1:5671 verifyhost"},
		},
		{
			name:  "crt and ca-file relative to crt-base and ca-base",
			cfg:   "global\n ca-base @DIR@\n crt-base @DIR@\nlisten amqps\n bind 10.0.0.100:5671\n default-server check-ssl ca-file lab-ca.pem crt client.pem\n server r1 10.0.0.1:5671 check\n",
			want:  []string{"check: {tls: {ca_file: @DIR@/lab-ca.pem, cert_file: @DIR@/client.pem, key_file: @DIR@/client.pem, verify: chain}}"},
			notes: []string{"h:6: default-server crt client.pem: note: becomes the check's tls cert_file and key_file, both @DIR@/client.pem"},
			quiet: []string{"h:2:", "h:3:"},
		},
		{
			name: "ca-file @system-ca: the system's roots",
			cfg:  "listen amqps\n bind 10.0.0.100:5671\n server r1 10.0.0.1:5671 check check-ssl ca-file @system-ca\n",
			want: []string{"check: {tls: {verify: chain}}"},
		},
		{
			name:  "ssl-server-verify none: verify none by default",
			cfg:   "global\n ssl-server-verify none\nlisten amqps\n bind 10.0.0.100:5671\n server r1 10.0.0.1:5671 check check-ssl\n",
			want:  []string{"check: {tls: {verify: none}}"},
			quiet: []string{"h:2:"},
		},
		{
			name: "verify none leaves ca-file out",
			cfg:  "listen amqps\n bind 10.0.0.100:5671\n server r1 10.0.0.1:5671 check check-ssl verify none ca-file @DIR@/lab-ca.pem crt @DIR@/client.pem\n",
			want: []string{"check: {tls: {cert_file: @DIR@/client.pem, key_file: @DIR@/client.pem, verify: none}}"},
			not:  []string{"ca_file"},
		},
		{
			name: "no-check-ssl undoes default-server's check-ssl",
			cfg:  "listen amqp\n bind 10.0.0.100:5672\n default-server check-ssl verify none\n server r1 10.0.0.1:5672 check no-check-ssl\n server r2 10.0.0.2:5673 check\n",
			want: []string{"{name: r1, address: '10.0.0.1:5672'}", "{name: r2, address: '10.0.0.2:5673', check: {tls: {verify: none}}}"},
		},
		{
			name: "check-ssl on another port than the traffic's",
			cfg:  "listen amqp\n bind 10.0.0.100:5672\n server r1 10.0.0.1:5672 check port 5671 check-ssl verify none\n",
			want: []string{"check: {address: '10.0.0.1:5671', tls: {verify: none}}"},
		},
		{
			name:  "check-ssl of the management port: an HTTPS request",
			cfg:   "listen mgmt\n bind 10.0.0.100:15671\n server m1 10.0.0.1:15671 check check-ssl verify none\n",
			want:  []string{"check: {type: http, tls: {verify: none}}"},
			notes: []string{"h:3: server m1 10.0.0.1:15671 check check-ssl verify none: note: becomes an HTTPS request of /, which the management UI answers 200"},
			quiet: []string{"h:3: server m1 10.0.0.1:15671 check-ssl"},
		},
		{
			name:  "check-ssl of the MQTT over TLS port: an MQTT CONNECT over TLS, with the server's verification",
			cfg:   "listen mqtts\n bind 10.0.0.100:8883\n default-server check-ssl ca-file @DIR@/lab-ca.pem verifyhost rabbit.internal\n server q1 10.0.0.1:8883 check\n",
			want:  []string{"check: {type: mqtt, tls: {server_name: rabbit.internal, ca_file: @DIR@/lab-ca.pem, verify: full}}"},
			notes: []string{"h:4: server q1 10.0.0.1:8883 check: note: becomes an MQTT CONNECT over TLS, with its check-ssl settings (check type: mqtt, tls), which fails for a frozen node"},
			quiet: []string{"h:3: default-server check-ssl"},
		},
		{
			name:  "check-ssl of the stream over TLS port, not checked by HAProxy",
			cfg:   "listen streams\n bind 10.0.0.100:5551\n server s1 10.0.0.1:5551 check-ssl verify none\n",
			want:  []string{"check: {type: stream, tls: {verify: none}}"},
			notes: []string{"h:3: server s1 10.0.0.1:5551 check-ssl verify none: note: HAProxy does not check this server: rmqlb checks it with a stream client's opening over TLS, with its check-ssl settings"},
		},
		{
			name:  "check-ssl of a port that speaks no TLS: the check stays in clear",
			cfg:   "listen mqtt\n bind 10.0.0.100:1883\n server q1 10.0.0.1:1883 check check-ssl verify none\n",
			want:  []string{"check: {type: mqtt}"},
			not:   []string{"tls:"},
			notes: []string{"h:3: server q1 10.0.0.1:1883 check-ssl: note: the check speaks no TLS: port 1883 is RabbitMQ's MQTT port, which speaks none"},
		},
		{
			name:  "check-ssl of a server in http mode: an HTTPS request any answer passes",
			cfg:   "listen ui\n bind 10.0.0.100:8080\n mode http\n timeout connect 5s\n timeout client 1m\n timeout server 1m\n default-server verify none\n server u1 10.0.0.1:80 check check-ssl port 443\n",
			want:  []string{"check: {type: http, address: '10.0.0.1:443', expect_status: 100-599, tls: {verify: none}}"},
			notes: []string{"h:8: server u1 10.0.0.1:80 check check-ssl port 443: note: becomes an HTTPS request of / that any answer passes"},
			quiet: []string{"h:8: server u1 10.0.0.1:80 check-ssl"},
		},
		{
			name:  "option ssl-hello-chk of AMQP over TLS on another port: an AMQP handshake over TLS",
			cfg:   "listen amqps\n bind 10.0.0.100:5673\n option ssl-hello-chk\n server r1 10.0.0.1:5673 check\n server r2 10.0.0.2:5673\n",
			want:  []string{"check: {tls: {verify: none}}"},
			notes: []string{"h:1: listen amqps: note: rmqlb binds 10.0.0.100:5673, and its brokers listen on port 5673 too: on a host that also runs a broker, the broker must listen on the host's own address only, not on every address (for AMQP over TLS, RabbitMQ's listeners.ssl.1 = ADDRESS:5673)", "h:3: option ssl-hello-chk: note: HAProxy's check sent a TLS hello", "h:4: server r1 10.0.0.1:5673 check: note: becomes an AMQP handshake check over TLS", "h:5: server r2 10.0.0.2:5673: note: HAProxy does not check this server: rmqlb checks it with an AMQP handshake over TLS, verifying no certificate, like HAProxy's SSL hello check (check tls: {verify: none})"},
			quiet: []string{"h:3: option ssl-hello-chk: not translated"},
		},
		{
			name:  "option ssl-hello-chk of the management port: an HTTPS request, whatever the server's verify",
			cfg:   "listen mgmt\n bind 10.0.0.100:15671\n option ssl-hello-chk\n default-server verify required ca-file @DIR@/lab-ca.pem\n server m1 10.0.0.1:15671 check\n",
			want:  []string{"check: {type: http, tls: {verify: none}}"},
			notes: []string{"h:5: server m1 10.0.0.1:15671 check: note: becomes an HTTPS request of /, which the management UI answers 200, verifying no certificate"},
		},
		{
			name:  "option ssl-hello-chk of a port that speaks no TLS",
			cfg:   "listen stomp\n bind 10.0.0.100:61613\n option ssl-hello-chk\n server s1 10.0.0.1:61613 check\n",
			want:  []string{"check: {type: stomp}"},
			not:   []string{"tls:"},
			notes: []string{"h:3: option ssl-hello-chk: note: the check speaks no TLS: port 61613 is RabbitMQ's STOMP port, which speaks none"},
		},
		{
			name:  "option tcp-check with check-ssl",
			cfg:   "listen amqps\n bind 10.0.0.100:5671\n option tcp-check\n server r1 10.0.0.1:5671 check check-ssl ca-file @DIR@/lab-ca.pem\n",
			want:  []string{"check: {tls: {ca_file: @DIR@/lab-ca.pem, verify: chain}}"},
			notes: []string{"h:3: option tcp-check: not translated: no equivalent: rmqlb checks with AMQP"},
		},
		{
			name:  "a server not checked, with check-ssl",
			cfg:   "listen amqps\n bind 10.0.0.100:5673\n server r1 10.0.0.1:5673 check-ssl verify none\n",
			want:  []string{"check: {tls: {verify: none}}"},
			notes: []string{"h:3: server r1 10.0.0.1:5673 check-ssl verify none: note: HAProxy does not check this server: rmqlb checks it with an AMQP handshake over TLS, with its check-ssl settings"},
		},
		{
			name: "TLS options without an equivalent",
			cfg:  "listen amqps\n bind 10.0.0.100:5671\n server r1 10.0.0.1:5671 check check-ssl verify none ciphers HIGH ssl-max-ver TLSv1.2 check-alpn amqp sni str(rabbit.internal) no-tls-tickets\n",
			want: []string{"check: {tls: {verify: none}}"},
			notes: []string{
				"h:3: server r1 10.0.0.1:5671 ciphers HIGH: not translated: no equivalent: rmqlb's checks over TLS use Go's",
				"h:3: server r1 10.0.0.1:5671 ssl-max-ver TLSv1.2: not translated: no equivalent: rmqlb's checks over TLS use Go's",
				"h:3: server r1 10.0.0.1:5671 check-alpn amqp: not translated: no equivalent: rmqlb's checks over TLS offer no ALPN",
				"h:3: server r1 10.0.0.1:5671 sni str(rabbit.internal): not translated: ",
			},
			quiet: []string{"h:3: server r1 10.0.0.1:5671 no-tls-tickets"},
		},
		{
			// HAProxy opens a relative path from its working
			// directory, here the lab's; ca-base applies to the lines
			// after it only.
			name:    "a relative ca-file, with ca-base set after it",
			cfg:     "listen amqps\n bind 10.0.0.100:5671\n server r1 10.0.0.1:5671 check check-ssl ca-file lab-ca.pem\nglobal\n ca-base /nonexistent\n",
			want:    []string{"check: {tls: {ca_file: lab-ca.pem, verify: chain}}"},
			notes:   []string{"h:3: server r1 10.0.0.1:5671 ca-file lab-ca.pem: note: a relative path, written as it is"},
			loadErr: "ca_file",
		},
		{
			name:  "a plain check of the AMQPS port: over TLS, verifying nothing",
			cfg:   "listen amqps\n bind 10.0.0.100:5671\n server r1 10.0.0.1:5671 check\n server r2 10.0.0.2:5671 check\n",
			want:  []string{"check: {tls: {verify: none}}"},
			notes: []string{"h:3: server r1 10.0.0.1:5671 check: note: becomes an AMQP handshake over TLS (check tls: {verify: none}; add ca_file and verify: chain or full to check the broker's certificate)"},
			quiet: []string{"h:4:"},
		},
		{
			name:  "ssl-default-server-options",
			cfg:   "global\n ssl-default-server-options ssl-min-ver TLSv1.2\nlisten amqps\n bind 10.0.0.100:5671\n server r1 10.0.0.1:5671 check check-ssl verify none\n",
			want:  []string{"check: {tls: {verify: none}}"},
			notes: []string{"h:2: ssl-default-server-options ssl-min-ver TLSv1.2: not translated: no equivalent: rmqlb's checks over TLS use Go's"},
		},
		{
			name:    "a ca-file directory is written as it is, and check-config refuses it",
			cfg:     "listen amqps\n bind 10.0.0.100:5671\n server r1 10.0.0.1:5671 check check-ssl ca-file @DIR@\n",
			want:    []string{"check: {tls: {ca_file: @DIR@, verify: chain}}"},
			notes:   []string{"h:3: server r1 10.0.0.1:5671 ca-file @DIR@: note: a directory of certificates, which rmqlb's ca_file cannot be"},
			loadErr: "ca_file",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tlsLab(t)
			sub := func(s string) string { return strings.ReplaceAll(s, "@DIR@", dir) }
			h := filepath.Join(dir, "h")
			if err := os.WriteFile(h, []byte(sub(tc.cfg)), 0o644); err != nil {
				t.Fatal(err)
			}
			haproxyAccepts(t, h)
			r, err := Import(Sources{HAProxy: h}, OSFiles{})
			if err != nil {
				t.Fatal(err)
			}
			y := string(r.YAML)
			if _, err := config.Parse(r.YAML); err != nil {
				t.Fatalf("config.Parse refuses the file written: %v\n%s", err, y)
			}
			out := filepath.Join(dir, "rmqlb.yaml")
			if err := os.WriteFile(out, r.YAML, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err = config.Load(out)
			switch {
			case tc.loadErr == "" && err != nil:
				t.Errorf("config.Load (check-config) refuses the file written: %v\n%s", err, y)
			case tc.loadErr != "" && (err == nil || !strings.Contains(err.Error(), tc.loadErr)):
				t.Errorf("config.Load: %v, want an error about %s", err, tc.loadErr)
			}
			for _, w := range tc.want {
				if !strings.Contains(y, sub(w)) {
					t.Errorf("the file lacks %q:\n%s", sub(w), y)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(y, sub(w)) {
					t.Errorf("the file holds %q:\n%s", sub(w), y)
				}
			}
			var all []string
			for _, n := range r.Notes {
				s := n.String()
				all = append(all, strings.Replace(s, h+":", "h:", 1))
			}
			for _, w := range tc.notes {
				if !slices.ContainsFunc(all, func(n string) bool { return strings.HasPrefix(n, sub(w)) }) {
					t.Errorf("no note starts with %q; notes:\n%s", sub(w), strings.Join(all, "\n"))
				}
			}
			for _, w := range tc.quiet {
				for _, n := range all {
					if strings.HasPrefix(n, sub(w)) {
						t.Errorf("note %q; want none there", n)
					}
				}
			}
		})
	}
}

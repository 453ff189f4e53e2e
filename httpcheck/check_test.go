package httpcheck

import (
	"bufio"
	"cmp"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rmqlb/rmqlb/checktls"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/internal/fielderr"
	"github.com/rmqlb/rmqlb/internal/testpki"
	"github.com/rmqlb/rmqlb/internal/testserver"
)

// answer is a handler that reads the request's head, hands it to got
// (when not nil) and sends resp.
func answer(resp string, got chan<- string) func(net.Conn) {
	return func(c net.Conn) {
		head, err := readHead(bufio.NewReader(c))
		if err != nil {
			return
		}
		if got != nil {
			got <- head
		}
		io.WriteString(c, resp)
	}
}

// readHead reads a request's head, up to its empty line.
func readHead(r *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			return b.String(), err
		}
		if line == "\r\n" {
			return b.String(), nil
		}
	}
}

// runCheck runs one check of cfg within timeout.
func runCheck(t *testing.T, cfg Config, timeout time.Duration) healthcheck.Result {
	t.Helper()
	return testserver.Run(t, New, cfg, timeout)
}

// TestRequestGolden: the request is a GET of the path with the address as
// its Host, the check's user agent, basic authentication and
// "Connection: close", byte for byte.
func TestRequestGolden(t *testing.T) {
	testserver.NoLeaks(t)
	got := make(chan string, 1)
	addr := testserver.Start(t, answer("HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n{\"status\":\"ok\"}", got))
	r := runCheck(t, Config{Addr: addr, Path: "/api/health/checks/port-listener/1883?x=1", User: "rmqlb-check", Password: "s3cret"}, 2*time.Second)
	if !r.Passed() || r.Info != "HTTP 200 OK" || r.Warning != "" {
		t.Fatalf("result %+v, want a pass with info HTTP 200 OK", r)
	}
	want, err := os.ReadFile("testdata/request.golden")
	if err != nil {
		t.Fatal(err)
	}
	w := strings.ReplaceAll(string(want), "\n", "\r\n")
	w = strings.ReplaceAll(w, "ADDR", addr.String())
	if head := <-got; head != w {
		t.Fatalf("request\n%q\nwant\n%q", head, w)
	}
}

// TestStatuses: the answer's status passes or fails the check as Expect
// says, and a failing one's reason is the server's.
func TestStatuses(t *testing.T) {
	testserver.NoLeaks(t)
	tests := []struct {
		name   string
		resp   string
		expect Statuses
		want   string // "" for a pass
	}{
		{"200", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", nil, ""},
		{"redirect not followed", "HTTP/1.1 301 Moved Permanently\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n", nil, ""},
		{"no body, no length, closed", "HTTP/1.1 204 No Content\r\n\r\n", nil, ""},
		{"RabbitMQ health check failing", "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 68\r\n\r\n" +
			`{"status":"failed","reason":"resource alarm(s) in effect: memory"}  `, nil,
			"GET /p: 503 Service Unavailable (want 200-399): resource alarm(s) in effect: memory"},
		{"401 without credentials", "HTTP/1.1 401 Unauthorized\r\nContent-Length: 23\r\n\r\nNot_Authorized\nmore\r\n", nil,
			"GET /p: 401 Unauthorized (want 200-399): Not_Authorized"},
		{"401 expected", "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n", Statuses{{200, 200}, {401, 401}}, ""},
		{"200 not expected", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", Statuses{{204, 204}}, "GET /p: 200 OK (want 204)"},
		{"HTML page says nothing", "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 27\r\n\r\n<html>\nbroken\n</html>\n\n\n\n\n", nil,
			"GET /p: 500 Internal Server Error (want 200-399)"},
		{"HEAD: a length and no body", "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", nil, ""},
		{"not HTTP", "AMQP\x00\x00\x09\x01", nil, "GET /p: reading answer: malformed HTTP response"},
		{"closed without answer", "", nil, "GET /p: connection closed by server"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan string, 1)
			addr := testserver.Start(t, answer(tc.resp, got))
			method := ""
			if strings.HasPrefix(tc.name, "HEAD") {
				method = "HEAD"
			}
			r := runCheck(t, Config{Addr: addr, Method: method, Path: "/p", Expect: tc.expect}, 2*time.Second)
			if tc.resp != "" || r.Passed() {
				if head := <-got; !strings.HasPrefix(head, cmp.Or(method, "GET")+" /p HTTP/1.1\r\n") {
					t.Fatalf("request %q", head)
				}
			}
			if tc.want == "" {
				if !r.Passed() {
					t.Fatalf("failed: %v", r.Err)
				}
				return
			}
			if r.Passed() || r.Inconclusive || !strings.Contains(r.Err.Error(), tc.want) {
				t.Fatalf("result %+v, want a failure with %q", r, tc.want)
			}
		})
	}
}

// TestLoginRefused: a 401 or 403 to a check with a user passes it with
// the refusal as a warning, or fails it with RefusedFails; without a
// user, and for other statuses, it fails.
func TestLoginRefused(t *testing.T) {
	testserver.NoLeaks(t)
	for _, tc := range []struct {
		name   string
		resp   string
		cfg    Config
		warn   string // the warning of a pass
		failed string // the error of a failure
	}{
		{"401 to a user", "HTTP/1.1 401 Unauthorized\r\nContent-Length: 12\r\n\r\nLogin failed", Config{User: "monitor", Password: "old"},
			"login refused: GET /p: 401 Unauthorized (want 200-399): Login failed", ""},
		{"403 to a user", "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", Config{User: "monitor", Password: "p"},
			"login refused: GET /p: 403 Forbidden (want 200-399)", ""},
		{"401 failing", "HTTP/1.1 401 Unauthorized\r\nContent-Length: 12\r\n\r\nLogin failed", Config{User: "monitor", Password: "old", RefusedFails: true},
			"", "GET /p: 401 Unauthorized (want 200-399): Login failed"},
		{"401 without a user", "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n", Config{},
			"", "GET /p: 401 Unauthorized (want 200-399)"},
		{"503 to a user", "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", Config{User: "monitor", Password: "p"},
			"", "GET /p: 503 Service Unavailable (want 200-399)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := testserver.Start(t, answer(tc.resp, nil))
			cfg := tc.cfg
			cfg.Addr, cfg.Path = addr, "/p"
			r := runCheck(t, cfg, 2*time.Second)
			if tc.failed != "" {
				if r.Passed() || r.Err.Error() != tc.failed {
					t.Fatalf("result %+v, want the failure %q", r, tc.failed)
				}
				return
			}
			if !r.Passed() || r.Warning != tc.warn || !r.Refused || !strings.HasPrefix(r.Info, "HTTP 40") {
				t.Fatalf("result %+v, want a pass with the warning %q", r, tc.warn)
			}
		})
	}
}

// TestFrozenServer: a server whose kernel accepts the connection but that
// never answers (a frozen node) fails the check at its timeout, with an
// error the scheduler takes for a timeout.
func TestFrozenServer(t *testing.T) {
	testserver.NoLeaks(t)
	r := runCheck(t, Config{Addr: testserver.Silent(t)}, 200*time.Millisecond)
	testserver.WantTimeout(t, r, "GET /: timeout after ")
}

// TestEndlessHead: a server that sends headers without end fails the
// check as soon as they pass MaxHead, not at its timeout.
func TestEndlessHead(t *testing.T) {
	testserver.NoLeaks(t)
	addr := testserver.Start(t, func(c net.Conn) {
		if _, err := readHead(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\n")
		line := []byte("X-Filler: " + strings.Repeat("x", 1000) + "\r\n")
		for {
			if _, err := c.Write(line); err != nil {
				return
			}
		}
	})
	r := runCheck(t, Config{Addr: addr}, time.Minute)
	if r.Passed() || !errors.Is(r.Err, ErrTooLong) || errors.Is(r.Err, ErrTimeout) {
		t.Fatalf("result %+v, want ErrTooLong", r)
	}
	if got := r.Err.Error(); got != "GET /: reading answer: answer's head longer than 64 KiB" {
		t.Fatalf("reason %q", got)
	}
}

// TestRefused: nothing listening fails the check as refused.
func TestRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close()
	r := runCheck(t, Config{Addr: addr}, 2*time.Second)
	if r.Passed() || !errors.Is(r.Err, ErrRefused) || !strings.HasPrefix(r.Err.Error(), "connecting to "+addr.String()+": connection refused") {
		t.Fatalf("result %+v, want refused", r)
	}
}

// newPKI returns a CA of the test and a server certificate it signed for
// 127.0.0.1 and rmq1.test, with its key.
func newPKI(t *testing.T) (*testpki.CA, tls.Certificate) {
	t.Helper()
	ca, err := testpki.NewCA(t.TempDir(), "lab")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Server("rmq1", []string{"rmq1.test"}, []netip.Addr{netip.MustParseAddr("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(srv.CertFile, srv.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	return ca, pair
}

// TestHTTPS: over TLS the check verifies the server's certificate as its
// checktls.Config says, and reports the certificates of the session.
func TestHTTPS(t *testing.T) {
	testserver.NoLeaks(t)
	ca, pair := newPKI(t)
	other, err := testpki.NewCA(t.TempDir(), "other")
	if err != nil {
		t.Fatal(err)
	}
	hosts := make(chan string, 8)
	addr := testserver.Start(t, func(c net.Conn) {
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{pair}})
		defer tc.Close()
		if tc.Handshake() != nil {
			return
		}
		head, err := readHead(bufio.NewReader(tc))
		if err != nil {
			return
		}
		hosts <- head
		io.WriteString(tc, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
	})
	tests := []struct {
		name string
		tls  checktls.Config
		host string // the Host header, "" for a failure
		want string
	}{
		{"full, by IP", checktls.Config{CAFile: ca.File, Verify: checktls.VerifyFull}, addr.String(), ""},
		{"full, by name", checktls.Config{CAFile: ca.File, ServerName: "rmq1.test", Verify: checktls.VerifyFull}, "rmq1.test:" + itoa(addr.Port()), ""},
		{"chain, any name", checktls.Config{CAFile: ca.File, ServerName: "other.test", Verify: checktls.VerifyChain}, "other.test:" + itoa(addr.Port()), ""},
		{"another CA", checktls.Config{CAFile: other.File, Verify: checktls.VerifyFull}, "", "TLS handshake failed: tls: failed to verify certificate"},
		{"wrong name", checktls.Config{CAFile: ca.File, ServerName: "rmq2.test", Verify: checktls.VerifyFull}, "", "TLS handshake failed: tls: failed to verify certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.tls
			r := runCheck(t, Config{Addr: addr, TLS: &c}, 2*time.Second)
			if tc.host == "" {
				if r.Passed() || !strings.Contains(r.Err.Error(), tc.want) {
					t.Fatalf("result %+v, want a failure with %q", r, tc.want)
				}
				return
			}
			if !r.Passed() {
				t.Fatalf("failed: %v", r.Err)
			}
			if len(r.Certificates) != 1 || r.Certificates[0].Role != healthcheck.CertBroker || !strings.Contains(r.Certificates[0].Subject, "rmq1") {
				t.Fatalf("certificates %+v, want the broker's of rmq1", r.Certificates)
			}
			if head := <-hosts; !strings.Contains(head, "\r\nHost: "+tc.host+"\r\n") {
				t.Fatalf("request %q, want Host %s", head, tc.host)
			}
		})
	}
}

// TestClientCertificateRefused: a server that refuses the check's client
// certificate (expired, or none sent where one is required) passes it
// with its alert as a warning, as a refused login does, or fails it with
// RefusedFails; a good certificate passes it clean.
func TestClientCertificateRefused(t *testing.T) {
	testserver.NoLeaks(t)
	ca, pair := newPKI(t)
	good, err := ca.Client("rmqlb-check")
	if err != nil {
		t.Fatal(err)
	}
	expired, err := ca.ExpiredClient("rmqlb-check-old")
	if err != nil {
		t.Fatal(err)
	}
	roots, err := (&checktls.Config{CAFile: ca.File}).Load(netip.MustParseAddrPort("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	addr := testserver.Start(t, func(c net.Conn) {
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: roots.RootCAs, ClientAuth: tls.RequireAndVerifyClientCert})
		defer tc.Close()
		if tc.Handshake() != nil {
			return
		}
		if _, err := readHead(bufio.NewReader(tc)); err == nil {
			io.WriteString(tc, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
		}
	})
	for _, tc := range []struct {
		name   string
		cert   testpki.Pair
		fails  bool
		warn   string // "" for a clean pass
		failed string // with fails
	}{
		{"good", good, false, "", ""},
		{"expired", expired, false, "client certificate refused: remote error: tls: ", ""},
		{"expired, failing", expired, true, "", "TLS handshake failed"},
		{"none", testpki.Pair{}, false, "client certificate refused: remote error: tls: ", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := checktls.Config{CAFile: ca.File, CertFile: tc.cert.CertFile, KeyFile: tc.cert.KeyFile, Verify: checktls.VerifyFull}
			r := runCheck(t, Config{Addr: addr, TLS: &cfg, RefusedFails: tc.fails}, 2*time.Second)
			switch {
			case tc.failed != "":
				if r.Passed() || !strings.Contains(r.Err.Error(), "remote error: tls") {
					t.Fatalf("result %+v, want a failure with the alert", r)
				}
			case tc.warn == "":
				if !r.Passed() || r.Warning != "" || r.Info != "HTTP 200 OK" {
					t.Fatalf("result %+v, want a clean pass", r)
				}
			default:
				if !r.Passed() || !strings.HasPrefix(r.Warning, tc.warn) {
					t.Fatalf("result %+v, want a pass with the warning %q...", r, tc.warn)
				}
				t.Logf("warning: %s", r.Warning)
			}
		})
	}
}

func itoa(p uint16) string {
	return netip.AddrPortFrom(netip.IPv4Unspecified(), p).String()[len("0.0.0.0:"):]
}

// TestValidate: each wrong field is named, all of them at once.
func TestValidate(t *testing.T) {
	addr := netip.MustParseAddrPort("10.0.0.1:15672")
	tests := []struct {
		name  string
		cfg   Config
		field string
		want  string
	}{
		{"no address", Config{}, "addr", "must be ip:port"},
		{"relative path", Config{Addr: addr, Path: "api/overview"}, "path", `must start with /, not "api/overview"`},
		{"space in path", Config{Addr: addr, Path: "/api/health checks"}, "path", "holds a space"},
		{"fragment", Config{Addr: addr, Path: "/#x"}, "path", "a fragment"},
		{"CRLF in path", Config{Addr: addr, Path: "/\r\nX-Injected: 1"}, "path", "a control character"},
		{"long path", Config{Addr: addr, Path: "/" + strings.Repeat("a", MaxPathLen)}, "path", "at most 1024"},
		{"bad range", Config{Addr: addr, Expect: Statuses{{300, 200}}}, "expect_status", "300-200 is not a range"},
		{"password alone", Config{Addr: addr, Password: "x"}, "user", "is required with password"},
		{"method", Config{Addr: addr, Method: "POST"}, "method", `must be GET, HEAD or OPTIONS, not "POST"`},
		{"tls", Config{Addr: addr, TLS: &checktls.Config{Verify: "some"}}, "tls.verify", "must be full, chain or none"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			var fe *fielderr.Error
			if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want field %s: %q", err, tc.field, tc.want)
			}
			if _, err := New(tc.cfg); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
	if err := (Config{Addr: addr, Path: "/api/health/checks/alarms?a=b%20c", Expect: Statuses{{200, 299}}}).Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestHost: the Host header is the check's address, an IPv6 one in
// brackets, or the TLS server name with its port.
func TestHost(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Addr: netip.MustParseAddrPort("10.0.0.1:15672")}, "10.0.0.1:15672"},
		{Config{Addr: netip.MustParseAddrPort("[fd00::1]:15672")}, "[fd00::1]:15672"},
		{Config{Addr: netip.MustParseAddrPort("10.0.0.1:15671"), TLS: &checktls.Config{ServerName: "rmq1.example.com", Verify: checktls.VerifyNone}}, "rmq1.example.com:15671"},
	} {
		c, err := New(tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if c.host != tc.want {
			t.Errorf("Host %q, want %q", c.host, tc.want)
		}
	}
}

// TestReasonOf: a failing answer's reason, from RabbitMQ's JSON or the
// body's first line, bounded and in one printable line.
func TestReasonOf(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"status":"failed","reason":"No active listener on port 1883"}`, "No active listener on port 1883"},
		{`{"error":"not_authorised","reason":"Not management user"}`, "Not management user"},
		{"plain text\nsecond line", "plain text"},
		{"<html><body>503</body></html>", ""},
		{"", ""},
		{"tab\there\x00\x1b[31m", "tab here  [31m"},
		{"C1 \u009b31m", "C1  31m"},
		{"\xff\xfe bad utf8", "? bad utf8"},
		{strings.Repeat("x", 300), strings.Repeat("x", 200) + "..."},
	} {
		if got := reasonOf([]byte(tc.body)); got != tc.want {
			t.Errorf("reasonOf(%q) = %q, want %q", tc.body, got, tc.want)
		}
	}
}

// FuzzReasonOf: any body gives a reason of one printable line of valid
// UTF-8, at most 200 bytes and the ellipsis.
func FuzzReasonOf(f *testing.F) {
	for _, s := range []string{`{"status":"failed","reason":"No active listener"}`, "plain\nline", "<html>", "\xff\xfe", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := reasonOf(body)
		if !utf8.ValidString(r) || len(r) > 203 || strings.ContainsFunc(r, unicode.IsControl) {
			t.Fatalf("reasonOf(%q) = %q", body, r)
		}
	})
}

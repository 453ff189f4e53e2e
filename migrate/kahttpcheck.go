package migrate

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/rmqlb/rmqlb/httpcheck"
)

// keepalived's HTTP_GET and SSL_GET of a real server that speaks HTTP, or
// of a port of RabbitMQ's that does not speak AMQP checked on a plugin's
// (httpCheckFits), become rmqlb's check type http: a GET of the first url's path,
// passing on its status codes (keepalived's default, 200-299, too), over
// TLS without verifying the certificate for SSL_GET, as keepalived does.

// kaDefaultStatuses are the codes an url without status_code passes on
// (rmqlb's default, 200-399, passes redirects too).
const kaDefaultStatuses = "200-299"

// connectTarget reads a checker's connect_port or connect_ip into cp or
// ca (and its alpha and warmup, which change nothing in rmqlb), and
// reports whether c was one of them.
func (t *kaT) connectTarget(c *kaNode, ca *netip.Addr, cp *int) bool {
	switch c.key {
	case "connect_port":
		if v, ok := t.numberOf(c, 1, 65535); ok {
			*cp = v
			t.use(c)
		}
	case "connect_ip":
		if v, ok := t.value(c); ok {
			ip, err := netip.ParseAddr(v)
			if err != nil || ip.Zone() != "" || ip.IsUnspecified() {
				t.skip(c, "must be an IP address")
				return true
			}
			*ca = ip
			t.use(c)
		}
	case "alpha", "warmup":
		t.use(c)
	default:
		return false
	}
	return true
}

// connectPort returns the connect_port of checker n, port when it has
// none that reads as one (connectTarget reports it).
func connectPort(n *kaNode, port int) int {
	for _, c := range n.children {
		if c.key == "connect_port" && len(c.args) == 1 {
			if v, err := strconv.Atoi(c.args[0]); err == nil && v > 0 && v <= 65535 {
				port = v
			}
		}
	}
	return port
}

// httpGet makes b's check the HTTP_GET or SSL_GET n, its schedule's
// settings read into s.
func (t *kaT) httpGet(b *backend, n *kaNode, s *kaCheckSettings) {
	t.use(n)
	a, port := b.addr.Addr(), int(b.addr.Port())
	ca, cp := a, port
	c := check{typ: "http", expect: kaDefaultStatuses}
	urls := 0
	for _, ch := range n.children {
		if t.connectTarget(ch, &ca, &cp) {
			continue
		}
		switch ch.key {
		case "url":
			if urls++; urls > 1 {
				t.skip(ch, "no equivalent: rmqlb's http check asks for one path, that of the first url")
				continue
			}
			t.url(ch, &c)
		case "http_protocol", "fast_recovery":
			// rmqlb speaks HTTP/1.1 with Connection: close, and has
			// one url to check.
			t.use(ch)
		case "virtualhost":
			t.skip(ch, "no equivalent: rmqlb's http check sends the check's address as its Host (or tls server_name)")
		case "enable_sni":
			t.skip(ch, "no equivalent: rmqlb's http check sends SNI with tls server_name, which keepalived's SSL_GET has no value of")
		default:
			t.checkSetting(ch, s)
		}
	}
	if urls == 0 {
		t.ns.change(n.pos, n.text(), "has no url, which keepalived needs: rmqlb's http check asks for /")
	}
	if n.key == "SSL_GET" {
		c.tls = checkTLS{verify: "none"}
		t.ns.change(n.pos, n.text(), "an http check over TLS that verifies no certificate (check tls: {verify: none}), as keepalived's SSL_GET: add ca_file and verify: chain or full to check the server's")
	}
	if ca != a || cp != port {
		c.address = netip.AddrPortFrom(ca, uint16(cp))
	}
	b.check = c
}

// url reads an url block of HTTP_GET or SSL_GET into c.
func (t *kaT) url(n *kaNode, c *check) {
	t.use(n)
	for _, ch := range n.children {
		switch ch.key {
		case "path":
			v, ok := t.value(ch)
			if !ok {
				continue
			}
			if err := httpcheck.CheckPath(v); err != nil {
				t.skip(ch, fmt.Sprintf("not a path rmqlb's http check sends (%v): it asks for /", err))
				continue
			}
			if v != "/" {
				c.path = v
			}
			t.use(ch)
		case "status_code":
			if len(ch.args) == 0 {
				t.skip(ch, "needs a value")
				continue
			}
			st, err := httpcheck.ParseStatuses(strings.Join(ch.args, ","))
			if err != nil {
				t.skip(ch, fmt.Sprintf("%v: the check passes on %s", err, kaDefaultStatuses))
				continue
			}
			c.expect = st.String()
			t.use(ch)
		case "digest", "regex", "regex_no_match", "regex_options", "regex_stack", "regex_min_offset", "regex_max_offset":
			t.skip(ch, "no equivalent: rmqlb's http check passes on the answer's status alone (check expect_status)")
		case "virtualhost":
			t.skip(ch, "no equivalent: rmqlb's http check sends the check's address as its Host (or tls server_name)")
		}
	}
}

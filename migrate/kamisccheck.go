package migrate

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/rmqlb/rmqlb/httpcheck"
)

// keepalived's MISC_CHECK runs a program and passes on its exit code 0.
// One that runs curl for an HTTP URL of the real server (misc_path
// "/usr/bin/curl -fsS -u monitor:secret http://10.0.0.1:15672/api/health/checks/alarms")
// is an HTTP request rmqlb's http check makes itself, where it fits
// (httpCheckFits): the same URL, method and credentials, passing as curl
// does (with -f on 100-399, else on any answer).

// curlRequest is the request of a curl command line.
type curlRequest struct {
	addr           netip.AddrPort
	https          bool
	target         string // the request target: path and query
	method         string // "" for GET
	user, password string
	fail           bool // -f: an answer of 400 or more fails
	insecure       bool // -k
	caFile         string
	maxTime        time.Duration
	headers        []string // -H, which rmqlb does not send
}

// curlIgnored are curl's options that change nothing of what its exit
// code says of the server: output, progress, verbosity, IP version,
// redirects (rmqlb's check passes on a redirect, curl -L on where it
// leads), and their values when they take one.
var curlIgnored = map[string]bool{
	"-s": false, "--silent": false, "-S": false, "--show-error": false, "-q": false, "-v": false, "--verbose": false,
	"-4": false, "-6": false, "-L": false, "--location": false, "--compressed": false, "-N": false, "--no-buffer": false,
	"--fail-early": false, "-o": true, "--output": true, "-w": true, "--write-out": true, "--connect-timeout": true,
	"--retry": true, "--retry-delay": true, "-A": true, "--user-agent": true,
}

// errNotCurl: a command that does not run curl.
var errNotCurl = errors.New("not a curl command")

// parseCurl reads cmd, a command line run by a MISC_CHECK, as a curl of
// an HTTP URL at an IP address; it fails with why it is none rmqlb's
// http check can make.
func parseCurl(cmd string) (curlRequest, error) {
	w := unwrapCommand(shellWords(cmd))
	if len(w) == 0 || path.Base(w[0]) != "curl" {
		return curlRequest{}, errNotCurl
	}
	var r curlRequest
	var rawURL string
	args := w[1:]
	for i := 0; i < len(args); i++ {
		a := args[i]
		value := func() (string, error) {
			if i+1 == len(args) {
				return "", fmt.Errorf("curl %s without its value", a)
			}
			i++
			return args[i], nil
		}
		if takes, ok := curlIgnored[a]; ok {
			if takes {
				if _, err := value(); err != nil {
					return r, err
				}
			}
			continue
		}
		var err error
		var v string
		switch a {
		case "-f", "--fail", "--fail-with-body":
			r.fail = true
		case "-k", "--insecure":
			r.insecure = true
		case "-I", "--head":
			r.method = "HEAD"
		case "-X", "--request":
			v, err = value()
			r.method = strings.ToUpper(v)
		case "-u", "--user":
			if v, err = value(); err == nil {
				var ok bool
				if r.user, r.password, ok = strings.Cut(v, ":"); !ok {
					err = errors.New("curl -u without a password, which curl asks for on a terminal")
				}
			}
		case "--cacert":
			r.caFile, err = value()
		case "-m", "--max-time":
			if v, err = value(); err == nil {
				var s float64
				if s, err = strconv.ParseFloat(v, 64); err == nil && s > 0 {
					r.maxTime = time.Duration(s * float64(time.Second))
				}
			}
		case "-H", "--header":
			v, err = value()
			r.headers = append(r.headers, v)
		default:
			switch {
			case strings.HasPrefix(a, "-") && len(a) > 2 && a[1] != '-' && strings.Trim(a[1:], "fsSkLq") == "":
				// Short flags together: -fsS, -sk.
				r.fail = r.fail || strings.Contains(a, "f")
				r.insecure = r.insecure || strings.Contains(a, "k")
			case strings.HasPrefix(a, "-"):
				return r, fmt.Errorf("curl %s, which rmqlb import does not know", a)
			case rawURL != "":
				return r, errors.New("curl of more than one URL")
			default:
				rawURL = a
			}
		}
		if err != nil {
			return r, err
		}
	}
	switch r.method {
	case "", "GET", "HEAD", "OPTIONS":
	default:
		return r, fmt.Errorf("curl -X %s: rmqlb's http check sends GET, HEAD or OPTIONS", r.method)
	}
	if r.method == "GET" {
		r.method = ""
	}
	return r, r.parseURL(rawURL)
}

// parseURL reads the URL of r.
func (r *curlRequest) parseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || raw == "" {
		return fmt.Errorf("curl without a URL it can read (%q)", raw)
	}
	port, err := urlPort(u)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(u.Hostname())
	if err != nil || ip.Zone() != "" {
		return fmt.Errorf("curl of %s, not an IP address: rmqlb checks addresses", u.Hostname())
	}
	if ip.IsLoopback() || ip.IsUnspecified() {
		return fmt.Errorf("curl of %s, this host, not the real server", ip)
	}
	r.addr, r.https = netip.AddrPortFrom(ip.Unmap(), port), u.Scheme == "https"
	if u.User != nil && r.user == "" {
		r.user = u.User.Username()
		r.password, _ = u.User.Password()
	}
	if r.user == "" && r.password != "" {
		return errors.New("curl of a password without a user")
	}
	r.target = u.RequestURI()
	if err := httpcheck.CheckPath(r.target); err != nil {
		return fmt.Errorf("curl of a path rmqlb's http check does not send: %v", err)
	}
	return nil
}

// urlPort returns the port an http or https URL u goes to: its own, or
// its scheme's.
func urlPort(u *url.URL) (uint16, error) {
	port := map[string]uint16{"http": 80, "https": 443}[u.Scheme]
	if port == 0 {
		return 0, fmt.Errorf("curl of a %s URL, not http or https", u.Scheme)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return 0, fmt.Errorf("curl of port %q", p)
		}
		port = uint16(n)
	}
	return port, nil
}

// unwrapCommand returns the command w runs through "sh -c '...'" and
// "timeout N ...".
func unwrapCommand(w []string) []string {
	for len(w) > 0 {
		base := path.Base(w[0])
		switch {
		case (base == "sh" || base == "bash") && len(w) > 2 && w[1] == "-c":
			w = shellWords(strings.Join(w[2:], " "))
			continue
		case base == "timeout" && len(w) > 2:
			w = w[2:]
			continue
		}
		return w
	}
	return w
}

// errNoMiscPath: a MISC_CHECK without a misc_path.
var errNoMiscPath = errors.New("no misc_path")

// miscCurl returns the curl request of the MISC_CHECK n: its misc_path
// read by parseCurl, or why it is none (errNoMiscPath, errNotCurl, or
// what keeps a curl from becoming rmqlb's http check).
func miscCurl(n *kaNode) (curlRequest, error) {
	for _, c := range n.children {
		if c.key == "misc_path" && len(c.args) > 0 {
			return parseCurl(strings.Join(c.args, " "))
		}
	}
	return curlRequest{}, errNoMiscPath
}

// miscWhy says why a MISC_CHECK whose curl request failed with err is
// not translated: what rmqlb's check is instead, after what keeps a curl
// of its misc_path from becoming rmqlb's http check.
func miscWhy(err error) string {
	if err == nil || errors.Is(err, errNotCurl) || errors.Is(err, errNoMiscPath) {
		return whyAMQP
	}
	return err.Error() + "; " + whyAMQP
}

// miscCheck makes b's check the MISC_CHECK n, whose misc_path is the curl
// request r, its schedule's settings read into s.
func (t *kaT) miscCheck(b *backend, n *kaNode, r curlRequest, s *kaCheckSettings) {
	t.use(n)
	c := check{typ: "http", method: r.method, user: r.user, password: r.password}
	if r.target != "/" {
		c.path = r.target
	}
	if r.addr != b.addr {
		c.address = r.addr
	}
	var notes []string
	if !r.fail {
		c.expect = "100-599"
		notes = append(notes, "curl without -f passes on any answer, and so does the check (expect_status 100-599)")
	}
	if r.https {
		switch {
		case r.insecure:
			c.tls = checkTLS{verify: "none"}
			notes = append(notes, "over TLS that verifies no certificate, as curl -k (tls: {verify: none})")
		case r.caFile != "":
			c.tls = checkTLS{verify: "full", caFile: r.caFile}
		default:
			c.tls = checkTLS{verify: "full"}
		}
	}
	if len(r.headers) > 0 {
		notes = append(notes, fmt.Sprintf("its headers (%s) are not sent: rmqlb's http check sends none of its own", strings.Join(r.headers, ", ")))
	}
	if r.maxTime > 0 && checkDuration(r.maxTime) == nil {
		s.timeout = r.maxTime
	}
	for _, ch := range n.children {
		switch ch.key {
		case "misc_path":
			why := "becomes an http check of the same URL (check type: http), which fails for a frozen node as the script did"
			if len(notes) > 0 {
				why += "; " + strings.Join(notes, "; ")
			}
			t.change(ch, why)
		case "misc_timeout":
			if r.maxTime == 0 {
				if d, ok := t.secondsOf(ch); ok && checkDuration(d) == nil {
					s.timeout = d
					t.use(ch)
				}
				continue
			}
			t.change(ch, "the check's timeout is curl's -m")
		case "misc_dynamic":
			t.skip(ch, "no equivalent: the script's exit code set the weight; rmqlb's weights are the file's and the operator's")
		case "user", "alpha", "warmup":
			// The user the script runs as (the daemon checks as
			// itself), and what changes nothing in rmqlb.
			t.use(ch)
		default:
			t.checkSetting(ch, s)
		}
	}
	b.check = c
}

package migrate

import (
	"strings"
	"testing"
)

// TestSecretsHidden: no note carries a credential of haproxy.cfg, and
// each says where one was.
func TestSecretsHidden(t *testing.T) {
	cfg := `listen amqp
 bind 10.0.0.100:5672
 option httpchk GET / HTTP/1.0\r\nAuthorization:\ Basic\ Z3Vlc3Q6Z3Vlc3Q=
 http-check send hdr Authorization "Basic c2VjcmV0OnNlY3JldA=="
 http-check send hdr X-Api-Key k3y-v4lue
 stats auth admin:s3cr3t
 server r1 10.0.0.1:5672 check port 15672
userlist ops
 user admin insecure-password hunter2
 user ro password $6$salted$hash
`
	r, err := Import(Sources{HAProxy: "h"}, memFiles{"h": cfg})
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, n := range r.Notes {
		all.WriteString(n.String() + "\n")
	}
	for _, secret := range []string{"Z3Vlc3Q6Z3Vlc3Q=", "c2VjcmV0OnNlY3JldA==", "k3y-v4lue", "s3cr3t", "hunter2", "$6$salted$hash"} {
		if strings.Contains(all.String(), secret) || strings.Contains(string(r.YAML), secret) {
			t.Errorf("%q is in the output:\n%s", secret, all.String())
		}
	}
	for _, want := range []string{
		"h:3: option httpchk GET / HTTP/1.0rnAuthorization: <hidden>: not translated",
		"h:4: http-check send hdr Authorization <hidden>: not translated",
		"h:5: http-check send hdr X-Api-Key <hidden>: not translated",
		"h:6: stats auth admin:<hidden>: not translated",
	} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("no note %q:\n%s", want, all.String())
		}
	}
}

// TestMaskSecrets: the words that hold credentials, and only those.
func TestMaskSecrets(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"server a 10.0.0.1:5672 check", "server a 10.0.0.1:5672 check"},
		{"http-check send hdr authorization Bearer xyz if TRUE", "http-check send hdr authorization <hidden> <hidden> <hidden> <hidden>"},
		{"http-check send hdr Host example.com", "http-check send hdr Host example.com"},
		{"user u password h groups g", "user u password <hidden> groups g"},
		{"stats auth nocolon", "stats auth nocolon"},
		{"stats auth a:b", "stats auth a:<hidden>"},
		{"option httpchk GET / HTTP/1.1rnHost:x", "option httpchk GET / HTTP/1.1rnHost:x"},
		{"option httpchk GET / HTTP/1.1rnCookie:", "option httpchk GET / HTTP/1.1rnCookie:"},
	} {
		if got := strings.Join(maskSecrets(strings.Fields(c.in)), " "); got != c.want {
			t.Errorf("maskSecrets(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

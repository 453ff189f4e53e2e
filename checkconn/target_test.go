package checkconn

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/rmqlb/rmqlb/checktls"
)

// TestValidate: each rule the checks share names its field.
func TestValidate(t *testing.T) {
	addr := netip.MustParseAddrPort("10.0.0.1:1883")
	for _, tc := range []struct {
		name           string
		addr           netip.AddrPort
		user, password string
		tls            *checktls.Config
		want           []string
	}{
		{"fine", addr, "u", "p", &checktls.Config{Verify: checktls.VerifyNone}, nil},
		{"no address", netip.AddrPort{}, "", "", nil, []string{"addr: must be ip:port"}},
		{"port 0", netip.MustParseAddrPort("10.0.0.1:0"), "", "", nil, []string{"addr: must be ip:port"}},
		{"password alone", addr, "", "p", nil, []string{"user: is required with password"}},
		{"user alone", addr, "u", "", nil, nil},
		{"tls", addr, "", "", &checktls.Config{Verify: "maybe"}, []string{"tls.verify: "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := errors.Join(Validate(tc.addr, tc.user, tc.password, tc.tls)...)
			if (err == nil) != (len(tc.want) == 0) {
				t.Fatalf("%v, want %q", err, tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("%v, want %q", err, w)
				}
			}
		})
	}
}

// TestTLSFiles: no TLS settings, no files; a file that cannot be read
// fails.
func TestTLSFiles(t *testing.T) {
	addr := netip.MustParseAddrPort("10.0.0.1:8883")
	if f, err := TLSFiles(nil, addr); f != nil || err != nil {
		t.Fatalf("in clear: %v %v, want nothing", f, err)
	}
	if f, err := TLSFiles(&checktls.Config{Verify: checktls.VerifyNone}, addr); f == nil || err != nil {
		t.Fatalf("verify none: %v %v, want files", f, err)
	}
	if _, err := TLSFiles(&checktls.Config{CAFile: "/nonexistent/ca.pem", Verify: checktls.VerifyFull}, addr); err == nil {
		t.Fatal("a CA file that does not exist: no error")
	}
}

// TestCheckCluster: a broker in the cluster wanted, or any for none, is
// fine; one in another is ErrWrongCluster, with both names.
func TestCheckCluster(t *testing.T) {
	for _, ok := range [][2]string{{"prod", "prod"}, {"prod", ""}, {"", ""}} {
		if err := CheckCluster(ok[0], ok[1]); err != nil {
			t.Errorf("%q wanting %q: %v", ok[0], ok[1], err)
		}
	}
	err := CheckCluster("rabbit@h3", "prod")
	if !errors.Is(err, ErrWrongCluster) || err.Error() != `broker in another cluster: it names cluster "rabbit@h3", not "prod" (reset, or not joined to the cluster?)` {
		t.Errorf("%v", err)
	}
}

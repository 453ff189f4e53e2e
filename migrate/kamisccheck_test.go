package migrate

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/httpcheck"
)

// TestParseCurl: the curl command lines of MISC_CHECKs rmqlb's http check
// can make, and why others are not.
func TestParseCurl(t *testing.T) {
	for _, tc := range []struct {
		cmd  string
		want curlRequest
		err  string
	}{
		{cmd: "/usr/bin/curl -fsS -m 2.5 -u monitor:s3:cret http://10.0.0.1:15672/api/health/checks/alarms",
			want: curlRequest{addr: netip.MustParseAddrPort("10.0.0.1:15672"), target: "/api/health/checks/alarms", user: "monitor", password: "s3:cret", fail: true, maxTime: 2500 * time.Millisecond}},
		{cmd: "sh -c 'timeout 3 curl --silent --fail --output /dev/null http://guest:guest@10.0.0.2:15672/api/aliveness-test/%2F'",
			want: curlRequest{addr: netip.MustParseAddrPort("10.0.0.2:15672"), target: "/api/aliveness-test/%2F", user: "guest", password: "guest", fail: true}},
		{cmd: "curl -sk -I --cacert /etc/ca.pem -H 'Accept: */*' https://10.0.0.3/",
			want: curlRequest{addr: netip.MustParseAddrPort("10.0.0.3:443"), https: true, target: "/", method: "HEAD", insecure: true, caFile: "/etc/ca.pem", headers: []string{"Accept: */*"}}},
		{cmd: "curl -X options http://10.0.0.4:15672/?x=1", want: curlRequest{addr: netip.MustParseAddrPort("10.0.0.4:15672"), target: "/?x=1", method: "OPTIONS"}},
		{cmd: "curl -X GET http://10.0.0.4:80/", want: curlRequest{addr: netip.MustParseAddrPort("10.0.0.4:80"), target: "/"}},
		{cmd: "/etc/keepalived/check.sh", err: "not a curl command"},
		{cmd: "wget -q http://10.0.0.1/", err: "not a curl command"},
		{cmd: "curl -f http://127.0.0.1:15672/", err: "curl of 127.0.0.1, this host, not the real server"},
		{cmd: "curl -f http://rmq1:15672/", err: "curl of rmq1, not an IP address"},
		{cmd: "curl -f ftp://10.0.0.1/", err: "curl of a ftp URL, not http or https"},
		{cmd: "curl -X POST http://10.0.0.1/", err: "curl -X POST: rmqlb's http check sends GET, HEAD or OPTIONS"},
		{cmd: "curl -u monitor http://10.0.0.1/", err: "curl -u without a password"},
		{cmd: "curl -u :pw http://10.0.0.1/", err: "curl of a password without a user"},
		{cmd: "curl http://:pw@10.0.0.1/", err: "curl of a password without a user"},
		{cmd: "curl --data x http://10.0.0.1/", err: "curl --data, which rmqlb import does not know"},
		{cmd: "curl http://10.0.0.1/ http://10.0.0.2/", err: "curl of more than one URL"},
		{cmd: "curl -f", err: "curl without a URL it can read"},
		{cmd: "curl -m", err: "curl -m without its value"},
		{cmd: "curl http://10.0.0.1:0/", err: `curl of port "0"`},
	} {
		got, err := parseCurl(tc.cmd)
		switch {
		case tc.err != "":
			if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
				t.Errorf("%s: %+v %v, want error %q", tc.cmd, got, err, tc.err)
			}
		case err != nil || !reflect.DeepEqual(got, tc.want):
			t.Errorf("%s:\ngot  %+v %v\nwant %+v", tc.cmd, got, err, tc.want)
		}
	}
}

// FuzzParseCurl: any command line gives a request rmqlb's http check can
// make, or an error; never a panic.
func FuzzParseCurl(f *testing.F) {
	f.Add("/usr/bin/curl -fsS -m 3 -u monitor:s3cret http://10.0.0.1:15672/api/health/checks/alarms")
	f.Add("sh -c 'timeout 3 curl -k -I https://u:p@10.0.0.3/x?y'")
	f.Fuzz(func(t *testing.T, cmd string) {
		r, err := parseCurl(cmd)
		if err != nil {
			return
		}
		if !r.addr.IsValid() || r.addr.Port() == 0 || r.addr.Addr().IsLoopback() || httpcheck.CheckPath(r.target) != nil || r.user == "" && r.password != "" {
			t.Fatalf("%q: %+v", cmd, r)
		}
	})
}

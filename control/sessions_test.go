package control

import (
	"bytes"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/balancer"
)

// TestParseSessionsRequest: the arguments of a sessions request, good
// and bad; a request read back from its Args is the same request.
func TestParseSessionsRequest(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want SessionsRequest
		err  string
	}{
		{args: nil, want: SessionsRequest{}},
		{args: []string{"listener=amqp", "backend=rmq1", "client=10.1.0.0/16", "limit=5"},
			want: SessionsRequest{Listener: "amqp", Backend: "rmq1", Client: netip.MustParsePrefix("10.1.0.0/16"), Limit: 5}},
		{args: []string{"client=2001:db8::1"}, want: SessionsRequest{Client: netip.MustParsePrefix("2001:db8::1/128")}},
		{args: []string{"client=10.1.2.3"}, want: SessionsRequest{Client: netip.MustParsePrefix("10.1.2.3/32")}},
		{args: []string{"client=10.1.2.3:53422"}, want: SessionsRequest{Client: netip.MustParsePrefix("10.1.2.3/32"), ClientPort: 53422}},
		{args: []string{"client=[2001:db8::1]:5"}, want: SessionsRequest{Client: netip.MustParsePrefix("2001:db8::1/128"), ClientPort: 5}},
		{args: []string{"client=10.1.2.3:0"}, err: "a port of 1..65535"},
		{args: []string{"client=[fe80::1%eth0]:5"}, err: "a port of 1..65535 and an address without a zone"},
		{args: []string{"client=10.1.2.3:65536"}, err: "not an address, a prefix or an address:port"},
		{args: []string{"backend=a=b"}, want: SessionsRequest{Backend: "a=b"}},
		{args: []string{"listener=amqp", "not_allowed=true"}, want: SessionsRequest{Listener: "amqp", NotAllowed: true}},
		{args: []string{"not_allowed=false"}, want: SessionsRequest{}},
		{args: []string{"not_allowed=yes"}, err: `not_allowed must be true or false, not "yes"`},
		{args: []string{"listener"}, err: `"listener" is not KEY=VALUE`},
		{args: []string{"listener="}, err: `"listener=" is not KEY=VALUE`},
		{args: []string{"listener=a", "listener=b"}, err: "listener given twice"},
		{args: []string{"limit=0"}, err: `limit must be 1..1000000, not "0"`},
		{args: []string{"limit=1000001"}, err: "limit must be 1..1000000"},
		{args: []string{"limit=ten"}, err: "limit must be 1..1000000"},
		{args: []string{"client=10.1.2.3/16"}, err: "bits set past /16 (10.1.0.0/16?)"},
		{args: []string{"client=fe80::1%eth0"}, err: "an address with a zone"},
		{args: []string{"client=rabbit1"}, err: "not an address, a prefix or an address:port"},
		{args: []string{"client=10.0.0.0/33"}, err: "not an address, a prefix or an address:port"},
		{args: []string{"vip=10.0.0.1"}, err: `unknown key "vip"`},
	} {
		got, err := ParseSessionsRequest(tc.args)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %+v, %v; want an error with %q", tc.args, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: %+v, %v; want %+v", tc.args, got, err, tc.want)
		}
		if again, err := ParseSessionsRequest(got.Args()); err != nil || again != got {
			t.Errorf("%q read back from %q: %+v, %v", tc.args, got.Args(), again, err)
		}
	}
}

// FuzzParseSessionsRequest: any arguments give a request or an error,
// and a request read back from its Args is the same request.
func FuzzParseSessionsRequest(f *testing.F) {
	f.Add("listener=amqp", "client=10.0.0.0/8", "limit=3")
	f.Add("backend=rmq1", "client=::ffff:10.0.0.1", "")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		r, err := ParseSessionsRequest([]string{a, b, c})
		if err != nil {
			return
		}
		if again, err := ParseSessionsRequest(r.Args()); err != nil || !reflect.DeepEqual(again, r) {
			t.Fatalf("%+v read back from %q: %+v, %v", r, r.Args(), again, err)
		}
	})
}

// TestFormatSessions: one row a session, "-" for what is not known yet,
// and the count line, with the limit when it cut the list.
func TestFormatSessions(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	s := Sessions{Now: now, Total: 3, Sessions: []ListenerSession{
		{Listener: "amqp", SessionInfo: balancer.SessionInfo{
			Client: netip.MustParseAddrPort("10.1.0.7:53422"), Backend: "rmq1",
			BackendAddress: netip.MustParseAddrPort("10.77.0.1:5672"), Source: netip.MustParseAddrPort("10.77.0.100:41234"),
			State: balancer.SessionEstablished, Since: now.Add(-2 * time.Hour), LastActive: now.Add(-3 * time.Second),
			BytesIn: 5 << 20, BytesOut: 3 << 30}},
		{Listener: "amqp", SessionInfo: balancer.SessionInfo{
			Client: netip.MustParseAddrPort("[2001:db8::7]:40000"), Backend: "rmq2",
			State: balancer.SessionConnecting, Since: now.Add(-20 * time.Millisecond), LastActive: now.Add(-20 * time.Millisecond)}},
	}}
	var b bytes.Buffer
	if err := FormatSessions(&b, s, 2); err != nil {
		t.Fatal(err)
	}
	want := `LISTENER  BACKEND  CLIENT               SOURCE             BACKEND ADDRESS  STATE        AGE     IDLE  IN      OUT
amqp      rmq1     10.1.0.7:53422       10.77.0.100:41234  10.77.0.1:5672   established  2h0m0s  3s    5.0MiB  3.0GiB
amqp      rmq2     [2001:db8::7]:40000  -                  -                connecting   20ms    20ms  0B      0B
2 of 3 sessions (limit 2)
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	if err := FormatSessions(&b, Sessions{Now: now, Sessions: []ListenerSession{}}, 1000); err != nil || b.String() != "0 sessions\n" {
		t.Errorf("no session: %q, %v", b.String(), err)
	}
}

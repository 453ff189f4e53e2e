package migrate

import (
	"strings"
	"testing"
)

// LVS groups the clients of an IPv6 service by a prefix length
// (keepalived's persistence_granularity, ipvsadm's -M), those of an IPv4
// one by a netmask: the first becomes persistence_netmask6, the second
// persistence_netmask, and a value that is neither for its service is
// not translated.
func TestImportPersistenceGranularity(t *testing.T) {
	ka := func(vip, granularity string) string {
		return "virtual_server " + vip + " 5672 {\n lb_algo rr\n persistence_timeout 300\n persistence_granularity " + granularity +
			"\n real_server 10.0.0.1 5672 {\n  TCP_CHECK {\n  }\n }\n}\n"
	}
	ipvs := func(vip, mask string) string {
		return "-A -t " + vip + ":5672 -s rr -p 300 -M " + mask + "\n-a -t " + vip + ":5672 -r 10.0.0.1:5672 -g -w 1\n"
	}
	for _, tc := range []struct {
		name        string
		src         Sources
		files       memFiles
		bits, bits6 int
		skipped     string // a directive noted as not translated
	}{
		{name: "keepalived IPv4", src: Sources{Keepalived: "k"}, files: memFiles{"k": ka("10.0.0.100", "255.255.255.0")}, bits: 24},
		{name: "keepalived IPv6", src: Sources{Keepalived: "k"}, files: memFiles{"k": ka("2001:db8::100", "64")}, bits: 32, bits6: 64},
		{name: "keepalived IPv6 netmask", src: Sources{Keepalived: "k"}, files: memFiles{"k": ka("2001:db8::100", "255.255.255.0")}, bits: 32, bits6: 128, skipped: "persistence_granularity"},
		{name: "keepalived IPv6 129", src: Sources{Keepalived: "k"}, files: memFiles{"k": ka("2001:db8::100", "129")}, bits: 32, bits6: 128, skipped: "persistence_granularity"},
		{name: "ipvsadm IPv4", src: Sources{IPVSAdm: "i"}, files: memFiles{"i": ipvs("10.0.0.100", "255.255.0.0")}, bits: 16},
		{name: "ipvsadm IPv6", src: Sources{IPVSAdm: "i"}, files: memFiles{"i": ipvs("[2001:db8::100]", "56")}, bits: 32, bits6: 56},
		{name: "ipvsadm IPv6 0", src: Sources{IPVSAdm: "i"}, files: memFiles{"i": ipvs("[2001:db8::100]", "0")}, bits: 32, bits6: 128, skipped: "-M"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, y, ns := importParsed(t, tc.files, tc.src)
			if len(c.Listeners) != 1 {
				t.Fatalf("%d listeners\n%s", len(c.Listeners), y)
			}
			l := c.Listeners[0]
			want6 := tc.bits6
			if want6 == 0 {
				want6 = 128
			}
			if l.PersistenceNetmask != tc.bits || l.PersistenceNetmask6 != want6 {
				t.Errorf("persistence_netmask %d, netmask6 %d; want %d, %d\n%s", l.PersistenceNetmask, l.PersistenceNetmask6, tc.bits, want6, y)
			}
			skipped := ""
			for _, n := range ns {
				if n.Kind == NotTranslated && (strings.Contains(n.Directive, "granularity") || strings.Contains(n.Directive, "-M")) {
					skipped += n.String() + "\n"
				}
			}
			if tc.skipped == "" && skipped != "" || tc.skipped != "" && !strings.Contains(skipped, tc.skipped) {
				t.Errorf("not translated:\n%swant %q", skipped, tc.skipped)
			}
		})
	}
}

package netsetup

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/internal/fielderr"
)

func TestVIPConfigValidate(t *testing.T) {
	vip := []netip.Prefix{netip.MustParsePrefix("10.77.0.100/24")}
	tests := []struct {
		name string
		cfg  VIPConfig
		want []string // substrings of the error; nil = valid
	}{
		{name: "minimal", cfg: VIPConfig{Interface: "eth0", VIPs: vip}},
		{name: "full", cfg: VIPConfig{Interface: "eth0.100", Label: "rmq-1", VIPs: []netip.Prefix{
			netip.MustParsePrefix("10.77.0.100/24"), netip.MustParsePrefix("10.77.0.101/32"), netip.MustParsePrefix("fd00::100/64"),
		}, GARP: GARPConfig{Count: 3, Interval: time.Second, Refresh: -1}}},
		{name: "no interface", cfg: VIPConfig{VIPs: vip}, want: []string{"interface: required"}},
		{name: "long interface", cfg: VIPConfig{Interface: "abcdefghijklmnop", VIPs: vip}, want: []string{"interface:", "longer than 15"}},
		{name: "colon in interface", cfg: VIPConfig{Interface: "eth0:1", VIPs: vip}, want: []string{"interface:", "':'"}},
		{name: "slash in interface", cfg: VIPConfig{Interface: "a/b", VIPs: vip}, want: []string{"interface:"}},
		{name: "no vips", cfg: VIPConfig{Interface: "eth0"}, want: []string{"vips: at least one"}},
		{name: "invalid prefix", cfg: VIPConfig{Interface: "eth0", VIPs: []netip.Prefix{{}}}, want: []string{"vips[0]: invalid"}},
		{name: "duplicate", cfg: VIPConfig{Interface: "eth0", VIPs: []netip.Prefix{
			netip.MustParsePrefix("10.77.0.100/24"), netip.MustParsePrefix("10.77.0.100/32"),
		}}, want: []string{"vips[1]:", "duplicate"}},
		{name: "loopback", cfg: VIPConfig{Interface: "eth0", VIPs: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/8")}}, want: []string{"vips[0]:", "not a usable"}},
		{name: "multicast", cfg: VIPConfig{Interface: "eth0", VIPs: []netip.Prefix{netip.MustParsePrefix("224.0.0.18/32")}}, want: []string{"vips[0]:"}},
		{name: "unspecified", cfg: VIPConfig{Interface: "eth0", VIPs: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}, want: []string{"vips[0]:"}},
		{name: "prefix length 0", cfg: VIPConfig{Interface: "eth0", VIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.5/0")}}, want: []string{"vips[0]:", "prefix length 0", "/32"}},
		{name: "IPv6 prefix length 0", cfg: VIPConfig{Interface: "eth0", VIPs: []netip.Prefix{netip.MustParsePrefix("fd00::5/0")}}, want: []string{"vips[0]:", "prefix length 0", "/128"}},
		{name: "link-local v6", cfg: VIPConfig{Interface: "eth0", VIPs: []netip.Prefix{netip.MustParsePrefix("fe80::1/64")}}, want: []string{"vips[0]:"}},
		{name: "mapped", cfg: VIPConfig{Interface: "eth0", VIPs: []netip.Prefix{netip.MustParsePrefix("::ffff:10.0.0.1/128")}}, want: []string{"vips[0]:", "IPv4-mapped"}},
		{name: "label too long", cfg: VIPConfig{Interface: "eth0", Label: "abcdefghijklmno", VIPs: vip}, want: []string{"label:", "1..14"}},
		{name: "label charset", cfg: VIPConfig{Interface: "eth0", Label: "rm qlb", VIPs: vip}, want: []string{"label:", "letters"}},
		{name: "label colon", cfg: VIPConfig{Interface: "eth0", Label: "a:b", VIPs: vip}, want: []string{"label:"}},
		{name: "negative count", cfg: VIPConfig{Interface: "eth0", VIPs: vip, GARP: GARPConfig{Count: -1}}, want: []string{"garp.count"}},
		{name: "negative interval", cfg: VIPConfig{Interface: "eth0", VIPs: vip, GARP: GARPConfig{Interval: -time.Second}}, want: []string{"garp.interval"}},
		{name: "tiny refresh", cfg: VIPConfig{Interface: "eth0", VIPs: vip, GARP: GARPConfig{Refresh: time.Millisecond}}, want: []string{"garp.refresh"}},
		{name: "several errors", cfg: VIPConfig{GARP: GARPConfig{Count: -1}}, want: []string{"interface:", "vips:", "garp.count"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want error containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestGARPConfigDefaults(t *testing.T) {
	tests := []struct {
		in, want GARPConfig
	}{
		{GARPConfig{}, GARPConfig{Count: 5, Interval: 1100 * time.Millisecond, Refresh: 60 * time.Second}},
		{GARPConfig{Count: 2, Interval: time.Second, Refresh: -1}, GARPConfig{Count: 2, Interval: time.Second, Refresh: -1}},
	}
	for _, tt := range tests {
		if got := tt.in.withDefaults(); got != tt.want {
			t.Errorf("%+v.withDefaults() = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestNewVIPSetRejectsInvalid(t *testing.T) {
	if _, err := NewVIPSet(VIPConfig{}, nil, nil); err == nil || !strings.Contains(err.Error(), "interface: required") {
		t.Fatalf("NewVIPSet(zero) error = %v, want a validation error", err)
	}
}

func TestAddrLabel(t *testing.T) {
	tests := []struct {
		ifname, tag string
		want        string
		ok          bool
	}{
		{"eth0", "rmqlb", "eth0:rmqlb", true},
		{"enp0s31f6", "rmqlb", "enp0s31f6:rmqlb", true},   // exactly 15
		{"enp0s31f6.1", "rmqlb", "enp0s31f6.1:rmq", true}, // cut to 15
		{"abcdefghijkl", "rmqlb", "abcdefghijkl:rm", true},
		{"abcdefghijklm", "rmqlb", "abcdefghijklm:r", true}, // 13 + ":" + 1
		{"abcdefghijklmn", "rmqlb", "", false},              // 14: no room for a tag byte
		{"abcdefghijklmno", "rmqlb", "", false},
		{"eth0", "", "", false},
	}
	for _, tt := range tests {
		got, ok := addrLabel(tt.ifname, tt.tag)
		if got != tt.want || ok != tt.ok {
			t.Errorf("addrLabel(%q, %q) = %q, %v; want %q, %v", tt.ifname, tt.tag, got, ok, tt.want, tt.ok)
		}
		if len(got) > 15 {
			t.Errorf("addrLabel(%q, %q) = %q is longer than 15 bytes", tt.ifname, tt.tag, got)
		}
	}
}

func TestIsOurs(t *testing.T) {
	v4 := netip.MustParsePrefix("10.0.0.100/24")
	v6 := netip.MustParsePrefix("fd00::100/64")
	long := "abcdefghijklmn"
	tests := []struct {
		name   string
		a      addrInfo
		ifname string
		want   bool
	}{
		{"v4 label and proto", addrInfo{prefix: v4, label: "eth0:rmqlb", proto: AddrProto}, "eth0", true},
		{"v4 label, old kernel", addrInfo{prefix: v4, label: "eth0:rmqlb"}, "eth0", true},
		{"v4 no label", addrInfo{prefix: v4, label: "eth0"}, "eth0", false},
		{"v4 no label but our proto", addrInfo{prefix: v4, label: "eth0", proto: AddrProto}, "eth0", false},
		{"v4 other label", addrInfo{prefix: v4, label: "eth0:vip"}, "eth0", false},
		{"v4 other tag same prefix", addrInfo{prefix: v4, label: "eth0:rmqlb2"}, "eth0", false},
		{"v4 our label, other proto", addrInfo{prefix: v4, label: "eth0:rmqlb", proto: 4}, "eth0", false},
		{"v4 label of another interface", addrInfo{prefix: v4, label: "eth1:rmqlb"}, "eth0", false},
		{"v4 long ifname, proto", addrInfo{prefix: v4, label: long, proto: AddrProto}, long, true},
		{"v4 long ifname, no proto", addrInfo{prefix: v4, label: long}, long, false},
		{"v4 long ifname, odd label", addrInfo{prefix: v4, label: "x", proto: AddrProto}, long, false},
		{"v6 proto", addrInfo{prefix: v6, proto: AddrProto}, "eth0", true},
		{"v6 no proto", addrInfo{prefix: v6}, "eth0", false},
		{"v6 kernel_ll", addrInfo{prefix: v6, proto: 3}, "eth0", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isOurs(tt.a, tt.ifname, "rmqlb"); got != tt.want {
				t.Errorf("isOurs(%+v, %q) = %v, want %v", tt.a, tt.ifname, got, tt.want)
			}
		})
	}
}

func TestMarkerFor(t *testing.T) {
	v4 := netip.MustParsePrefix("10.0.0.100/24")
	v6 := netip.MustParsePrefix("fd00::100/64")
	long := "abcdefghijklmn"
	tests := []struct {
		p      netip.Prefix
		ifname string
		proto  bool
		want   Marker
	}{
		{v4, "eth0", true, MarkerLabelProto},
		{v4, "eth0", false, MarkerLabel},
		{v4, long, true, MarkerProto},
		{v4, long, false, MarkerBookkeeping},
		{v6, "eth0", true, MarkerProto},
		{v6, "eth0", false, MarkerBookkeeping},
	}
	for _, tt := range tests {
		if got := markerFor(tt.p, tt.ifname, "rmqlb", tt.proto); got != tt.want {
			t.Errorf("markerFor(%s, %q, proto %v) = %q, want %q", tt.p, tt.ifname, tt.proto, got, tt.want)
		}
	}
}

func TestReleaseAtLeast(t *testing.T) {
	tests := []struct {
		release string
		want    bool
	}{
		{"6.1.0-18-amd64", false}, // Debian 12
		{"6.2.16", false},
		{"6.3", true},
		{"6.3.0-rc1", true},
		{"6.18.44-fc-v669", true},
		{"7.0.1", true},
		{"5.15.0-105-generic", false},
		{"4.18.0-513.el8.x86_64", false},
		{"", false},
		{"garbage", false},
	}
	for _, tt := range tests {
		if got := releaseAtLeast(tt.release, 6, 3); got != tt.want {
			t.Errorf("releaseAtLeast(%q, 6, 3) = %v, want %v", tt.release, got, tt.want)
		}
	}
}

func TestSysctlPath(t *testing.T) {
	tests := []struct {
		key, want string
		err       bool
	}{
		{key: "net.ipv4.conf.eth0.arp_ignore", want: "/proc/sys/net/ipv4/conf/eth0/arp_ignore"},
		{key: "net.ipv4.conf.eth0.100.arp_ignore", want: "/proc/sys/net/ipv4/conf/eth0.100/arp_ignore"},
		{key: "net.ipv4.neigh.eth0.locktime", want: "/proc/sys/net/ipv4/neigh/eth0/locktime"},
		{key: "net.ipv4.ip_forward", want: "/proc/sys/net/ipv4/ip_forward"},
		{key: "net/ipv4/ip_forward", err: true},
		{key: "net.ipv4..x", err: true},
		{key: "x", err: true},
	}
	for _, tt := range tests {
		got, err := sysctlPath(tt.key)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("sysctlPath(%q) = %q, %v; want %q, error %v", tt.key, got, err, tt.want, tt.err)
		}
	}
}

func TestRecommendedSysctls(t *testing.T) {
	got := RecommendedSysctls("eth0")
	want := []Sysctl{
		{"net.ipv4.conf.eth0.arp_ignore", "1"},
		{"net.ipv4.conf.eth0.arp_announce", "2"},
		{"net.ipv4.conf.eth0.promote_secondaries", "1"},
	}
	if len(got) != len(want) {
		t.Fatalf("RecommendedSysctls = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("RecommendedSysctls[%d] = %v, want %v", i, got[i], want[i])
		}
	}
}

// TestValidateNamesFields: each problem names its field as a value, for
// the configuration file's reader to point at the key.
func TestValidateNamesFields(t *testing.T) {
	v := netip.MustParsePrefix("10.77.0.100/24")
	err := VIPConfig{Interface: "eth:0", VIPs: []netip.Prefix{v, v}, GARP: GARPConfig{Count: MaxGARPCount + 1}}.Validate()
	fields, others := fielderr.Split(err)
	var got []string
	for _, f := range fields {
		got = append(got, f.Field)
	}
	if want := []string{"interface", "vips[1]", "garp.count"}; !slices.Equal(got, want) || len(others) != 0 {
		t.Fatalf("fields %q, others %v, want %q", got, others, want)
	}
	if err := (GARPConfig{Count: MaxGARPCount}).Validate(); err != nil {
		t.Fatalf("count %d: %v", MaxGARPCount, err)
	}
}

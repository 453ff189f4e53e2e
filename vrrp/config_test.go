package vrrp

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/internal/fielderr"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want []string // substrings of the error; none = valid
	}{
		{"valid v3", func(c *Config) {}, nil},
		{"valid v2 with password", func(c *Config) { c.Version = 2; c.AuthPass = "passwd12" }, nil},
		{"valid unicast", func(c *Config) {
			c.UnicastSrc = netip.MustParseAddr("10.0.0.1")
			c.UnicastPeers = []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")}
		}, nil},
		{"valid v3 100ms", func(c *Config) { c.AdvertInterval = 100 * time.Millisecond }, nil},
		{"valid owner", func(c *Config) { c.Priority = 255 }, nil},
		{"no name", func(c *Config) { c.Name = "" }, []string{"name: bad name: empty"}},
		{"no interface", func(c *Config) { c.Interface = "" }, []string{"interface: required"}},
		{"vrid 0", func(c *Config) { c.VRID = 0 }, []string{"virtual_router_id"}},
		{"priority 0", func(c *Config) { c.Priority = 0 }, []string{"priority"}},
		{"version 4", func(c *Config) { c.Version = 4 }, []string{"version: must be 2 or 3, not 4"}},
		{"v2 fractional interval", func(c *Config) { c.Version = 2; c.AdvertInterval = 100 * time.Millisecond }, []string{"advert_interval", "whole seconds"}},
		{"v3 5ms", func(c *Config) { c.AdvertInterval = 5 * time.Millisecond }, []string{"advert_interval", "centiseconds"}},
		{"v3 too long", func(c *Config) { c.AdvertInterval = 41 * time.Second }, []string{"advert_interval"}},
		{"zero interval", func(c *Config) { c.AdvertInterval = 0 }, []string{"advert_interval"}},
		{"v2 long password", func(c *Config) { c.Version = 2; c.AuthPass = "123456789" }, []string{"auth_pass: must be at most 8 bytes, not 9"}},
		{"v3 password", func(c *Config) { c.AuthPass = "x" }, []string{"auth_pass: is not allowed with version 3"}},
		{"negative preempt delay", func(c *Config) { c.PreemptDelay = -time.Second }, []string{"preempt_delay"}},
		{"bad checksum mode", func(c *Config) { c.Checksum = 7 }, []string{"v3_checksum"}},
		{"IPv6 unicast src", func(c *Config) { c.UnicastSrc = netip.MustParseAddr("fd00::1") }, []string{"unicast_src"}},
		{"duplicate peer", func(c *Config) {
			c.UnicastPeers = []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.2")}
		}, []string{"unicast_peers[1]: 10.0.0.2 is also unicast_peers[0]"}},
		{"peer is src", func(c *Config) {
			c.UnicastSrc = netip.MustParseAddr("10.0.0.2")
			c.UnicastPeers = []netip.Addr{netip.MustParseAddr("10.0.0.2")}
		}, []string{"unicast_peers[0]: 10.0.0.2 is also unicast_src"}},
		{"invalid peer", func(c *Config) { c.UnicastPeers = []netip.Addr{{}} }, []string{"unicast_peers[0]: must be an IPv4 address"}},
		{"valid allowed peers, multicast", func(c *Config) {
			c.AllowedPeers = []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")}
		}, nil},
		{"valid allowed peers, unicast", func(c *Config) {
			c.UnicastPeers = []netip.Addr{netip.MustParseAddr("10.0.0.2")}
			c.AllowedPeers = []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")}
		}, nil},
		{"allowed peers lack a unicast peer", func(c *Config) {
			c.UnicastPeers = []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.4")}
			c.AllowedPeers = []netip.Addr{netip.MustParseAddr("10.0.0.2")}
		}, []string{"unicast_peers[1]: 10.0.0.4 is not in allowed_peers"}},
		{"duplicate allowed peer", func(c *Config) {
			c.AllowedPeers = []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.2")}
		}, []string{"allowed_peers[1]: 10.0.0.2 is also allowed_peers[0]"}},
		{"IPv6 allowed peer", func(c *Config) { c.AllowedPeers = []netip.Addr{netip.MustParseAddr("fd00::2")} }, []string{"allowed_peers[0]: must be an IPv4 address, not fd00::2"}},
		{"invalid allowed peer", func(c *Config) { c.AllowedPeers = []netip.Addr{{}} }, []string{"allowed_peers[0]: must be an IPv4 address"}},
		{"valid max adopted interval", func(c *Config) { c.MaxAdoptedInterval = 10 * time.Second }, nil},
		{"max adopted interval below advert_interval", func(c *Config) { c.MaxAdoptedInterval = 500 * time.Millisecond },
			[]string{"max_adopted_advert_interval", "500ms"}},
		{"max adopted interval too long", func(c *Config) { c.MaxAdoptedInterval = 41 * time.Second }, []string{"max_adopted_advert_interval"}},
		// The bound is compared with intervals read from adverts, which
		// carry whole centiseconds: the configuration file refuses any
		// other value, and so does the instance.
		{"max adopted interval not whole centiseconds", func(c *Config) { c.MaxAdoptedInterval = 1005 * time.Millisecond },
			[]string{"max_adopted_advert_interval", "1.005s", "whole centiseconds"}},
		{"no VIPs", func(c *Config) { c.VIPs = nil }, []string{"virtual_ipaddress: needs at least one address"}},
		{"IPv6 VIP", func(c *Config) { c.VIPs = []netip.Prefix{netip.MustParsePrefix("fd00::1/64")} }, []string{"virtual_ipaddress[0]: fd00::1/64: IPv6 VIPs are not supported"}},
		{"duplicate VIP", func(c *Config) {
			c.VIPs = []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24"), netip.MustParsePrefix("10.0.0.1/32")}
		}, []string{"virtual_ipaddress[1]: 10.0.0.1 is also virtual_ipaddress[0]"}},
		{"several problems", func(c *Config) { c.VRID = 0; c.Priority = 0 }, []string{"virtual_router_id", "priority"}},
		{"slash in name", func(c *Config) { c.Name = "a/b" }, []string{"name: bad name"}},
		{"colon in interface", func(c *Config) { c.Interface = "eth0:1" }, []string{"interface: \"eth0:1\" contains"}},
		{"long preempt delay", func(c *Config) { c.PreemptDelay = MaxPreemptDelay + time.Second }, []string{"preempt_delay: must be 0s..1h0m0s, not 1h0m1s"}},
		{"valid longest preempt delay", func(c *Config) { c.PreemptDelay = MaxPreemptDelay }, nil},
		{"mapped unicast src", func(c *Config) { c.UnicastSrc = netip.MustParseAddr("::ffff:10.0.0.1") }, []string{"unicast_src: must be an IPv4 address"}},
		{"v2 max adopted interval", func(c *Config) { c.Version = 2; c.MaxAdoptedInterval = 3 * time.Second }, []string{"max_adopted_advert_interval: applies to version 3 only"}},
		{"late adverts", func(c *Config) { c.LateAdvertsTolerated = MaxLateAdvertsTolerated + 1 }, []string{"late_adverts_tolerated: must be 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(tt.mod)
			err := cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate accepted the config")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			// Each problem names its field as a value too, for the
			// configuration file's reader to point at its key.
			fields, others := fielderr.Split(err)
			if len(fields) == 0 || len(others) != 0 {
				t.Errorf("fields %v, others %v: want field errors only", fields, others)
			}
			for _, f := range fields {
				if !strings.Contains(tt.want[0], f.Field) && len(tt.want) == 1 {
					t.Errorf("field %q is not the one of %q", f.Field, tt.want[0])
				}
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("vrrp instance %q", cfg.Name)) {
				t.Errorf("error %q does not name the instance", err)
			}
		})
	}
}

func TestStateText(t *testing.T) {
	for _, s := range []State{StateInit, StateBackup, StateMaster, StateFault} {
		b, _ := s.MarshalText()
		var got State
		if err := got.UnmarshalText(b); err != nil || got != s {
			t.Fatalf("round trip of %v: %v %v", s, got, err)
		}
	}
	var s State
	if s.UnmarshalText([]byte("LEADER")) == nil {
		t.Fatal("accepted LEADER")
	}
}

// TestRealTimePriorityRefused: NewInstance refuses a priority SCHED_FIFO
// does not have, saying which option and why; the configuration file
// reports the same rule's message at vrrp_rt_priority.
func TestRealTimePriorityRefused(t *testing.T) {
	for _, prio := range []int{-1, MaxRealTimePriority + 1} {
		_, err := NewInstance(testConfig(), Options{RealTimePriority: prio})
		if want := fmt.Sprintf("real-time priority: must be 0 (off) or 1..%d, not %d", MaxRealTimePriority, prio); err == nil || err.Error() != want {
			t.Errorf("priority %d: %v, want %q", prio, err, want)
		}
	}
}

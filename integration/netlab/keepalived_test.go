package netlab

import (
	"net/netip"
	"testing"
	"time"
)

func TestKeepalivedConfig(t *testing.T) {
	h := &Host{Name: "h1", Addr: netip.MustParseAddr("10.77.0.1")}
	got := h.KeepalivedConfig(
		KeepalivedInstance{VRID: 1, Priority: 150, Version: 2, Advert: time.Second, AuthPass: "passwd",
			VIPs: []netip.Prefix{netip.MustParsePrefix("10.77.0.100/24")}},
		KeepalivedInstance{Name: "VI_2", VRID: 2, Priority: 100, Advert: 100 * time.Millisecond, NoPreempt: true,
			UnicastPeers: []netip.Addr{netip.MustParseAddr("10.77.0.2")},
			VIPs:         []netip.Prefix{netip.MustParsePrefix("10.77.0.101/32")}},
	)
	want := `global_defs {
  router_id h1
  vrrp_garp_master_delay 0
  vrrp_garp_master_repeat 5
}
vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id 1
  priority 150
  version 2
  advert_int 1
  authentication {
    auth_type PASS
    auth_pass passwd
  }
  virtual_ipaddress {
    10.77.0.100/24 dev eth0
  }
}
vrrp_instance VI_2 {
  state BACKUP
  interface eth0
  virtual_router_id 2
  priority 100
  version 3
  advert_int 0.1
  nopreempt
  unicast_src_ip 10.77.0.1
  unicast_peer {
    10.77.0.2
  }
  virtual_ipaddress {
    10.77.0.101/32 dev eth0
  }
}
`
	if got != want {
		t.Errorf("config:\n%s\nwant:\n%s", got, want)
	}
}

func TestKeepalivedConfigRTPriority(t *testing.T) {
	h := &Host{Name: "h2", Addr: netip.MustParseAddr("10.77.0.2")}
	got := h.KeepalivedConfigWith(KeepalivedGlobals{RTPriority: 10, RLimitRTTime: 200000},
		KeepalivedInstance{VRID: 1, Priority: 100, Advert: 10 * time.Millisecond,
			VIPs: []netip.Prefix{netip.MustParsePrefix("10.77.0.100/24")}})
	want := `global_defs {
  router_id h2
  vrrp_garp_master_delay 0
  vrrp_garp_master_repeat 5
  vrrp_rt_priority 10
  vrrp_rlimit_rttime 200000
}
vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id 1
  priority 100
  version 3
  advert_int 0.01
  virtual_ipaddress {
    10.77.0.100/24 dev eth0
  }
}
`
	if got != want {
		t.Errorf("config:\n%s\nwant:\n%s", got, want)
	}
}

package netlab

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// KeepalivedInstance is one vrrp_instance of a keepalived configuration.
type KeepalivedInstance struct {
	// Name of the instance; default "VI_1".
	Name string
	// VRID is virtual_router_id.
	VRID int
	// Priority is the instance priority (1..255).
	Priority int
	// Version is the VRRP version, 2 or 3; default 3.
	Version int
	// Advert is advert_int: whole seconds for version 2, centiseconds for 3.
	Advert time.Duration
	// AuthPass, when set (version 2 only), adds authentication with
	// auth_type PASS.
	AuthPass string
	// NoPreempt sets nopreempt (keepalived then needs state BACKUP, which
	// StartKeepalived always uses).
	NoPreempt bool
	// UnicastPeers, when set, switches to unicast with unicast_src_ip set
	// to the host's address.
	UnicastPeers []netip.Addr
	// VIPs are the virtual_ipaddress entries.
	VIPs []netip.Prefix
}

// KeepalivedGlobals are the global_defs settings of a keepalived.conf
// beyond the fixed ones (router_id, no gratuitous ARP delay, 5 repeats).
// The zero value adds none.
type KeepalivedGlobals struct {
	// RTPriority, when above 0, sets vrrp_rt_priority: the VRRP process
	// runs with SCHED_RR at this real-time priority (1..99).
	RTPriority int
	// RLimitRTTime, when above 0, sets vrrp_rlimit_rttime: the CPU time in
	// microseconds the real-time VRRP process may use without blocking
	// before the kernel kills it (RLIMIT_RTTIME). Zero leaves keepalived's
	// default (10000 with vrrp_rt_priority).
	RLimitRTTime int
}

// KeepalivedConfig renders a keepalived.conf for the host.
func (h *Host) KeepalivedConfig(insts ...KeepalivedInstance) string {
	return h.KeepalivedConfigWith(KeepalivedGlobals{}, insts...)
}

// KeepalivedConfigWith renders a keepalived.conf for the host with the
// global settings g.
func (h *Host) KeepalivedConfigWith(g KeepalivedGlobals, insts ...KeepalivedInstance) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global_defs {\n  router_id %s\n  vrrp_garp_master_delay 0\n  vrrp_garp_master_repeat 5\n", h.Name)
	if g.RTPriority > 0 {
		fmt.Fprintf(&b, "  vrrp_rt_priority %d\n", g.RTPriority)
	}
	if g.RLimitRTTime > 0 {
		fmt.Fprintf(&b, "  vrrp_rlimit_rttime %d\n", g.RLimitRTTime)
	}
	b.WriteString("}\n")
	for _, in := range insts {
		if in.Name == "" {
			in.Name = "VI_1"
		}
		if in.Version == 0 {
			in.Version = 3
		}
		adv := "1"
		if in.Advert > 0 {
			adv = strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", in.Advert.Seconds()), "0"), ".")
		}
		fmt.Fprintf(&b, "vrrp_instance %s {\n  state BACKUP\n  interface %s\n  virtual_router_id %d\n  priority %d\n  version %d\n  advert_int %s\n",
			in.Name, Iface, in.VRID, in.Priority, in.Version, adv)
		if in.NoPreempt {
			b.WriteString("  nopreempt\n")
		}
		if in.AuthPass != "" {
			fmt.Fprintf(&b, "  authentication {\n    auth_type PASS\n    auth_pass %s\n  }\n", in.AuthPass)
		}
		if len(in.UnicastPeers) > 0 {
			fmt.Fprintf(&b, "  unicast_src_ip %s\n  unicast_peer {\n", h.Addr)
			for _, p := range in.UnicastPeers {
				fmt.Fprintf(&b, "    %s\n", p)
			}
			b.WriteString("  }\n")
		}
		b.WriteString("  virtual_ipaddress {\n")
		for _, v := range in.VIPs {
			fmt.Fprintf(&b, "    %s dev %s\n", v, Iface)
		}
		b.WriteString("  }\n}\n")
	}
	return b.String()
}

// StartKeepalived writes the host's keepalived.conf for insts into the lab
// directory and runs `keepalived -n -l -D -f CONF -p PID -r VRRPPID` (VRRP
// only, no fork, log to the console) in the host's namespace, with pid files
// of its own so that several keepalived run side by side. Stop it with
// SIGTERM (Proc.Stop): keepalived then sends priority 0 and drops its VIPs.
func (h *Host) StartKeepalived(insts ...KeepalivedInstance) (*Proc, error) {
	return h.StartKeepalivedWith(KeepalivedGlobals{}, insts...)
}

// StartKeepalivedWith is StartKeepalived with the global settings g.
func (h *Host) StartKeepalivedWith(g KeepalivedGlobals, insts ...KeepalivedInstance) (*Proc, error) {
	dir := h.KeepalivedDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating keepalived dir: %w", err)
	}
	conf := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(conf, []byte(h.KeepalivedConfigWith(g, insts...)), 0o644); err != nil {
		return nil, fmt.Errorf("writing keepalived config: %w", err)
	}
	return h.Start("keepalived", nil, "keepalived", "-n", "-l", "-D", "-P",
		"-f", conf, "-p", filepath.Join(dir, "keepalived.pid"), "-r", filepath.Join(dir, "vrrp.pid"))
}

// KeepalivedDir is the directory of the host's keepalived.conf and pid
// files; vrrp.pid in it holds the pid of keepalived's VRRP process.
func (h *Host) KeepalivedDir() string {
	return filepath.Join(h.lab.Dir, "keepalived-"+h.Name)
}

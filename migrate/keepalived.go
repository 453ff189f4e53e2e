package migrate

import (
	"fmt"
	"strings"
	"time"

	"github.com/rmqlb/rmqlb/netsetup"
	"github.com/rmqlb/rmqlb/vrrp"
)

// kaT translates a keepalived configuration tree into instances and LVS
// listeners. Each statement it translates is marked done; sweep reports
// the others.
type kaT struct {
	ns *notes

	instances []*instance
	servers   []*listener
	scripts   map[string]*kaScript
	processes map[string]*kaScript // vrrp_track_process blocks
	// routerID is global_defs' router_id: often the host name, which is
	// also often the name of this host's broker in haproxy.cfg.
	routerID string
	// defaultIface is global_defs' default_interface.
	defaultIface     *kaNode
	defaultIfaceUsed bool
	// version and garp are global_defs' defaults for every instance.
	version int
	garp    garp
	// rtPriority is global_defs' vrrp_rt_priority (0: none).
	rtPriority int
	// lateAdverts is global_defs' vrrp_down_timer_adverts as rmqlb's
	// late_adverts_tolerated, every instance's default.
	lateAdverts int
	// vsGroups are the virtual_server_group blocks by name, which a
	// virtual_server "group NAME" takes its addresses from.
	vsGroups map[string]*kaNode
}

// translateKeepalived translates the tree read from a keepalived.conf.
func translateKeepalived(root *kaNode, ns *notes) *kaT {
	t := &kaT{ns: ns, scripts: map[string]*kaScript{}, processes: map[string]*kaScript{}, vsGroups: map[string]*kaNode{}}
	// global_defs, vrrp_script and vrrp_track_process first: they apply
	// whatever their place.
	for _, n := range root.children {
		switch n.key {
		case "global_defs":
			t.globalDefs(n)
		case "vrrp_script":
			t.script(n)
		case "vrrp_track_process":
			t.trackProcess(n)
		case "virtual_server_group":
			if len(n.args) != 1 {
				break
			}
			if g := t.vsGroups[n.args[0]]; g != nil {
				t.skip(n, fmt.Sprintf("a second virtual_server_group %s: the first, at %s, is the one translated", n.args[0], g.pos))
				break
			}
			t.vsGroups[n.args[0]] = n
		}
	}
	var groups []*kaNode // translated once every instance is
	for _, n := range root.children {
		switch n.key {
		case "vrrp_instance":
			if in := t.instance(n); in != nil {
				t.instances = append(t.instances, in)
			}
		case "virtual_server":
			t.servers = append(t.servers, t.virtualServer(n)...)
		case "vrrp_sync_group":
			groups = append(groups, n)
		case "static_ipaddress", "static_routes", "static_rules":
			t.skip(n, whyNetwork)
		}
	}
	for _, n := range groups {
		t.syncGroup(n)
	}
	for _, n := range root.children {
		if n.key == "virtual_server_group" && !n.done {
			if len(n.args) != 1 {
				t.skip(n, "must be virtual_server_group NAME")
			} else {
				t.skip(n, "no virtual_server group "+n.args[0]+" uses it")
			}
		}
	}
	if d := t.defaultIface; d != nil && !d.done {
		if t.defaultIfaceUsed {
			t.use(d)
		} else {
			t.skip(d, "no equivalent: every vrrp_instance names its interface")
		}
	}
	return t
}

// Reasons shared by several directives.
const (
	// whyScriptUser: keepalived's user of its scripts.
	whyScriptUser = "no equivalent: rmqlb runs its notify hooks as its own user (the packaged unit's rmqlb, with its network capabilities)"
	// whyLifeScript: keepalived's scripts of its own start and stop.
	whyLifeScript = "no equivalent: rmqlb runs hooks on VRRP state changes only; run it from rmqlb's service unit (ExecStartPre= or ExecStopPost= in a drop-in: systemctl edit rmqlb)"
	whyFIFO       = "no equivalent: rmqlb writes no FIFO; its notify hooks (notify.master, backup, fault and stop) get every state change"
	// whyLVSNotify: keepalived's scripts of a real server's or a virtual
	// server's changes.
	whyLVSNotify = "no equivalent: rmqlb runs hooks on VRRP state changes only; a backend's and a listener's changes are in its log, `rmqlb status` and /metrics (alert on them)"
	whyMail      = "no equivalent: rmqlb sends no mail; alert on its log or /metrics"
	whyProcess   = "no equivalent: tune the process in rmqlb's service unit"
	whySNMP      = "no equivalent: rmqlb exports Prometheus metrics (metrics_listen)"
	whyLVS       = "no equivalent: rmqlb proxies connections itself; there is no LVS table"
	whyForward   = "no equivalent: rmqlb proxies connections, so brokers see rmqlb's address as the client's (set proxy_protocol and RabbitMQ's proxy_protocol if they must see the client's)"
	whyNetwork   = "no equivalent: rmqlb manages only its VIPs; put this in the system's network configuration"
	whyRFC       = "no equivalent: rmqlb behaves as RFC 3768 / RFC 5798 say"
	// whyLowerAdvert and whyLowerGARP: what a master does on hearing a
	// lower-priority master.
	whyLowerAdvert = "no equivalent: rmqlb answers a lower-priority master with an advert (keepalived's default)"
	whyLowerGARP   = "no equivalent: rmqlb announces its VIPs when it becomes master, on hearing a lower-priority master (at most once per master down interval) and every garp.refresh"
	whyIPv6        = "no equivalent: rmqlb runs VRRP over IPv4 only"
	whyAMQP        = "no equivalent: rmqlb checks with AMQP (the backend gets an AMQP handshake check; on RabbitMQ's ports that do not speak AMQP, a check of their own protocol on MQTT's, STOMP's and streams', an http check where keepalived or HAProxy had one, else a TCP connect)"
	whyUnknown     = "not known to rmqlb import: check whether it matters"
	// whyTrackFile: a file whose number changes the priority, most
	// often written by hand or by a tool to move the VIPs away.
	whyTrackFile = "no equivalent: rmqlb tracks its backends and listeners (track rules); to move the VIPs away for maintenance, run `rmqlb vrrp release NAME` (or --all), and `rmqlb vrrp ready` after"
	whyRouterID  = "no equivalent: rmqlb names its instances, not the host"
)

// kaWhy gives the reason of the keepalived statements that are never
// translated. A statement missing here and left undone gets whyUnknown.
var kaWhy = map[string]string{
	// global_defs
	"router_id": whyRouterID, "lvs_id": whyRouterID,
	"notification_email": whyMail, "notification_email_from": whyMail, "smtp_server": whyMail,
	"smtp_connect_timeout": whyMail, "smtp_helo_name": whyMail, "smtp_alert": whyMail,
	"smtp_alert_vrrp": whyMail, "smtp_alert_checker": whyMail, "no_email_faults": whyMail, "no_checker_emails": whyMail,
	"script_user": whyScriptUser, "startup_script": whyLifeScript,
	"startup_script_timeout": whyLifeScript, "shutdown_script": whyLifeScript, "shutdown_script_timeout": whyLifeScript,
	"notify_fifo": whyFIFO, "notify_fifo_script": whyFIFO, "vrrp_notify_fifo": whyFIFO,
	"vrrp_notify_fifo_script": whyFIFO, "lvs_notify_fifo": whyLVSNotify, "lvs_notify_fifo_script": whyLVSNotify,
	"vrrp_priority": whyProcess, "checker_priority": whyProcess, "bfd_priority": whyProcess,
	"vrrp_no_swap": whyProcess, "checker_no_swap": whyProcess, "bfd_no_swap": whyProcess,
	"checker_rt_priority": whyProcess, "bfd_rt_priority": whyProcess,
	"vrrp_cpu_affinity": whyProcess, "checker_cpu_affinity": whyProcess, "bfd_cpu_affinity": whyProcess,
	"vrrp_rlimit_rttime": whyProcess, "checker_rlimit_rttime": whyProcess, "bfd_rlimit_rttime": whyProcess,
	"max_auto_priority": whyProcess, "min_auto_priority_delay": whyProcess, "net_namespace": whyProcess,
	"instance": whyProcess, "use_pid_dir": whyProcess, "child_wait_time": whyProcess, "umask": whyProcess,
	"vrrp_netlink_cmd_rcv_bufs": whyProcess, "vrrp_netlink_monitor_rcv_bufs": whyProcess,
	"lvs_netlink_cmd_rcv_bufs": whyProcess, "lvs_netlink_monitor_rcv_bufs": whyProcess,
	"process_monitor_rcv_bufs": whyProcess, "vrrp_rx_bufs_policy": whyProcess, "vrrp_rx_bufs_multiplier": whyProcess,
	"kernel_rx_buf_size": whyProcess,
	"enable_snmp_vrrp":   whySNMP, "enable_snmp_keepalived": whySNMP, "enable_snmp_rfc": whySNMP,
	"enable_snmp_rfcv2": whySNMP, "enable_snmp_rfcv3": whySNMP, "enable_snmp_checker": whySNMP,
	"snmp_socket": whySNMP, "enable_traps": whySNMP, "snmp_name": whySNMP,
	"enable_dbus":       "no equivalent: read `rmqlb status --json` or /metrics",
	"dbus_service_name": "no equivalent: read `rmqlb status --json` or /metrics",
	"lvs_sync_daemon":   whyLVS, "lvs_timeouts": whyLVS, "lvs_flush": whyLVS, "lvs_flush_onstop": whyLVS, "lvs_flush_on_stop": whyLVS,
	"vrrp_mcast_group4":               "no equivalent: rmqlb sends adverts to 224.0.0.18, or to unicast_peers",
	"vrrp_mcast_group6":               whyIPv6,
	"vrrp_gna_interval":               whyIPv6,
	"vrrp_skip_check_adv_addr":        "no equivalent: rmqlb accepts adverts whose VIPs share some with its own (reported in rmqlb status) and drops those that share none (RFC 5798 section 7.1), so every peer must list at least one VIP of the others",
	"skip_check_adv_addr":             "no equivalent: rmqlb accepts adverts whose VIPs share some with its own (reported in rmqlb status) and drops those that share none (RFC 5798 section 7.1), so every peer must list at least one VIP of the others",
	"vrrp_strict":                     "no equivalent: rmqlb follows RFC 3768 / RFC 5798 and installs no firewall rules",
	"strict_mode":                     "no equivalent: rmqlb follows RFC 3768 / RFC 5798 and installs no firewall rules",
	"vrrp_iptables":                   "no equivalent: rmqlb installs no firewall rules",
	"vrrp_ipsets":                     "no equivalent: rmqlb installs no firewall rules",
	"nftables":                        "no equivalent: rmqlb installs no firewall rules",
	"vrrp_lower_prio_no_advert":       whyLowerAdvert,
	"vrrp_higher_prio_send_advert":    whyRFC,
	"lower_prio_no_advert":            whyLowerAdvert,
	"higher_prio_send_advert":         whyRFC,
	"vrrp_owner_ignore_adverts":       whyRFC,
	"owner_ignore_adverts":            whyRFC,
	"vrrp_startup_delay":              "no equivalent: rmqlb starts VRRP after its listeners and their first checks",
	"vrrp_delay_after_boot":           "no equivalent: rmqlb starts VRRP after its listeners and their first checks",
	"log_unknown_vrids":               "no equivalent: adverts of other VRIDs are counted (drop reason vrid) in `rmqlb status`",
	"checker_log_all_failures":        "no equivalent: rmqlb logs every state change of a check",
	"vrrp_garp_master_delay":          "no equivalent: rmqlb sends one burst of garp.count ARPs garp.interval apart, then one every garp.refresh",
	"garp_master_delay":               "no equivalent: rmqlb sends one burst of garp.count ARPs garp.interval apart, then one every garp.refresh",
	"vrrp_garp_master_refresh_repeat": "no equivalent: rmqlb's refresh is one ARP every garp.refresh",
	"garp_master_refresh_repeat":      "no equivalent: rmqlb's refresh is one ARP every garp.refresh",
	"vrrp_garp_lower_prio_delay":      whyLowerGARP,
	"vrrp_garp_lower_prio_repeat":     whyLowerGARP,
	"garp_lower_prio_delay":           whyLowerGARP,
	"garp_lower_prio_repeat":          whyLowerGARP,
	"vrrp_min_garp":                   "no equivalent: set garp.count and garp.refresh",
	"vrrp_garp_extra_if":              "no equivalent: rmqlb announces its VIPs on their own interface",
	"garp_extra_if":                   "no equivalent: rmqlb announces its VIPs on their own interface",
	"vrrp_vmac_garp_intvl":            "no equivalent: rmqlb uses no VMAC",
	"vmac_garp_intvl":                 "no equivalent: rmqlb uses no VMAC",
	"v3_checksum_as_v2":               "no equivalent: rmqlb's VRRPv3 checksum is RFC 5798's (v3_checksum: pseudo-header, keepalived's default) or RFC 9568's",
	"old_unicast_checksum":            "no equivalent: rmqlb's VRRPv3 checksum is RFC 5798's (v3_checksum: pseudo-header, keepalived's default) or RFC 9568's",
	// vrrp_instance
	"notify_deleted":               "no equivalent: an instance that a reload removes runs its stop hook (RMQLB_STATE=STOP)",
	"notify_master_rx_lower_pri":   "no equivalent: rmqlb runs hooks on its own state changes only; it answers a lower-priority master with an advert, and `rmqlb status` shows the lower-priority master (rmqlb_vrrp_lower_masters_total counts them)",
	"notify_priority_changes":      "no equivalent: rmqlb runs hooks on state changes only, each with the priority at the change in RMQLB_PRIORITY; rmqlb_vrrp_effective_priority follows every change",
	"vrrp_notify_priority_changes": "no equivalent: rmqlb runs hooks on state changes only, each with the priority at the change in RMQLB_PRIORITY; rmqlb_vrrp_effective_priority follows every change",
	"lvs_sync_daemon_interface":    "no equivalent: rmqlb proxies connections; there is no LVS connection table to synchronise (AMQP clients reconnect after a failover)",
	// keepalived 1.x spelt it so.
	"lvs_sync_daemon_inteface":   "no equivalent: rmqlb proxies connections; there is no LVS connection table to synchronise (AMQP clients reconnect after a failover)",
	"dont_track_primary":         "no equivalent: rmqlb goes to FAULT while its interface's link is down",
	"track_file":                 whyTrackFile,
	"track_bfd":                  "no equivalent: rmqlb tracks its backends and listeners (track rules)",
	"track_group":                "no equivalent: rmqlb tracks its backends and listeners (track rules)",
	"use_vmac":                   "no equivalent: rmqlb adds its VIPs to the interface and announces them with gratuitous ARP",
	"vmac_xmit_base":             "no equivalent: rmqlb uses no VMAC",
	"use_ipvlan":                 "no equivalent: rmqlb adds its VIPs to the interface and announces them with gratuitous ARP",
	"native_ipv6":                whyIPv6,
	"mcast_dst_ip":               "no equivalent: rmqlb sends adverts to 224.0.0.18, or to unicast_peers",
	"unicast_ttl":                "no equivalent: rmqlb sends adverts with TTL 255; it accepts a unicast peer's adverts whatever their TTL, as keepalived does",
	"unicast_fault_no_peer":      "no equivalent: an instance without unicast_peers uses multicast",
	"track_src_ip":               "no equivalent: adverts go out from unicast_src",
	"virtual_routes":             whyNetwork,
	"virtual_rules":              whyNetwork,
	"no_accept":                  "no equivalent: the VIPs rmqlb adds are ordinary addresses and accept traffic",
	"promote_secondaries":        whyNetwork,
	"debug":                      "no equivalent: set log_level: debug",
	"linkbeat_use_polling":       "no equivalent: rmqlb follows the link with netlink",
	"sync_group_tracking_weight": "no equivalent: rmqlb has no sync groups",
	"virtual_ipaddress_excluded": "no equivalent: rmqlb lists every VIP in its adverts, and keepalived 2.2.7 drops adverts that list other addresses than its own; add these addresses to virtual_ipaddress once no keepalived peer is left",
	// vrrp_script
	"user":      "no equivalent: rmqlb runs no command for a vrrp_script: it tracks a check of its own (or nothing)",
	"init_fail": "no equivalent: rmqlb's checks count as failing until they first pass",
	// virtual_server, real_server, checkers
	"lb_kind":                 whyForward,
	"lvs_method":              whyForward,
	"ha_suspend":              "no equivalent: rmqlb's listener is bound on every host (IP_FREEBIND) and takes traffic where the VIP is",
	"virtualhost":             whyAMQP,
	"omega":                   whyLVSNotify,
	"quorum":                  "no equivalent: a track rule on the listener ({listener: NAME, weight: W}) moves the VIP when no backend serves",
	"quorum_up":               whyLVSNotify,
	"quorum_down":             whyLVSNotify,
	"hysteresis":              "no equivalent: a track rule on the listener ({listener: NAME, weight: W}) moves the VIP when no backend serves",
	"sorry_server_inhibit":    "no equivalent: the sorry_server's backup backend closes its sessions as the listener's on_marked_down says",
	"sorry_server_lvs_method": whyForward,
	"ops":                     whyLVS, "hashed": whyLVS, "flag-1": whyLVS, "flag-2": whyLVS, "flag-3": whyLVS,
	"sh-port": whyLVS, "sh-fallback": whyLVS, "mh-port": whyLVS, "mh-fallback": whyLVS, "persistence_engine": whyLVS,
	"ip_family":        "no equivalent: the address family is the bind's",
	"notify_up":        whyLVSNotify,
	"notify_down":      whyLVSNotify,
	"lthreshold":       "no equivalent: a full backend takes connections again as soon as it is below maxconn",
	"bindto":           "no equivalent: checks leave by the routing table",
	"bind_port":        "no equivalent: checks leave by the routing table",
	"bind_if":          "no equivalent: checks leave by the routing table",
	"log_all_failures": "no equivalent: rmqlb logs every state change of a check",
	"HTTP_GET":         whyAMQP, "SSL_GET": whyAMQP, "MISC_CHECK": whyAMQP, "SMTP_CHECK": whyAMQP,
	"DNS_CHECK": whyAMQP, "UDP_CHECK": whyAMQP, "PING_CHECK": whyAMQP, "FILE_CHECK": whyAMQP, "BFD_CHECK": whyAMQP,
	// other top-level sections
	"bfd_instance":        "no equivalent: rmqlb tracks its backends and listeners (track rules)",
	"vrrp_track_file":     whyTrackFile,
	"garp_group":          "no equivalent: set garp in each instance",
	"linkbeat_interfaces": "no equivalent: rmqlb follows the link with netlink",
}

// sweep reports every statement of the tree that was neither translated
// nor reported.
func (t *kaT) sweep(n *kaNode) {
	for _, c := range n.children {
		if !c.done {
			t.skip(c, kaReason(c.key))
			continue
		}
		t.sweep(c)
	}
}

// kaReason is the reason a statement with key is not translated.
func kaReason(key string) string {
	if why, ok := kaWhy[key]; ok {
		return why
	}
	switch {
	case strings.HasPrefix(key, "$"):
		return "not expanded: rmqlb import does not read keepalived's parameter definitions; expand them by hand"
	case strings.HasPrefix(key, "@"):
		return "a line for some hosts only (@NAME); write the value for this host by hand"
	case strings.HasPrefix(key, "~"):
		return "not expanded: rmqlb import does not read keepalived's sequences; expand them by hand"
	}
	return whyUnknown
}

// text returns n as a Note shows it: a password's value is left out.
func (n *kaNode) text() string {
	if n.key == "auth_pass" {
		return n.key
	}
	return directive(append([]string{n.key}, n.args...)...)
}

// use marks n translated.
func (t *kaT) use(n *kaNode) { n.done = true }

// skip reports n, and all it holds, as not translated.
func (t *kaT) skip(n *kaNode, why string) {
	t.ns.skip(n.pos, n.text(), why)
	n.markAll()
}

// change marks n translated, with a note.
func (t *kaT) change(n *kaNode, why string) {
	t.ns.change(n.pos, n.text(), why)
	n.done = true
}

// markAll marks n and everything in its block done.
func (n *kaNode) markAll() {
	n.done = true
	for _, c := range n.children {
		c.markAll()
	}
}

// value returns the single value of n; a missing value is reported, extra
// words are noted.
func (t *kaT) value(n *kaNode) (string, bool) {
	if len(n.args) == 0 {
		t.skip(n, "needs a value")
		return "", false
	}
	if len(n.args) > 1 {
		t.ns.change(n.pos, n.text(), "words after the value are ignored, as keepalived does")
	}
	return n.args[0], true
}

// secondsOf returns n's value in seconds, reporting a bad one.
func (t *kaT) secondsOf(n *kaNode) (time.Duration, bool) {
	v, ok := t.value(n)
	if !ok {
		return 0, false
	}
	d, err := seconds(v)
	if err != nil {
		t.skip(n, err.Error())
		return 0, false
	}
	return d, true
}

// numberOf returns n's integer value in min..max, reporting a bad one.
func (t *kaT) numberOf(n *kaNode, min, max int) (int, bool) {
	v, ok := t.value(n)
	if !ok {
		return 0, false
	}
	i, err := number(v, min, max)
	if err != nil {
		t.skip(n, err.Error())
		return 0, false
	}
	return i, true
}

// setNumber stores n's integer value in min..max in dst and marks n
// translated, or reports a bad value.
func (t *kaT) setNumber(n *kaNode, min, max int, dst *int) {
	if v, ok := t.numberOf(n, min, max); ok {
		*dst = v
		t.use(n)
	}
}

// globalDefs reads the settings of global_defs that rmqlb has.
func (t *kaT) globalDefs(g *kaNode) {
	t.use(g)
	for _, n := range g.children {
		switch n.key {
		case "router_id":
			if v, ok := t.value(n); ok {
				t.routerID = v
				t.skip(n, whyRouterID)
			}
		case "vrrp_version":
			t.setNumber(n, 2, 3, &t.version)
		case "vrrp_rt_priority":
			t.setNumber(n, 1, vrrp.MaxRealTimePriority, &t.rtPriority)
		case "vrrp_down_timer_adverts":
			t.downTimer(n, &t.lateAdverts, "of each instance")
		case "vrrp_check_unicast_src":
			t.use(n) // rmqlb hears unicast adverts from its peers only
		case "dynamic_interfaces":
			t.change(n, "what rmqlb always does: an instance whose interface does not exist yet, or has no IPv4 address, waits for it in FAULT, and one deleted and created anew is followed")
		case "enable_script_security":
			t.change(n, "what rmqlb always does: it does not run a notify hook that a user other than root or its own could change (`rmqlb check-config` warns of one)")
		case "default_interface":
			if _, ok := t.value(n); ok {
				t.defaultIface = n
			}
		default:
			t.garpKey(n, &t.garp, "vrrp_")
		}
	}
}

// garpKey reads a gratuitous ARP setting (prefix "vrrp_" in global_defs,
// none in an instance) into g.
func (t *kaT) garpKey(n *kaNode, g *garp, prefix string) {
	switch strings.TrimPrefix(n.key, prefix) {
	case "garp_master_repeat":
		t.setNumber(n, 1, netsetup.MaxGARPCount, &g.count)
	case "garp_interval":
		if d, ok := t.secondsOf(n); ok {
			g.interval = d
			t.use(n)
		}
	case "garp_master_refresh":
		if d, ok := t.secondsOf(n); ok {
			switch {
			case d == 0:
				g.refresh = -time.Second
				t.use(n)
			case d < netsetup.MinGARPRefresh:
				t.skip(n, "must be at least "+netsetup.MinGARPRefresh.String()+" in rmqlb")
			default:
				g.refresh = d
				t.use(n)
			}
		}
	}
}

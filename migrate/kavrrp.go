package migrate

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/netsetup"
	"github.com/rmqlb/rmqlb/notify"
	"github.com/rmqlb/rmqlb/vrrp"
)

// instance translates a vrrp_instance. It returns nil, with the reason
// reported, when the instance lacks what rmqlb requires (an interface, a
// VRID, a VIP).
func (t *kaT) instance(n *kaNode) *instance {
	in := &instance{pos: n.pos, what: n.text(), version: t.version, garp: t.garp, lateAdverts: t.lateAdverts}
	t.use(n)
	if len(n.args) > 0 {
		in.name, in.kaName = n.args[0], n.args[0]
	}
	// The settings others depend on come first, wherever they are.
	for _, c := range n.children {
		switch c.key {
		case "interface":
			if v, ok := t.value(c); ok {
				if err := netsetup.CheckInterfaceName(v); err != nil {
					t.skip(c, err.Error())
					continue
				}
				in.iface = v
				t.use(c)
			}
		case "unicast_src_ip", "mcast_src_ip":
			if v, ok := t.value(c); ok {
				a, err := netip.ParseAddr(v)
				if err != nil || !a.Is4() {
					t.skip(c, "must be an IPv4 address in rmqlb")
					continue
				}
				in.unicastSrc = a
				t.use(c)
			}
		case "version":
			t.setNumber(c, 2, 3, &in.version)
		}
	}
	if in.iface == "" && t.defaultIface != nil {
		in.iface = t.defaultIface.args[0]
		t.defaultIfaceUsed = true
	}
	var authNodes []*kaNode
	var stateMaster, nopreempt, preemptDelay, generic *kaNode
	for _, c := range n.children {
		switch c.key {
		case "interface", "unicast_src_ip", "mcast_src_ip", "version":
			// read above
		case "state":
			if v, ok := t.value(c); ok && v == "MASTER" {
				stateMaster = c
			} else if ok {
				t.change(c, "rmqlb starts every instance as backup, as keepalived does with state BACKUP")
			}
		case "virtual_router_id":
			t.setNumber(c, 1, 255, &in.vrid)
		case "priority":
			t.setNumber(c, 1, 255, &in.priority)
		case "advert_int":
			if d, ok := t.secondsOf(c); ok {
				in.advert = d
				in.advertPos = c.pos
				t.use(c)
			}
		case "nopreempt":
			in.preempt = boolp(false)
			nopreempt = c
			t.use(c)
		case "preempt":
			in.preempt = boolp(true)
			t.use(c)
		case "preempt_delay":
			if d, ok := t.secondsOf(c); ok {
				if d > vrrp.MaxPreemptDelay {
					t.skip(c, "must be at most "+vrrp.MaxPreemptDelay.String()+" in rmqlb")
					continue
				}
				in.preemptDelay = d
				preemptDelay = c
				t.use(c)
			}
		case "down_timer_adverts":
			t.downTimer(c, &in.lateAdverts, "")
		case "authentication":
			authNodes = append(authNodes, c)
		case "unicast_peer", "virtual_ipaddress", "track_script", "track_process", "track_interface":
			t.use(c)
			each := map[string]func(*instance, *kaNode){"unicast_peer": t.peer, "virtual_ipaddress": t.vip,
				"track_script": t.trackScript, "track_process": t.trackProcessRef, "track_interface": t.trackInterface}[c.key]
			for _, e := range c.children {
				each(in, e)
			}
		case "notify_master", "notify_backup", "notify_fault", "notify_stop":
			t.notifyHook(in, c)
		case "notify":
			generic = t.lastNotify(generic, c)
		case "accept", "check_unicast_src":
			t.use(c) // what rmqlb always does
		default:
			t.garpKey(c, &in.garp, "")
		}
	}
	if stateMaster != nil {
		t.stateMaster(in, stateMaster, nopreempt, preemptDelay)
	}
	if in.version == 0 {
		in.version = config.DefaultVersion
	}
	if generic != nil {
		prio := in.priority
		if prio == 0 {
			prio = config.DefaultPriority
		}
		t.genericNotify(in, generic, "INSTANCE", in.kaName, prio)
	}
	for _, a := range authNodes {
		t.authentication(in, a)
	}
	if in.advert != 0 {
		if err := vrrp.CheckAdvertInterval(in.version, in.advert); err != nil {
			t.ns.skip(in.advertPos, "advert_int", err.Error()+": rmqlb would use its default (1s) and the peers' adverts would not match")
			in.advert = 0
		}
	}
	in.name = t.instanceName(n, in)
	var missing []string
	if in.iface == "" {
		missing = append(missing, "interface")
	}
	if in.vrid == 0 {
		missing = append(missing, "virtual_router_id")
	}
	if len(in.vips) == 0 {
		missing = append(missing, "virtual_ipaddress")
	}
	if len(missing) > 0 {
		t.ns.skip(n.pos, n.text(), "has no "+strings.Join(missing, ", ")+" that rmqlb can use: the instance is left out")
		return nil
	}
	return in
}

// notifyHook translates notify_master, notify_backup, notify_fault or
// notify_stop: "SCRIPT" or "SCRIPT ARGS..." in quotes, then optionally
// the user and group to run it as. rmqlb runs its hooks without a shell,
// as the daemon's user.
func (t *kaT) notifyHook(in *instance, n *kaNode) {
	state := strings.TrimPrefix(n.key, "notify_")
	words, ok := t.hookArgv(n, "notify."+state)
	if !ok {
		return
	}
	in.setHook(state, words)
	t.change(n, hookWhy+runAs(n))
}

// setHook makes argv the instance's hook of state (master, backup, fault
// or stop).
func (in *instance) setHook(state string, argv []string) {
	if in.notify == nil {
		in.notify = map[string][]string{}
	}
	in.notify[state] = argv
}

// hookWhy is what a translated notify script is told of the change.
const hookWhy = "run with RMQLB_INSTANCE, RMQLB_STATE, RMQLB_PREV_STATE, RMQLB_VIPS, RMQLB_REASON and RMQLB_PRIORITY in its environment"

// hookArgv returns the program and arguments of notify line n, reported
// as not translated (with what to write instead, hook) when rmqlb cannot
// run it as written.
func (t *kaT) hookArgv(n *kaNode, hook string) ([]string, bool) {
	var words []string
	if len(n.args) > 0 {
		words = strings.Fields(n.args[0])
	}
	if len(words) == 0 {
		t.skip(n, "needs a script")
		return nil, false
	}
	if strings.ContainsAny(n.args[0], "$`|&;<>(){}*?~'\"\\") {
		t.skip(n, "rmqlb runs hooks without a shell (no $VAR, quoting, globbing or redirection); write "+hook+" as a program and its arguments")
		return nil, false
	}
	if err := notify.CheckArgv(words); err != nil {
		t.skip(n, err.Error()+"; write "+hook+" with the program's full path")
		return nil, false
	}
	return words, true
}

// runAs notes the user and group a notify line names, which rmqlb does
// not take.
func runAs(n *kaNode) string {
	if len(n.args) > 1 {
		return "; as the daemon's user, not as " + strings.Join(n.args[1:], ":")
	}
	return ""
}

// lastNotify returns the notify line that counts of an instance or sync
// group, which has had last so far and now has n: n, the last, as in
// keepalived. last is reported.
func (t *kaT) lastNotify(last, n *kaNode) *kaNode {
	if last != nil {
		t.skip(last, "overridden by line "+itoa(n.pos.Line))
	}
	return n
}

// genericNotify translates the notify line of an instance or of its sync
// group, the script keepalived runs on every change after the
// notify_STATE one, with four more arguments: kind (INSTANCE or GROUP),
// name, the new state (MASTER, BACKUP, FAULT or STOP) and the priority
// (the instance's; 0 for a group). It becomes the hook of each state of in
// that has none yet, with those arguments written out; rmqlb runs one hook
// per state, so a state with a hook keeps it (reported).
func (t *kaT) genericNotify(in *instance, n *kaNode, kind, name string, prio int) {
	words, ok := t.hookArgv(n, "notify.master, backup, fault and stop")
	if !ok {
		return
	}
	var made, kept []string
	for _, state := range []string{"master", "backup", "fault", "stop"} {
		if _, ok := in.notify[state]; ok {
			kept = append(kept, state)
			continue
		}
		in.setHook(state, append(slices.Clone(words), kind, name, strings.ToUpper(state), strconv.Itoa(prio)))
		made = append(made, state)
	}
	if len(made) == 0 {
		t.skip(n, "every state has its hook already (notify_STATE), and rmqlb runs one hook per state: add what this script does to them")
		return
	}
	why := "becomes notify." + strings.Join(made, ", notify.") + ", each with the arguments keepalived adds (" + kind + " " + name + " STATE " + strconv.Itoa(prio) + ")"
	if kind == "INSTANCE" {
		why += ", the last one the configured priority, not the effective one keepalived passes (a track rule's change is not in it: read RMQLB_PRIORITY)"
	}
	why += "; also " + hookWhy
	switch len(kept) {
	case 0:
	case 1:
		why += "; not run on " + kept[0] + ", which has its hook already, as rmqlb runs one hook per state: add what it does there"
	default:
		why += "; not run on " + andList(kept) +
			", which have their hooks already, as rmqlb runs one hook per state: add what it does there"
	}
	t.change(n, why+runAs(n))
}

// syncGroup translates a vrrp_sync_group. rmqlb has none: its instances
// fail over one by one. A group of one instance is that instance: its
// track_script and track_interface entries are the instance's too, and
// its hooks (notify_STATE, notify) become the instance's, for the states
// without one of their own; a group of several is reported.
func (t *kaT) syncGroup(n *kaNode) {
	var members []string
	var hooks []*kaNode
	var generic *kaNode
	for _, c := range n.children {
		switch c.key {
		case "group":
			for _, m := range c.children {
				members = append(members, m.key)
				members = append(members, m.args...)
			}
		case "notify_master", "notify_backup", "notify_fault", "notify_stop":
			hooks = append(hooks, c)
		case "notify":
			generic = t.lastNotify(generic, c)
		}
	}
	var in *instance
	if len(members) == 1 {
		for _, i := range t.instances {
			if i.kaName == members[0] {
				in = i
			}
		}
	}
	if in == nil {
		why := "no equivalent: rmqlb's instances fail over one by one; give the instances of the group the same track rules so that they move together"
		if len(hooks) > 0 || generic != nil {
			why += ", and what its notify scripts do to their notify hooks (rmqlb runs them per instance)"
		}
		t.skip(n, why)
		return
	}
	t.use(n)
	for _, c := range n.children {
		switch c.key {
		case "group":
			c.markAll()
		case "track_script", "track_process", "track_interface":
			t.use(c)
			each := map[string]func(*instance, *kaNode){"track_script": t.trackScript, "track_process": t.trackProcessRef,
				"track_interface": t.trackInterface}[c.key]
			for _, e := range c.children {
				each(in, e)
			}
		}
	}
	t.ns.change(n.pos, n.text(), "holds one instance, "+members[0]+": its hooks are that instance's, for the states without one of their own")
	for _, c := range hooks {
		state := strings.TrimPrefix(c.key, "notify_")
		if _, ok := in.notify[state]; ok {
			t.skip(c, "vrrp_instance "+members[0]+" has its own hook for "+state+", and rmqlb runs one hook per state: add what this one does to it")
			continue
		}
		words, ok := t.hookArgv(c, "notify."+state)
		if !ok {
			continue
		}
		in.setHook(state, words)
		t.change(c, "the hook of vrrp_instance "+members[0]+"; "+hookWhy+runAs(c))
	}
	if generic != nil {
		name := ""
		if len(n.args) > 0 {
			name = n.args[0]
		}
		t.genericNotify(in, generic, "GROUP", name, 0)
	}
}

// downTimer translates keepalived's down_timer_adverts N (global_defs'
// vrrp_down_timer_adverts, for where, "of each instance"): a backup takes
// over after N advert intervals plus Skew_Time without an advert, where
// the RFC and rmqlb wait three; rmqlb's late_adverts_tolerated is N - 3.
// keepalived takes 1..100; rmqlb waits three intervals at least and
// thirteen at most.
func (t *kaT) downTimer(n *kaNode, late *int, where string) {
	v, ok := t.numberOf(n, 1, 100)
	if !ok {
		return
	}
	const rfc = 3
	switch {
	case v < rfc:
		t.skip(n, fmt.Sprintf("no equivalent: rmqlb's backups wait the RFC's %d advert intervals at least (plus Skew_Time), where keepalived's take over after %d", rfc, v))
	case v > rfc+vrrp.MaxLateAdvertsTolerated:
		t.skip(n, fmt.Sprintf("must be at most %d in rmqlb (late_adverts_tolerated: %d)", rfc+vrrp.MaxLateAdvertsTolerated, vrrp.MaxLateAdvertsTolerated))
	case v == rfc:
		*late = 0
		t.use(n) // the RFC's, rmqlb's default
	default:
		*late = v - rfc
		if where != "" {
			where = " " + where
		}
		t.change(n, fmt.Sprintf("becomes late_adverts_tolerated: %d%s: a backup takes over after %d advert intervals plus Skew_Time without an advert, as keepalived's does; the RFC waits %d (write the same on every peer)", v-rfc, where, v, rfc))
	}
}

// stateMaster applies what keepalived derives from "state MASTER": an
// instance without a priority runs at 255 (the address owner), and
// nopreempt and preempt_delay are cleared (keepalived warns so); rmqlb
// itself starts every instance as backup.
func (t *kaT) stateMaster(in *instance, state, nopreempt, preemptDelay *kaNode) {
	why := "rmqlb starts as backup and the highest priority becomes master"
	if in.priority == 0 {
		in.priority = 255
		why += "; without a priority keepalived runs a state MASTER instance at 255 (the address owner, which always preempts): priority 255 written"
	}
	t.change(state, why)
	if nopreempt != nil {
		in.preempt = nil
		t.ns.change(nopreempt.pos, nopreempt.text(), "not written: keepalived clears nopreempt with state MASTER")
	}
	if preemptDelay != nil {
		in.preemptDelay = 0
		t.ns.change(preemptDelay.pos, preemptDelay.text(), "not written: keepalived clears preempt_delay with state MASTER")
	}
}

// authentication translates an authentication block.
func (t *kaT) authentication(in *instance, n *kaNode) {
	t.use(n)
	var typ, pass *kaNode
	for _, c := range n.children {
		switch c.key {
		case "auth_type":
			typ = c
		case "auth_pass":
			pass = c
		}
	}
	if in.version == 3 {
		t.skip(n, "VRRPv3 has no authentication (RFC 5798), and keepalived ignores it too")
		return
	}
	if typ == nil {
		// keepalived's type is none unless auth_type says PASS (or AH):
		// its adverts carry no password, and so must rmqlb's.
		if pass != nil {
			t.skip(pass, "not written: without auth_type PASS keepalived sends no authentication, and rmqlb with a password would drop its adverts (and it rmqlb's)")
		}
		return
	}
	if v, ok := t.value(typ); ok {
		switch v {
		case "PASS":
			t.use(typ)
		case "AH":
			t.skip(typ, "no equivalent: rmqlb authenticates with auth_type PASS only; peers that use AH will not hear rmqlb, nor rmqlb them")
			if pass != nil {
				t.skip(pass, "goes with auth_type AH")
			}
			return
		default:
			// keepalived matches the type in capitals and refuses any
			// other: it then sends no authentication.
			t.skip(typ, "keepalived knows only PASS and AH (in capitals): with "+v+" it sends no authentication, and neither does rmqlb")
			if pass != nil {
				t.skip(pass, "not written: keepalived sends no authentication with auth_type "+v)
			}
			return
		}
	}
	if pass == nil {
		return
	}
	if len(pass.args) == 0 {
		t.skip(pass, "needs a value")
		return
	}
	if len(pass.args) > 1 {
		t.ns.change(pass.pos, pass.text(), "words after the password are ignored, as keepalived does")
	}
	p := pass.args[0]
	if len(p) > vrrp.MaxAuthPassLen {
		t.ns.change(pass.pos, pass.text(), fmt.Sprintf("cut to its first %d bytes: keepalived sends no more", vrrp.MaxAuthPassLen))
		p = p[:vrrp.MaxAuthPassLen]
	}
	in.authPass = p
	pass.done = true
}

// peer translates a unicast_peer line.
func (t *kaT) peer(in *instance, n *kaNode) {
	a, err := netip.ParseAddr(n.key)
	switch {
	case err != nil || !a.Is4():
		t.skip(n, "must be an IPv4 address in rmqlb")
		return
	case a == in.unicastSrc:
		t.skip(n, "is unicast_src_ip: a host is not its own peer")
		return
	}
	for _, p := range in.peers {
		if p == a {
			t.skip(n, "is listed twice")
			return
		}
	}
	in.peers = append(in.peers, a)
	t.use(n)
	for i := 0; i < len(n.args); i++ {
		switch n.args[i] {
		case "min_ttl", "max_ttl":
			if i+1 < len(n.args) {
				i++
			}
			t.ns.skip(n.pos, directive(n.key, n.args[i-1], n.args[i]), "no equivalent: rmqlb accepts a unicast peer's adverts whatever their TTL, as keepalived does without min_ttl and max_ttl")
		default:
			t.ns.skip(n.pos, directive(n.key, n.args[i]), whyUnknown)
		}
	}
}

// vip translates a virtual_ipaddress line: "ADDR[/LEN] [dev IF] [label L]
// [brd B] [scope S] ...".
func (t *kaT) vip(in *instance, n *kaNode) {
	p, err := parseVIPText(n.key)
	if err != nil {
		t.skip(n, err.Error())
		return
	}
	if !p.Addr().Is4() {
		t.skip(n, whyIPv6+" (keepalived leaves IPv6 addresses out of IPv4 adverts too)")
		return
	}
	if err := netsetup.CheckVIP(p); err != nil {
		t.skip(n, err.Error())
		return
	}
	var dev string
	var opts []string
	for i := 0; i < len(n.args); i++ {
		o := n.args[i]
		switch o {
		case "dev", "label", "brd", "broadcast", "scope", "preferred_lft", "track_group", "valid_lft":
			if i+1 < len(n.args) {
				i++
				if o == "dev" {
					dev = n.args[i]
					continue
				}
				o += " " + n.args[i]
			}
		}
		opts = append(opts, o)
	}
	if dev != "" && in.iface != "" && dev != in.iface {
		t.skip(n, "on "+dev+", not on the instance's interface "+in.iface+": rmqlb adds every VIP to the instance's interface; without it rmqlb's adverts list other addresses than keepalived's, which keepalived 2.2.7 drops")
		return
	}
	for _, v := range in.vips {
		if v.Addr() == p.Addr() {
			t.skip(n, "is listed twice")
			return
		}
	}
	if len(in.vips) >= vrrp.MaxVIPs {
		t.skip(n, fmt.Sprintf("more than %d VIPs", vrrp.MaxVIPs))
		return
	}
	in.vips = append(in.vips, p)
	t.use(n)
	for _, o := range opts {
		why := whyUnknown
		switch strings.Fields(o)[0] {
		case "label":
			why = "no equivalent: rmqlb labels the addresses it adds itself (IFNAME:rmqlb), to find them again after a crash"
		case "brd", "broadcast", "scope", "preferred_lft", "valid_lft":
			why = "no equivalent: rmqlb adds VIPs with the kernel's defaults"
		case "no_track", "track_group":
			why = "no equivalent: rmqlb watches every VIP it holds and puts back one that disappears"
		case "home", "nodad", "noprefixroute", "autojoin":
			why = "no equivalent: rmqlb adds VIPs with the kernel's defaults"
		}
		t.ns.skip(n.pos, directive(n.key, o), why)
	}
}

// parseVIPText reads "a.b.c.d" or "a.b.c.d/len".
func parseVIPText(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("must be an address or address/prefix-length")
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("must be an address or address/prefix-length")
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// trackScript records a track_script entry, "NAME [weight W]", to be
// resolved once the listeners are known.
func (t *kaT) trackScript(in *instance, n *kaNode) { t.trackRef(in, n, false) }

// trackProcessRef records a track_process entry, as trackScript does a
// track_script entry.
func (t *kaT) trackProcessRef(in *instance, n *kaNode) { t.trackRef(in, n, true) }

// trackRef records an entry of track_script or, with process, of
// track_process.
func (t *kaT) trackRef(in *instance, n *kaNode, process bool) {
	ref := scriptRef{pos: n.pos, name: n.key, process: process}
	for i := 0; i < len(n.args); i++ {
		if n.args[i] == "weight" && i+1 < len(n.args) {
			w, err := number(n.args[i+1], -254, 254)
			if err != nil {
				t.skip(n, "weight "+err.Error())
				return
			}
			ref.weight = intp(w)
			i++
			continue
		}
		if n.args[i] == "reverse" || n.args[i] == "noreverse" {
			ref.reverse, ref.noreverse = n.args[i] == "reverse", n.args[i] == "noreverse"
			continue
		}
		t.ns.skip(n.pos, directive(n.key, n.args[i]), whyUnknown)
	}
	in.scripts = append(in.scripts, ref)
	t.use(n)
}

// trackInterface translates a track_interface entry: tracking the
// instance's own interface is what rmqlb always does.
func (t *kaT) trackInterface(in *instance, n *kaNode) {
	if n.key != in.iface {
		t.skip(n, "no equivalent: rmqlb follows the link of the instance's own interface only")
		return
	}
	if len(n.args) > 0 {
		t.change(n, "rmqlb goes to FAULT while the link of "+n.key+" is down, whatever the weight")
		return
	}
	t.use(n)
}

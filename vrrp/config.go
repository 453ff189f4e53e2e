package vrrp

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/internal/fielderr"
	"github.com/rmqlb/rmqlb/netsetup"
)

// Config is the configuration of one VRRP instance (one virtual router on
// one interface), the equivalent of keepalived's vrrp_instance block. The
// field comments name the configuration-file keys.
type Config struct {
	// Name identifies the instance in logs, metrics and status (name).
	// Required, and a valid name (backend.CheckName).
	Name string
	// Interface is the network interface adverts are sent and received on
	// and VIPs are added to (interface). Required, a valid interface name
	// (netsetup.CheckInterfaceName).
	Interface string
	// VRID is the virtual router id, 1..255 (virtual_router_id). Required;
	// every router of one virtual router uses the same, different virtual
	// routers on one network use different ones.
	VRID uint8
	// Priority is 1..254, or 255 for the address owner, which becomes
	// MASTER at once and is never adjusted (priority). Required; higher wins.
	Priority uint8
	// Version is the VRRP version, 2 or 3 (version). Required.
	Version int
	// AdvertInterval is the advertisement interval (advert_interval).
	// VRRPv2: whole seconds, 1s..255s. VRRPv3: whole centiseconds,
	// 10ms..40.95s. Required (keepalived's default is 1s).
	AdvertInterval time.Duration
	// Preempt lets a higher-priority backup take over from a lower-priority
	// master (preempt). The zero value false is keepalived's nopreempt; the
	// caller sets the default, true.
	Preempt bool
	// PreemptDelay delays a preemption: a backup hearing a lower-priority
	// master keeps accepting it for this long, counted from the first such
	// advertisement (preempt_delay), at most MaxPreemptDelay. Zero (the
	// default) preempts after the usual master-down interval. Ignored when
	// Preempt is false. It holds back a BACKUP only (one back from FAULT
	// included): two MASTERs that hear each other again after a split
	// resolve at once, the one of lower priority giving way (RFC 5798
	// section 6.4.3).
	PreemptDelay time.Duration
	// AuthPass is the VRRPv2 simple text password, at most 8 bytes
	// (auth_pass). Empty means authentication type 0 (none). Must be empty
	// for VRRPv3.
	AuthPass string
	// Checksum selects the VRRPv3 IPv4 checksum convention sent
	// (v3_checksum); any is accepted on receive. The zero value is
	// ChecksumPseudoHeader (keepalived).
	Checksum ChecksumMode
	// UnicastSrc is the source address of adverts (unicast_src), an IPv4
	// address (not IPv4-mapped IPv6). The zero value means the first IPv4
	// address of Interface that is not a VIP.
	UnicastSrc netip.Addr
	// UnicastPeers switches to unicast mode: adverts go to each peer and
	// are accepted only from them unless AllowedPeers says otherwise
	// (unicast_peers), with any TTL, as keepalived accepts them (a peer
	// may be a router away, or a keepalived with unicast_ttl). Empty (the
	// default) means multicast to 224.0.0.18, with TTL 255 only.
	UnicastPeers []netip.Addr
	// AllowedPeers are the only source addresses whose adverts are
	// accepted, in multicast and in unicast mode (allowed_peers); adverts
	// from any other source are dropped and counted as not_peer. In
	// unicast mode it must contain every unicast peer. Empty (the default)
	// means the unicast peers in unicast mode and any sender on the link
	// in multicast mode. The check is on the IP source address, which a
	// host on the link can forge: it keeps out misconfigured and
	// uninvited routers, not an attacker who knows a peer's address.
	AllowedPeers []netip.Addr
	// MaxAdoptedInterval bounds the advertisement interval a VRRPv3
	// backup adopts from the master's adverts as Master_Adver_Interval
	// (max_adopted_advert_interval; RFC 5798 section 6.4.2 has it adopt
	// any): a larger advertised interval is used as this value, and the
	// clamping is counted. It bounds how long a backup waits for a master
	// that went silent (3 * MaxAdoptedInterval + Skew_Time), also when a
	// forged advert announced 40.95 s. Zero (the default) means
	// DefaultMaxAdoptedFactor * AdvertInterval, at most 40.95 s; otherwise
	// it must be whole centiseconds (the unit of the VRRPv3 interval
	// field) in AdvertInterval..40.95s, and Version 3: a VRRPv2 backup
	// adopts nothing, its adverts must carry the configured interval.
	// After a reload that shortens it (a shorter AdvertInterval), the
	// previous bound holds until an advert within the new one is heard,
	// so that a backup reloaded before its master does not take over
	// between two of the master's adverts at the old interval.
	MaxAdoptedInterval time.Duration
	// LateAdvertsTolerated is a deviation from the RFC, for very short
	// intervals on busy hosts: a BACKUP waits for that many more
	// advertisement intervals before it takes over from a silent master,
	// Master_Down_Interval = (3 + LateAdvertsTolerated) *
	// Master_Adver_Interval + Skew_Time, so that a master whose adverts
	// come that many intervals late keeps its role; a master that stops
	// for good is replaced that much later. A priority-0 advert is still
	// followed after Skew_Time. Zero (the default): RFC 3768 and RFC
	// 5798, three intervals; at most MaxLateAdvertsTolerated.
	LateAdvertsTolerated int
	// VIPs are the virtual addresses (virtual_ipaddress), 1..255 IPv4
	// prefixes (a bare address is a /32). Required.
	VIPs []netip.Prefix
}

// MaxAuthPassLen is the longest VRRPv2 simple password: the 8 bytes of
// the authentication data (RFC 2338 section 5.3.10).
const MaxAuthPassLen = 8

// MaxVIPs is the most virtual addresses one advert carries (an 8-bit
// count).
const MaxVIPs = 255

// DefaultMaxAdoptedFactor times Config.AdvertInterval is the largest
// advertisement interval a VRRPv3 backup adopts from a master when
// Config.MaxAdoptedInterval is zero. Three lets a master advertise up to
// three times slower than we do (a rolling change of advert_interval) and
// bounds the wait for a silent master to 9 * AdvertInterval + Skew_Time.
const DefaultMaxAdoptedFactor = 3

// MaxLateAdvertsTolerated is the largest Config.LateAdvertsTolerated.
const MaxLateAdvertsTolerated = 10

// maxV3Interval is the largest VRRPv3 interval, 4095 centiseconds.
const maxV3Interval = 40950 * time.Millisecond

// maxV2Interval is the largest VRRPv2 interval, 255 seconds.
const maxV2Interval = 255 * time.Second

// MaxPreemptDelay is the longest Config.PreemptDelay accepted.
const MaxPreemptDelay = time.Hour

// CheckVRID reports whether id can be a virtual router id: 1..255.
func CheckVRID(id int) error {
	if id < 1 || id > 255 {
		return fmt.Errorf("must be 1..255, not %d", id)
	}
	return nil
}

// CheckPriority reports whether p can be a configured priority: 1..254,
// or 255 for the address owner. 0 is what a master that stops sends.
func CheckPriority(p int) error {
	switch {
	case p == 0:
		return errors.New("must be 1..255, not 0 (0 is reserved for a master that stops)")
	case p < 1 || p > 255:
		return fmt.Errorf("must be 1..255, not %d", p)
	}
	return nil
}

// Validate reports every problem of c, each a *fielderr.Error naming the
// field by its configuration-file key ("unicast_peers[1]") and saying
// what is wrong with its value, wrapped with the instance's name, joined
// with errors.Join. These are the instance's rules; the configuration
// file's reader relies on them instead of restating them.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("vrrp instance %q: %w", c.Name, fielderr.New(field, format, args...)))
	}
	badErr := func(field string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("vrrp instance %q: %w", c.Name, &fielderr.Error{Field: field, Err: err}))
		}
	}
	badErr("name", backend.CheckName(c.Name))
	badErr("interface", netsetup.CheckInterfaceName(c.Interface))
	badErr("virtual_router_id", CheckVRID(int(c.VRID)))
	badErr("priority", CheckPriority(int(c.Priority)))
	switch c.Version {
	case 2:
		if len(c.AuthPass) > MaxAuthPassLen {
			bad("auth_pass", "must be at most %d bytes, not %d", MaxAuthPassLen, len(c.AuthPass))
		}
	case 3:
		if c.AuthPass != "" {
			bad("auth_pass", "is not allowed with version 3 (RFC 5798 removed authentication)")
		}
	default:
		bad("version", "must be 2 or 3, not %d", c.Version)
	}
	if c.Version == 2 || c.Version == 3 {
		badErr("advert_interval", CheckAdvertInterval(c.Version, c.AdvertInterval))
	}
	if c.PreemptDelay < 0 || c.PreemptDelay > MaxPreemptDelay {
		bad("preempt_delay", "must be 0s..%v, not %v", MaxPreemptDelay, c.PreemptDelay)
	}
	if c.Checksum != ChecksumPseudoHeader && c.Checksum != ChecksumRFC9568 {
		badErr("v3_checksum", errChecksumMode(c.Checksum.String()))
	}
	if c.UnicastSrc.IsValid() && !c.UnicastSrc.Is4() {
		bad("unicast_src", "must be an IPv4 address, not %v", c.UnicastSrc)
	}
	// ipv4List checks the list at key and returns its usable addresses,
	// each with its index.
	ipv4List := func(key string, list []netip.Addr) map[netip.Addr]int {
		seen := make(map[netip.Addr]int)
		for i, a := range list {
			field := fmt.Sprintf("%s[%d]", key, i)
			switch j, dup := seen[a]; {
			case !a.IsValid():
				bad(field, "must be an IPv4 address")
				continue
			case !a.Is4():
				bad(field, "must be an IPv4 address, not %v", a)
				continue
			case dup:
				bad(field, "%v is also %s[%d]", a, key, j)
				continue
			}
			seen[a] = i
		}
		return seen
	}
	peers := ipv4List("unicast_peers", c.UnicastPeers)
	allowed := ipv4List("allowed_peers", c.AllowedPeers)
	for i, a := range c.UnicastPeers {
		field := fmt.Sprintf("unicast_peers[%d]", i)
		if j, ok := peers[a]; !ok || j != i {
			continue // refused above
		}
		if a == c.UnicastSrc {
			bad(field, "%v is also unicast_src: a host is not its own peer", a)
		}
		if _, ok := allowed[a]; len(c.AllowedPeers) > 0 && !ok {
			bad(field, "%v is not in allowed_peers: its adverts would be dropped", a)
		}
	}
	if m := c.MaxAdoptedInterval; m != 0 {
		if CheckAdvertInterval(3, m) != nil || m < c.AdvertInterval {
			bad("max_adopted_advert_interval", "must be whole centiseconds from advert_interval (%v) to 40.95s (the VRRPv3 field), or 0 for %d * advert_interval, not %v",
				c.AdvertInterval, DefaultMaxAdoptedFactor, m)
		}
		if c.Version != 3 {
			bad("max_adopted_advert_interval", "applies to version 3 only (a version 2 backup never adopts the master's interval)")
		}
	}
	if n := c.LateAdvertsTolerated; n < 0 || n > MaxLateAdvertsTolerated {
		bad("late_adverts_tolerated", "must be 0 (the RFC's three advert intervals) to %d, not %d", MaxLateAdvertsTolerated, n)
	}
	if len(c.VIPs) == 0 {
		bad("virtual_ipaddress", "needs at least one address")
	}
	if len(c.VIPs) > MaxVIPs {
		bad("virtual_ipaddress", "has %d addresses, at most %d", len(c.VIPs), MaxVIPs)
	}
	vips := make(map[netip.Addr]int)
	for i, p := range c.VIPs {
		field := fmt.Sprintf("virtual_ipaddress[%d]", i)
		a := p.Addr().Unmap()
		switch j, dup := vips[a]; {
		case !p.IsValid():
			bad(field, "is not a valid prefix")
			continue
		case !a.Is4():
			bad(field, "%v: IPv6 VIPs are not supported (VRRP runs over IPv4 only)", p)
			continue
		case dup:
			bad(field, "%v is also virtual_ipaddress[%d]", a, j)
			continue
		}
		vips[a] = i
	}
	return errors.Join(errs...)
}

// authType and authData are the VRRPv2 authentication fields c sends and
// expects.
func (c Config) auth() (uint8, [8]byte) {
	if c.Version != 2 || c.AuthPass == "" {
		return AuthTypeNone, [8]byte{}
	}
	return AuthTypeSimple, SimpleAuthData(c.AuthPass)
}

// maxAdopted returns the largest advertisement interval a VRRPv3 backup
// adopts (see MaxAdoptedInterval).
func (c Config) maxAdopted() time.Duration {
	if c.MaxAdoptedInterval > 0 {
		return c.MaxAdoptedInterval
	}
	return min(DefaultMaxAdoptedFactor*c.AdvertInterval, maxV3Interval)
}

// allowList returns the sources whose adverts are accepted, nil for any:
// AllowedPeers, else UnicastPeers.
func (c Config) allowList() map[netip.Addr]bool {
	list := c.AllowedPeers
	if len(list) == 0 {
		list = c.UnicastPeers
	}
	if len(list) == 0 {
		return nil
	}
	m := make(map[netip.Addr]bool, len(list))
	for _, p := range list {
		m[p.Unmap()] = true
	}
	return m
}

// vipAddrs returns the addresses of c.VIPs.
func (c Config) vipAddrs() []netip.Addr {
	out := make([]netip.Addr, len(c.VIPs))
	for i, p := range c.VIPs {
		out[i] = p.Addr().Unmap()
	}
	return out
}

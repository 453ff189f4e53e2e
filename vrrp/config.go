package vrrp

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Config is the configuration of one VRRP instance (one virtual router on
// one interface), the equivalent of keepalived's vrrp_instance block. The
// field comments name the configuration-file keys.
type Config struct {
	// Name identifies the instance in logs, metrics and status (name).
	// Required.
	Name string
	// Interface is the network interface adverts are sent and received on
	// and VIPs are added to (interface). Required.
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
	// advertisement (preempt_delay). Zero (the default) preempts after the
	// usual master-down interval. Ignored when Preempt is false.
	PreemptDelay time.Duration
	// AuthPass is the VRRPv2 simple text password, at most 8 bytes
	// (auth_pass). Empty means authentication type 0 (none). Must be empty
	// for VRRPv3.
	AuthPass string
	// Checksum selects the VRRPv3 IPv4 checksum convention sent
	// (v3_checksum); any is accepted on receive. The zero value is
	// ChecksumPseudoHeader (keepalived).
	Checksum ChecksumMode
	// UnicastSrc is the source address of adverts (unicast_src). The zero
	// value means the first IPv4 address of Interface that is not a VIP.
	UnicastSrc netip.Addr
	// UnicastPeers switches to unicast mode: adverts go to each peer and
	// are accepted only from them unless AllowedPeers says otherwise
	// (unicast_peers). Empty (the default) means multicast to 224.0.0.18.
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
	// field) in AdvertInterval..40.95s. Unused for VRRPv2, whose adverts
	// must carry the configured interval.
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

// Validate reports every problem of c, each naming the field (by its
// configuration-file key) and what is wrong, joined with errors.Join.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("vrrp instance %q: %s: %s", c.Name, field, fmt.Sprintf(format, args...)))
	}
	if c.Name == "" {
		bad("name", "is empty")
	}
	if c.Interface == "" {
		bad("interface", "is empty")
	}
	if c.VRID == 0 {
		bad("virtual_router_id", "must be 1..255, not 0")
	}
	if c.Priority == 0 {
		bad("priority", "must be 1..255, not 0 (0 is reserved for a master that stops)")
	}
	if c.Version == 2 || c.Version == 3 {
		if err := CheckAdvertInterval(c.Version, c.AdvertInterval); err != nil {
			bad("advert_interval", "%v", err)
		}
	}
	switch c.Version {
	case 2:
		if len(c.AuthPass) > MaxAuthPassLen {
			bad("auth_pass", "is %d bytes, at most %d", len(c.AuthPass), MaxAuthPassLen)
		}
	case 3:
		if c.AuthPass != "" {
			bad("auth_pass", "is set, but VRRPv3 has no authentication")
		}
	default:
		bad("version", "%d: must be 2 or 3", c.Version)
	}
	if c.PreemptDelay < 0 {
		bad("preempt_delay", "%v is negative", c.PreemptDelay)
	}
	if c.Checksum != ChecksumPseudoHeader && c.Checksum != ChecksumRFC9568 {
		bad("v3_checksum", "%v: must be pseudo-header or rfc9568", c.Checksum)
	}
	if c.UnicastSrc.IsValid() && !c.UnicastSrc.Unmap().Is4() {
		bad("unicast_src", "%v: only IPv4 is supported", c.UnicastSrc)
	}
	ipv4List := func(field string, list []netip.Addr) map[netip.Addr]bool {
		seen := make(map[netip.Addr]bool)
		for _, p := range list {
			switch {
			case !p.IsValid():
				bad(field, "contains an invalid address")
			case !p.Unmap().Is4():
				bad(field, "%v: only IPv4 is supported", p)
			case seen[p.Unmap()]:
				bad(field, "%v appears twice", p)
			}
			seen[p.Unmap()] = true
		}
		return seen
	}
	if ipv4List("unicast_peers", c.UnicastPeers)[c.UnicastSrc.Unmap()] && c.UnicastSrc.IsValid() {
		bad("unicast_peers", "%v is also unicast_src", c.UnicastSrc)
	}
	allowed := ipv4List("allowed_peers", c.AllowedPeers)
	if len(c.AllowedPeers) > 0 {
		for _, p := range c.UnicastPeers {
			if p.IsValid() && !allowed[p.Unmap()] {
				bad("allowed_peers", "does not contain unicast peer %v, whose adverts would be dropped", p)
			}
		}
	}
	if m := c.MaxAdoptedInterval; m != 0 && (CheckAdvertInterval(3, m) != nil || m < c.AdvertInterval) {
		bad("max_adopted_advert_interval", "%v: must be whole centiseconds from advert_interval (%v) to 40.95s (the VRRPv3 field), or 0 for %d * advert_interval", m, c.AdvertInterval, DefaultMaxAdoptedFactor)
	}
	if n := c.LateAdvertsTolerated; n < 0 || n > MaxLateAdvertsTolerated {
		bad("late_adverts_tolerated", "%d: must be 0 (the RFC's three intervals) to %d", n, MaxLateAdvertsTolerated)
	}
	if len(c.VIPs) == 0 {
		bad("virtual_ipaddress", "is empty")
	}
	if len(c.VIPs) > MaxVIPs {
		bad("virtual_ipaddress", "has %d addresses, at most %d", len(c.VIPs), MaxVIPs)
	}
	vips := make(map[netip.Addr]bool)
	for _, p := range c.VIPs {
		switch {
		case !p.IsValid():
			bad("virtual_ipaddress", "contains an invalid prefix")
		case !p.Addr().Unmap().Is4():
			bad("virtual_ipaddress", "%v: only IPv4 is supported", p)
		case vips[p.Addr().Unmap()]:
			bad("virtual_ipaddress", "%v appears twice", p.Addr())
		}
		vips[p.Addr().Unmap()] = true
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

package netsetup

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/rmqlb/rmqlb/internal/fielderr"
)

// Defaults applied by GARPConfig and VIPConfig for zero values.
const (
	// DefaultGARPCount is the number of gratuitous ARPs sent when the VIPs
	// are acquired.
	DefaultGARPCount = 5
	// DefaultGARPInterval is the spacing of the initial burst. It is longer
	// than the default neighbour locktime (1 s, net.ipv4.neigh.*.locktime)
	// within which a receiver may ignore another change of an entry it just
	// updated, so each announcement of the burst counts; MetalLB learnt
	// this the hard way.
	DefaultGARPInterval = 1100 * time.Millisecond
	// DefaultGARPRefresh is the period of the refresh announcement while the
	// VIPs are held.
	DefaultGARPRefresh = 60 * time.Second
	// DefaultLabel is the tag used to mark addresses added by rmqlb.
	DefaultLabel = "rmqlb"
	// MinGARPRefresh is the shortest refresh period accepted.
	MinGARPRefresh = 100 * time.Millisecond
	// MaxGARPCount is the most announcements of one burst.
	MaxGARPCount = 100
)

// maxLabelLen is IFNAMSIZ-1: the kernel keeps at most 15 bytes of IFA_LABEL.
const maxLabelLen = 15

// GARPConfig controls the gratuitous ARP announcements (RFC 5227 section
// 2.3) sent for IPv4 VIPs. The zero value is usable: 5 announcements 1.1 s
// apart, then one every 60 s while the VIPs are held.
type GARPConfig struct {
	// Count is the number of announcements sent when the VIPs are acquired,
	// the first one immediately. Zero means DefaultGARPCount (5); at most
	// MaxGARPCount.
	Count int `json:"count" yaml:"count"`
	// Interval is the time between two announcements of the initial burst.
	// Zero means DefaultGARPInterval (1.1 s). Negative is invalid.
	Interval time.Duration `json:"interval" yaml:"interval"`
	// Refresh is the period of one further announcement while the VIPs are
	// held, counted from the last announcement of the burst, so that
	// switches with long ARP caches and the loser of a healed split brain
	// learn the owner again. Each VIP's refresh is followed by a probe,
	// an ARP probe for an IPv4 VIP (ProbeFrame), a DAD probe for an IPv6
	// one on an Ethernet link (DADProbeFrame), which a host that holds
	// the VIP too answers, unless NoProbe. Zero means DefaultGARPRefresh (60 s); negative turns
	// the refresh, and the probes, off.
	Refresh time.Duration `json:"refresh" yaml:"refresh"`
	// NoProbe turns the probes of the refreshes off: for a network
	// where something else answers every ARP request or neighbour
	// solicitation (an ARP and ND responder of a virtual switch), which
	// would be taken for a host that holds the VIP too. The zero value
	// probes.
	NoProbe bool `json:"no_probe,omitempty" yaml:"no_probe"`
}

// withDefaults returns c with zero fields replaced by their defaults.
func (c GARPConfig) withDefaults() GARPConfig {
	if c.Count == 0 {
		c.Count = DefaultGARPCount
	}
	if c.Interval == 0 {
		c.Interval = DefaultGARPInterval
	}
	if c.Refresh == 0 {
		c.Refresh = DefaultGARPRefresh
	}
	return c
}

// Validate reports every problem of the GARP settings, each a
// *fielderr.Error naming the field ("garp.count") and what is wrong with
// its value, joined with errors.Join.
func (c GARPConfig) Validate() error {
	var errs []error
	if c.Count < 0 || c.Count > MaxGARPCount {
		errs = append(errs, fielderr.New("garp.count", "must be 1..%d, not %d", MaxGARPCount, c.Count))
	}
	if c.Interval < 0 {
		errs = append(errs, fielderr.New("garp.interval", "must not be negative, not %v", c.Interval))
	}
	if c.Refresh > 0 && c.Refresh < MinGARPRefresh {
		errs = append(errs, fielderr.New("garp.refresh", "must be at least %v (or negative: off), not %v", MinGARPRefresh, c.Refresh))
	}
	return errors.Join(errs...)
}

// VIPConfig describes the virtual addresses one VIPSet owns on one
// interface. The zero value is not valid: Interface and VIPs are required.
type VIPConfig struct {
	// Interface is the name of the link the VIPs are added to and announced
	// on (for example "eth0"). Required.
	Interface string `json:"interface" yaml:"interface"`
	// Label is the tag marking the addresses this daemon adds, so that a
	// later run can remove the ones a killed run left (see
	// RemoveStaleScoped and the package documentation). The IPv4 address
	// label becomes "Interface:Label" cut to 15 bytes. Empty means
	// DefaultLabel ("rmqlb"). It must be 1..14 bytes of [A-Za-z0-9_.-].
	// Every VIPSet of one daemon should use the same tag, the one passed
	// to RemoveStaleScoped.
	Label string `json:"label" yaml:"label"`
	// VIPs are the addresses to own, with their prefix length (a bare
	// address is a /32 or /128 to the caller's config parser). At least one;
	// no duplicates; the address must not be unspecified, loopback,
	// multicast or link-local.
	VIPs []netip.Prefix `json:"vips" yaml:"vips"`
	// GARP controls the gratuitous ARP announcements; see GARPConfig.
	GARP GARPConfig `json:"garp" yaml:"garp"`
}

// tag returns the configured label tag or the default.
func (c VIPConfig) tag() string {
	if c.Label == "" {
		return DefaultLabel
	}
	return c.Label
}

// Validate reports every problem of the configuration, each a
// *fielderr.Error naming the field ("vips[1]") and what is wrong, joined
// with errors.Join.
func (c VIPConfig) Validate() error {
	var errs []error
	if err := validateIfname(c.Interface); err != nil {
		errs = append(errs, &fielderr.Error{Field: "interface", Err: err})
	}
	if err := validateTag(c.tag()); err != nil {
		errs = append(errs, &fielderr.Error{Field: "label", Err: err})
	}
	if len(c.VIPs) == 0 {
		errs = append(errs, fielderr.New("vips", "at least one VIP is required"))
	}
	seen := make(map[netip.Addr]bool, len(c.VIPs))
	for i, p := range c.VIPs {
		a := p.Addr()
		field := fmt.Sprintf("vips[%d]", i)
		if !p.IsValid() {
			errs = append(errs, fielderr.New(field, "invalid prefix"))
			continue
		}
		if err := CheckVIP(p); err != nil {
			errs = append(errs, &fielderr.Error{Field: field, Err: err})
		}
		if seen[a] {
			errs = append(errs, fielderr.New(field, "%s: duplicate address", p))
		}
		seen[a] = true
	}
	if err := c.GARP.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// CheckVIP reports whether p can be a virtual address: a unicast address
// that is not unspecified, loopback, multicast or link-local, without a
// zone, and IPv4 written as IPv4 (not IPv4-mapped IPv6).
func CheckVIP(p netip.Prefix) error {
	a := p.Addr()
	switch {
	case !p.IsValid():
		return fmt.Errorf("%s: invalid prefix", p)
	case a.Is4In6():
		return fmt.Errorf("%s: IPv4-mapped IPv6 addresses are not allowed, write the IPv4 address", p)
	case a.IsUnspecified(), a.IsLoopback(), a.IsMulticast(), a.IsLinkLocalUnicast():
		return fmt.Errorf("%s: not a usable unicast address", p)
	case a.Zone() != "":
		return fmt.Errorf("%s: zones are not allowed", p)
	case p.Bits() == 0:
		return fmt.Errorf("%s: prefix length 0 would put every address on the interface's link (a default route); write the subnet's length or /%d", p, a.BitLen())
	}
	return nil
}

// CheckInterfaceName reports whether name is a valid Linux interface name:
// 1 to 15 bytes, not "." or "..", without '/', ':' or white space.
func CheckInterfaceName(name string) error { return validateIfname(name) }

// validateIfname checks a Linux interface name.
func validateIfname(name string) error {
	switch {
	case name == "":
		return errors.New("required")
	case len(name) > maxLabelLen:
		return fmt.Errorf("%q is longer than 15 bytes", name)
	case name == "." || name == "..":
		return fmt.Errorf("%q is not a valid interface name", name)
	case strings.ContainsAny(name, "/: \t\n"):
		return fmt.Errorf("%q contains '/', ':' or white space", name)
	}
	return nil
}

// validateTag checks a label tag.
func validateTag(tag string) error {
	if len(tag) == 0 || len(tag) > maxLabelLen-1 {
		return fmt.Errorf("%q must be 1..14 bytes", tag)
	}
	for _, r := range tag {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.'
		if !ok {
			return fmt.Errorf("%q may contain only letters, digits, '_', '-' and '.'", tag)
		}
	}
	return nil
}

package netsetup

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/packet"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/rmqlb/rmqlb/internal/clock"
)

// etherTypeARP is the EtherType of ARP (RFC 826).
const etherTypeARP = 0x0806

// VIPSet owns the virtual addresses of one VRRP instance on one interface:
// Acquire adds them and announces them with gratuitous ARP, Release
// withdraws them. It implements the vrrp package's Owner interface.
//
// Acquire, Release and Snapshot are safe for concurrent use; Acquire and
// Release are serialised. Run owns the goroutine sending the scheduled
// announcements and must run for as long as the VIPSet is used; without it
// only the first announcement of each Acquire is sent. The VIPSet uses the
// network namespace of the thread calling each method, which for a normal
// process is the process's namespace.
type VIPSet struct {
	cfg   VIPConfig // defaults applied
	tag   string
	log   *zap.Logger
	m     *vipMetrics
	ann   *announcer
	clock clock.Clock

	opMu sync.Mutex // serialises Acquire and Release

	mu    sync.Mutex // guards the fields below
	held  bool
	hw    net.HardwareAddr
	label string         // IPv4 address label, "" when the name leaves no room
	conn  net.PacketConn // send-only ARP packet socket while held; nil otherwise
	na    *naConn        // send-only ICMPv6 socket while held; nil otherwise
	vips  []*vipState    // in cfg.VIPs order
}

// vipState is the bookkeeping of one VIP; guarded by VIPSet.mu.
type vipState struct {
	prefix   netip.Prefix
	added    bool // added (or found with our marker) by the last Acquire
	garpSent uint64
	lastGARP time.Time
	lastErr  string
}

// VIPSetSnapshot is the state of a VIPSet at one moment, for status output.
type VIPSetSnapshot struct {
	// Interface is the configured interface name.
	Interface string `json:"interface"`
	// Label is the IPv4 address label used as marker ("" when the interface
	// name is too long for one; the address protocol then marks alone).
	Label string `json:"label"`
	// Held is true between a successful Acquire and the next Release.
	Held bool `json:"held"`
	// VIPs has one entry per configured VIP, in configuration order.
	VIPs []VIPSnapshot `json:"vips"`
	// Error is set when the interface addresses could not be read, in
	// which case every Present is false.
	Error string `json:"error,omitempty"`
}

// VIPSnapshot is the state of one VIP.
type VIPSnapshot struct {
	// Prefix is the VIP with its prefix length.
	Prefix netip.Prefix `json:"prefix"`
	// Present is true when the address is on the interface right now (read
	// from the kernel when the snapshot was taken), whoever added it.
	Present bool `json:"present"`
	// Marked is true when the present address carries rmqlb's marker
	// (label and/or address protocol), i.e. this daemon added it.
	Marked bool `json:"marked"`
	// GARPSent counts the announcements sent for this VIP since start:
	// gratuitous ARPs for IPv4, unsolicited neighbour advertisements for
	// IPv6.
	GARPSent uint64 `json:"garp_sent"`
	// LastGARP is the time of the last announcement sent; zero if none.
	LastGARP time.Time `json:"last_garp,omitzero"`
	// LastError is the last error adding, announcing or removing this VIP,
	// cleared by the next success.
	LastError string `json:"last_error,omitempty"`
}

// NewVIPSet checks cfg and returns a VIPSet that holds nothing yet. It does
// no I/O: the interface need not exist before Acquire. logger may be nil
// (no logging); reg may be nil (no metrics).
func NewVIPSet(cfg VIPConfig, logger *zap.Logger, reg prometheus.Registerer) (*VIPSet, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("validating VIP config: %w", err)
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	cfg.GARP = cfg.GARP.withDefaults()
	cfg.VIPs = append([]netip.Prefix(nil), cfg.VIPs...)
	s := &VIPSet{
		cfg:   cfg,
		tag:   cfg.tag(),
		clock: clock.Real{},
	}
	s.log = logger.With(zap.String("interface", cfg.Interface))
	names := make([]string, len(cfg.VIPs))
	for i, p := range cfg.VIPs {
		s.vips = append(s.vips, &vipState{prefix: p})
		names[i] = p.String()
	}
	s.label, _ = addrLabel(cfg.Interface, s.tag)
	m, err := newVIPMetrics(reg, cfg.Interface, strings.Join(names, ","))
	if err != nil {
		return nil, err
	}
	s.m = m
	s.ann = newAnnouncer(s.clock, cfg.GARP, s.announce)
	return s, nil
}

// Acquire adds every VIP to the interface, marked as ours, and starts the
// announcements: the first gratuitous ARP is sent before Acquire returns,
// the rest of the burst and the periodic refresh by Run. A VIP already
// present is fine (EEXIST); if it is present without our marker, somebody
// else added it: it is left as is and reported (Release will not remove
// it). Acquire tries every VIP and returns all errors joined; the VIPSet is
// held afterwards even when some VIPs failed, so that Release removes what
// was added. If the interface does not exist, nothing is added and the
// VIPSet is not held. Acquire does not use ctx beyond an initial check:
// each netlink call is short.
func (s *VIPSet) Acquire(ctx context.Context) error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("acquiring VIPs on %s: %w", s.cfg.Interface, err)
	}
	link, err := linkByName(s.cfg.Interface)
	if err != nil {
		s.setAllErr(err)
		s.m.acquireErrors.Inc()
		return fmt.Errorf("acquiring VIPs: %w", err)
	}
	attrs := link.Attrs()
	var errs []error
	added := make([]bool, len(s.cfg.VIPs))
	vipErrs := make([]error, len(s.cfg.VIPs))
	for i, p := range s.cfg.VIPs {
		err := addAddr(attrs.Index, p, s.label)
		switch {
		case err == nil:
			added[i] = true
			s.log.Info("added VIP", zap.Stringer("vip", p), zap.String("label", s.label))
		case isErrno(err, unix.EEXIST):
			mine, ferr := s.marked(attrs.Index, p)
			if ferr != nil {
				vipErrs[i] = fmt.Errorf("checking existing VIP %s: %w", p, ferr)
			} else if !mine {
				vipErrs[i] = fmt.Errorf("adding VIP %s: already present without rmqlb's marker (added by someone else), left alone", p)
			} else {
				added[i] = true
			}
		default:
			vipErrs[i] = fmt.Errorf("adding VIP %s: %w", p, err)
		}
		if vipErrs[i] != nil {
			s.log.Warn("VIP not acquired", zap.Stringer("vip", p), zap.Error(vipErrs[i]))
			errs = append(errs, vipErrs[i])
		}
	}

	s.mu.Lock()
	s.held = true
	s.hw = attrs.HardwareAddr
	for i, v := range s.vips {
		v.added = added[i]
		if vipErrs[i] != nil {
			v.lastErr = vipErrs[i].Error()
		} else {
			v.lastErr = ""
		}
	}
	if err := s.openSenders(attrs); err != nil {
		s.log.Warn("cannot send announcements", zap.Error(err))
	}
	s.mu.Unlock()

	s.m.held.Set(1)
	if len(errs) > 0 {
		s.m.acquireErrors.Inc()
	}
	s.ann.start()
	return errors.Join(errs...)
}

// Release stops the announcements and removes every configured VIP that
// carries our marker from the interface, whether or not this VIPSet
// believes it holds them (so a VIPSet that never acquired still cleans up).
// Absent addresses (ENOENT, EADDRNOTAVAIL) and a missing interface are
// fine. Addresses without our marker are left alone.
func (s *VIPSet) Release(ctx context.Context) error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.ann.stop()
	s.mu.Lock()
	s.held = false
	s.closeSenders()
	for _, v := range s.vips {
		v.added = false
	}
	s.mu.Unlock()
	s.m.held.Set(0)

	if err := ctx.Err(); err != nil {
		// Removing the VIPs matters more than the caller's deadline: a
		// non-master keeping them would answer for them. Carry on.
		s.log.Debug("releasing VIPs with a done context", zap.Error(err))
	}
	link, err := netlink.LinkByName(s.cfg.Interface)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			s.log.Info("interface gone, nothing to release")
			return nil
		}
		s.m.releaseErrors.Inc()
		return fmt.Errorf("releasing VIPs: looking up interface %s: %w", s.cfg.Interface, err)
	}
	ifindex := link.Attrs().Index
	present, err := listAddrs(ifindex)
	if err != nil {
		s.m.releaseErrors.Inc()
		return fmt.Errorf("releasing VIPs: listing addresses of %s: %w", s.cfg.Interface, err)
	}
	var errs []error
	for i, p := range s.cfg.VIPs {
		var verr error
		for _, a := range present {
			if a.prefix.Addr() != p.Addr() {
				continue
			}
			if !isOurs(a, s.cfg.Interface, s.tag) {
				s.log.Warn("VIP present without rmqlb's marker, not removing", zap.Stringer("vip", a.prefix), zap.String("label", a.label), zap.Uint8("proto", a.proto))
				continue
			}
			if err := delAddr(ifindex, a.prefix, a.label); err != nil && !isErrno(err, unix.ENOENT, unix.EADDRNOTAVAIL, unix.ESRCH) {
				verr = fmt.Errorf("removing VIP %s: %w", a.prefix, err)
				errs = append(errs, verr)
				continue
			}
			s.log.Info("removed VIP", zap.Stringer("vip", a.prefix))
		}
		s.mu.Lock()
		if verr != nil {
			s.vips[i].lastErr = verr.Error()
		} else {
			s.vips[i].lastErr = ""
		}
		s.mu.Unlock()
	}
	if len(errs) > 0 {
		s.m.releaseErrors.Inc()
	}
	return errors.Join(errs...)
}

// Run sends the scheduled gratuitous ARPs until ctx is done. It does not
// remove the VIPs when it returns (the owner calls Release), but it closes
// the packet socket; a later Acquire opens a new one. Run always returns
// nil; the error result is for use with errgroup-style supervisors.
func (s *VIPSet) Run(ctx context.Context) error {
	err := s.ann.run(ctx)
	s.mu.Lock()
	s.closeSenders()
	s.mu.Unlock()
	return err
}

// Snapshot returns the state of the VIPSet. Presence is read from the
// kernel now; the call does netlink I/O but takes no long-held lock.
func (s *VIPSet) Snapshot() VIPSetSnapshot {
	present := map[netip.Addr]addrInfo{}
	var readErr error
	if link, err := netlink.LinkByName(s.cfg.Interface); err != nil {
		readErr = err
	} else if addrs, err := listAddrs(link.Attrs().Index); err != nil {
		readErr = err
	} else {
		for _, a := range addrs {
			present[a.prefix.Addr()] = a
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := VIPSetSnapshot{
		Interface: s.cfg.Interface,
		Label:     s.label,
		Held:      s.held,
		VIPs:      make([]VIPSnapshot, len(s.vips)),
	}
	if readErr != nil {
		snap.Error = fmt.Sprintf("reading addresses of %s: %v", s.cfg.Interface, readErr)
	}
	for i, v := range s.vips {
		a, ok := present[v.prefix.Addr()]
		snap.VIPs[i] = VIPSnapshot{
			Prefix:    v.prefix,
			Present:   ok,
			Marked:    ok && isOurs(a, s.cfg.Interface, s.tag),
			GARPSent:  v.garpSent,
			LastGARP:  v.lastGARP,
			LastError: v.lastErr,
		}
	}
	return snap
}

// marked reports whether p is present on the link with our marker.
func (s *VIPSet) marked(ifindex int, p netip.Prefix) (bool, error) {
	addrs, err := listAddrs(ifindex)
	if err != nil {
		return false, err
	}
	for _, a := range addrs {
		if a.prefix.Addr() == p.Addr() && isOurs(a, s.cfg.Interface, s.tag) {
			return true, nil
		}
	}
	return false, nil
}

// setAllErr records err on every VIP.
func (s *VIPSet) setAllErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.vips {
		v.lastErr = err.Error()
	}
}

// openSenders opens the sockets for the announcements that are not open
// yet: an AF_PACKET socket for gratuitous ARP when there is an IPv4 VIP and
// the link has an Ethernet address and ARP, an ICMPv6 socket when there is
// an IPv6 VIP. Called with s.mu held.
func (s *VIPSet) openSenders(attrs *netlink.LinkAttrs) error {
	hasV4, hasV6 := false, false
	for _, p := range s.cfg.VIPs {
		hasV4 = hasV4 || p.Addr().Is4()
		hasV6 = hasV6 || p.Addr().Is6()
	}
	var errs []error
	if hasV4 && s.conn == nil {
		c, err := openARP(attrs)
		s.conn = c
		errs = append(errs, err)
	}
	if hasV6 && s.na == nil {
		c, err := openNA(attrs.Index, attrs.Name)
		s.na = c
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// closeSenders closes the announcement sockets. Called with s.mu held.
func (s *VIPSet) closeSenders() {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
	if s.na != nil {
		s.na.Close()
		s.na = nil
	}
}

// openARP opens the send-only packet socket for gratuitous ARP.
func openARP(attrs *netlink.LinkAttrs) (net.PacketConn, error) {
	if len(attrs.HardwareAddr) != 6 {
		return nil, fmt.Errorf("opening ARP socket on %s: no Ethernet address (%q)", attrs.Name, attrs.HardwareAddr)
	}
	if attrs.RawFlags&unix.IFF_NOARP != 0 {
		return nil, fmt.Errorf("opening ARP socket on %s: interface has NOARP", attrs.Name)
	}
	// The socket only sends: a filter that accepts nothing keeps the
	// kernel from queueing every ARP frame of the link for us.
	drop, err := bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: 0}})
	if err != nil {
		return nil, fmt.Errorf("assembling BPF filter: %w", err)
	}
	ifi := &net.Interface{Index: attrs.Index, Name: attrs.Name, HardwareAddr: attrs.HardwareAddr, MTU: attrs.MTU}
	c, err := packet.Listen(ifi, packet.Raw, etherTypeARP, &packet.Config{Filter: drop})
	if err != nil {
		return nil, fmt.Errorf("opening ARP socket on %s: %w", attrs.Name, err)
	}
	return c, nil
}

// announce sends one gratuitous ARP for every IPv4 VIP and one unsolicited
// neighbour advertisement for every IPv6 VIP that was added. It is the
// announcer's callback and runs without the announcer's lock.
func (s *VIPSet) announce(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.held {
		return
	}
	// Opening may have failed at Acquire (e.g. the link was missing):
	// retry, so the refresh recovers once the link is back.
	var openErr error
	if link, err := netlink.LinkByName(s.cfg.Interface); err != nil {
		openErr = fmt.Errorf("looking up interface %s: %w", s.cfg.Interface, err)
	} else {
		s.hw = link.Attrs().HardwareAddr // follows a MAC change (bond failover)
		openErr = s.openSenders(link.Attrs())
	}
	for _, v := range s.vips {
		if !v.added {
			continue
		}
		var err error
		a := v.prefix.Addr()
		switch {
		case a.Is4() && s.conn != nil:
			var frame []byte
			frame, err = GARPFrame(s.hw, a)
			if err == nil {
				_, err = s.conn.WriteTo(frame, &packet.Addr{HardwareAddr: ethernet.Broadcast})
				if err != nil {
					err = fmt.Errorf("sending gratuitous ARP for %s: %w", a, err)
				}
			}
		case a.Is6() && s.na != nil:
			err = s.na.send(s.hw, a)
		default:
			err = openErr
			if err == nil {
				continue // nothing to announce with on this link
			}
		}
		if err != nil {
			v.lastErr = err.Error()
			s.m.garpErrors.Inc()
			s.log.Debug("announcement failed", zap.Error(err))
			continue
		}
		v.garpSent++
		v.lastGARP = now
		v.lastErr = ""
		s.m.garpSent.Inc()
	}
}

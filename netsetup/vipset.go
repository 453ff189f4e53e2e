package netsetup

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/rmqlb/rmqlb/internal/clock"
)

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
	cfg       VIPConfig // defaults applied
	tag       string
	addrProto bool // the kernel keeps IFA_PROTO (Linux >= 6.3)
	log       *zap.Logger
	m         *vipMetrics
	ann       *announcer
	clock     clock.Clock
	// hostInterface names this host's interface with a hardware address,
	// if any (hostInterfaceWith); tests replace it.
	hostInterface func(net.HardwareAddr) (string, bool)
	// subscribe opens the subscription of the VIP watch; tests replace it.
	subscribe func() (nlSub, error)
	// faultKick (cap 1) tells the watch that a fault began (setFault),
	// so that it checks again Recheck later rather than at the backstop.
	faultKick chan struct{}

	opMu sync.Mutex // serialises Acquire and Release

	mu      sync.Mutex // guards the fields below
	held    bool
	ifindex int // of the interface when last acquired or checked
	hw      net.HardwareAddr
	label   string         // IPv4 address label, "" when the name leaves no room
	conn    net.PacketConn // send-only ARP packet socket while held; nil otherwise
	na      *naConn        // send-only ICMPv6 socket while held; nil otherwise
	dad     net.PacketConn // send-only packet socket for DAD probes while held (IPv6 VIPs, Ethernet); nil otherwise
	vips    []*vipState    // in cfg.VIPs order
	recheck time.Duration  // see VIPSetOptions.Recheck and SetRecheck
	// backstop: see VIPSetOptions.Backstop.
	backstop time.Duration
	fault    error     // non-nil while the VIPs cannot be held
	faultAt  time.Time // when fault began
	faults   uint64    // faults since start
	// faultHold is how long the current fault lasts at least (hold-down,
	// see faultHoldDown); repeats counts the faults that began soon
	// after the previous one ended; clearedAt is when the last ended.
	faultHold time.Duration
	repeats   int
	clearedAt time.Time
	report    func(error) // see ReportFaults; nil for none
	// hear4 and hear6 hear other hosts announce the IPv4 and the IPv6
	// VIPs while held (no socket otherwise); hearReport gets them, and
	// the VIPSet's own announcements (see ReportAnnouncements).
	hear4, hear6 hearSlot
	hearReport   func(addr netip.Addr, own bool)
	// quiet: StopAnnouncing was called and neither ResumeAnnouncing nor
	// Release since; announce sends nothing meanwhile.
	quiet bool
}

// vipState is the bookkeeping of one VIP. owned is written with both
// VIPSet.opMu and VIPSet.mu held and may be read with either; the other
// fields are guarded by VIPSet.mu; prefix and marker never change.
type vipState struct {
	prefix netip.Prefix
	marker Marker
	// owned: this VIPSet added the address, or found it carrying our
	// marker, and has not removed it since.
	owned    bool
	readded  uint64 // times added again after it disappeared
	garpSent uint64
	lastGARP time.Time
	// holdErr is the error of the last attempt to add or remove the
	// VIP, or of finding its interface, "" once it is held or removed;
	// announceErr that of the last announcement, "" once one is sent.
	holdErr     string
	announceErr string
	// lastOwnSent is when the last announcement of ours went out, by the
	// system's wall clock (heard compares it with receive timestamps).
	lastOwnSent time.Time
	// Announcements of the VIP by other hosts while held; superseded:
	// received before our own last one.
	peerAnnounced    uint64
	peerSuperseded   uint64
	lastPeerAnnounce time.Time
	lastPeerMAC      string
}

// VIPSetOptions are the collaborators of a VIPSet. Every field is optional.
type VIPSetOptions struct {
	// Logger gets a line for every address added or removed. Nil means no
	// logging.
	Logger *zap.Logger
	// Registerer receives the metrics (rmqlb_vip_*), labelled with the
	// interface and the VIPs; a caller with several VIPSets may wrap it
	// with a label of its own (the daemon adds vrrp_instance). Nil means
	// no metrics.
	Registerer prometheus.Registerer
	// Clock drives the scheduled announcements and the periodic check of
	// the VIPs. Nil means the real clock.
	Clock clock.Clock
	// Recheck is the least time a fault lasts before the VIPSet reports
	// that it could hold the VIPs again (doubled for each fault that
	// begins within 10 minutes of the end of the one before, up to 5
	// minutes), and the period of Run's checks while they cannot be held.
	// Zero means DefaultRecheck (1 s); values below MinRecheck (100 ms)
	// are raised to it. The daemon passes the
	// VRRP advert interval, but at least DefaultRecheck.
	Recheck time.Duration
	// Backstop is the period of Run's backstop check of the VIPs while
	// held and healthy (Run checks them on every netlink address or link
	// event; the backstop puts back a VIP whose event was lost). Zero
	// means DefaultBackstop (10 s); values below Recheck are raised to it.
	Backstop time.Duration
}

// NewVIPSet is NewVIPSetWithOptions with only a logger and a registerer,
// either of which may be nil.
func NewVIPSet(cfg VIPConfig, logger *zap.Logger, reg prometheus.Registerer) (*VIPSet, error) {
	return NewVIPSetWithOptions(cfg, VIPSetOptions{Logger: logger, Registerer: reg})
}

// NewVIPSetWithOptions checks cfg and returns a VIPSet that holds nothing
// yet. It does no network I/O: the interface need not exist before
// Acquire. It logs how the VIPSet will recognise the addresses it adds
// (see Marker), which depends on the kernel and the interface name.
func NewVIPSetWithOptions(cfg VIPConfig, opt VIPSetOptions) (*VIPSet, error) {
	return newVIPSet(cfg, opt, kernelAddrProto())
}

// newVIPSet is NewVIPSetWithOptions for a kernel that keeps IFA_PROTO or
// not; tests force the path of kernels before 6.3.
func newVIPSet(cfg VIPConfig, opt VIPSetOptions, addrProto bool) (*VIPSet, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("validating VIP config: %w", err)
	}
	logger := opt.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	cfg.GARP = cfg.GARP.withDefaults()
	cfg.VIPs = append([]netip.Prefix(nil), cfg.VIPs...)
	s := &VIPSet{
		cfg:           cfg,
		tag:           cfg.tag(),
		addrProto:     addrProto,
		clock:         opt.Clock,
		subscribe:     subscribeAddrs,
		hostInterface: hostInterfaceWith,
		hear4:         hearSlot{kick: make(chan struct{}, 1)},
		hear6:         hearSlot{kick: make(chan struct{}, 1)},
		faultKick:     make(chan struct{}, 1),
	}
	s.recheck = recheckOrDefault(opt.Recheck)
	s.backstop = opt.Backstop
	if s.backstop == 0 {
		s.backstop = DefaultBackstop
	}
	if s.clock == nil {
		s.clock = clock.Real{}
	}
	s.log = logger.With(zap.String("interface", cfg.Interface))
	s.label, _ = addrLabel(cfg.Interface, s.tag)
	for _, p := range cfg.VIPs {
		v := &vipState{prefix: p, marker: markerFor(p, cfg.Interface, s.tag, addrProto)}
		s.vips = append(s.vips, v)
		if v.marker == MarkerBookkeeping {
			s.log.Warn("this kernel keeps no address protocol and the VIP has no label: it is recognised by this daemon's own bookkeeping only, so a copy left by a killed daemon is not cleaned up",
				zap.Stringer("vip", p), zap.String("marker", string(v.marker)))
		} else {
			s.log.Info("VIP marker", zap.Stringer("vip", p), zap.String("marker", string(v.marker)), zap.String("label", s.label))
		}
	}
	m, err := newVIPMetrics(opt.Registerer, cfg.Interface, vipsLabel(cfg.VIPs))
	if err != nil {
		return nil, err
	}
	s.m = m
	s.ann = newAnnouncer(s.clock, cfg.GARP, s.announce)
	return s, nil
}

// vipsLabel is the value of the vips label of the metrics of a VIPSet
// of vips: the prefixes, comma-separated, in the configuration's order.
func vipsLabel(vips []netip.Prefix) string {
	names := make([]string, len(vips))
	for i, p := range vips {
		names[i] = p.String()
	}
	return strings.Join(names, ",")
}

// Acquire adds every VIP to the interface, marked as ours, and starts the
// announcements: the first gratuitous ARP is sent before Acquire returns,
// the rest of the burst and the periodic refresh by Run. A VIP already
// present as ours is fine; if its address is present without our marker,
// somebody else added it: it is left as is and reported (Release will not
// remove it). Acquire tries every VIP and returns all errors joined; the
// VIPSet is held afterwards even when some VIPs failed, so that Release
// removes what was added. If the interface does not exist, nothing is
// added and the VIPSet is not held. Acquire does not use ctx beyond an
// initial check: each netlink call is short.
func (s *VIPSet) Acquire(ctx context.Context) error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("acquiring VIPs on %s: %w", s.cfg.Interface, err)
	}
	link, err := linkByName(s.cfg.Interface)
	if err != nil {
		s.setAllErr(err)
		s.m.inc(vipAcquireErrors)
		err = fmt.Errorf("acquiring VIPs: %w", err)
		s.setFault(err)
		return err
	}
	attrs := link.Attrs()
	err = s.addAll(attrs.Index)
	if err != nil {
		s.setFault(fmt.Errorf("acquiring VIPs: %w", err))
	} else {
		s.clearFault()
	}
	s.mu.Lock()
	s.held = true
	if attrs.Index != s.ifindex {
		s.closeSenders() // sockets of a deleted interface send nothing
		s.ifindex = attrs.Index
	}
	s.hw = attrs.HardwareAddr
	if err := s.openSenders(attrs); err != nil {
		s.log.Warn("cannot send announcements", zap.Error(err))
	}
	s.mu.Unlock()

	s.m.setHeld(1)
	if err != nil {
		s.m.inc(vipAcquireErrors)
	}
	s.ann.start()
	return err
}

// addAll adds every VIP that is not owned yet to the link and records the
// outcome of each; it returns the errors joined. Called with opMu held.
func (s *VIPSet) addAll(ifindex int) error {
	present, err := listAddrs(ifindex)
	if err != nil {
		err = fmt.Errorf("listing addresses of %s: %w", s.cfg.Interface, err)
		s.setAllErr(err)
		return err
	}
	var errs []error
	for _, v := range s.vips {
		err := s.add(ifindex, present, v)
		s.mu.Lock()
		v.holdErr = errText(err)
		s.mu.Unlock()
		if err != nil {
			s.log.Warn("VIP not acquired", zap.Stringer("vip", v.prefix), zap.Error(err))
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// add makes v present on the link and owned, given the addresses present
// on it. Called with opMu held.
func (s *VIPSet) add(ifindex int, present []addrInfo, v *vipState) error {
	for _, a := range present {
		if a.prefix.Addr() != v.prefix.Addr() {
			continue
		}
		if !s.ours(a, v) {
			return fmt.Errorf("adding VIP %s: already present without rmqlb's marker (added by someone else), left alone", v.prefix)
		}
		s.setOwned(v, true)
		return nil
	}
	if err := addAddr(ifindex, v.prefix, s.label, s.addrProto); err != nil {
		// EEXIST here means the address appeared since the dump; the
		// next check looks at it again.
		return fmt.Errorf("adding VIP %s: %w", v.prefix, err)
	}
	s.setOwned(v, true)
	s.log.Info("added VIP", zap.Stringer("vip", v.prefix), zap.String("marker", string(v.marker)), zap.String("label", s.label))
	return nil
}

// ours reports whether the present address a (with v's address) is the
// one this VIPSet owns: by its marker, or, where the kernel and the
// interface name leave no room for one, by the VIPSet's bookkeeping.
// An IPv4 VIP that a rename of the interface and back left with the bare
// interface name as its label (the kernel does that to the first IPv4
// address) is recognised by the bookkeeping too: owned, with v's prefix
// length, and the address protocol this VIPSet sets. Called with opMu
// held.
func (s *VIPSet) ours(a addrInfo, v *vipState) bool {
	if v.marker == MarkerBookkeeping {
		return v.owned && a.prefix == v.prefix
	}
	if isOurs(a, s.cfg.Interface, s.tag) {
		return true
	}
	proto := uint8(0)
	if s.addrProto {
		proto = AddrProto
	}
	return v.owned && a.prefix == v.prefix && a.proto == proto && a.label == s.cfg.Interface
}

// AdoptHeld records the VIPs of owned as added by this VIPSet: the
// process this one succeeds had added them (its instance was MASTER at an
// upgrade or a restart in place). For those that carry no marker
// (MarkerBookkeeping), and for an IPv4 VIP whose label lost its suffix to
// a rename of the interface and back (see ours), nothing else tells them
// from someone else's. This VIPSet then holds them on (Acquire finds them
// its own) and removes them at Release. A configured VIP not in owned
// (new in the configuration, or an address someone else added) stays
// someone else's until this VIPSet adds it. Call it before Acquire and
// Release.
func (s *VIPSet) AdoptHeld(owned []netip.Prefix) {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	for _, v := range s.vips {
		// By address: the prefix length may have changed in the file.
		if slices.ContainsFunc(owned, func(p netip.Prefix) bool { return p.Addr() == v.prefix.Addr() }) {
			s.setOwned(v, true)
		}
	}
}

// setOwned records whether v is owned. Called with opMu held.
func (s *VIPSet) setOwned(v *vipState, owned bool) {
	s.mu.Lock()
	v.owned = owned
	s.mu.Unlock()
}

// Release stops the announcements and removes every configured VIP that is
// ours from the interface: carrying our marker, whether or not this VIPSet
// believes it holds it (so a VIPSet that never acquired still cleans up),
// or, for VIPs that can carry no marker (MarkerBookkeeping), added by this
// VIPSet. Absent addresses (ENOENT, EADDRNOTAVAIL) and a missing interface
// are fine. An interface renamed since the VIPSet last saw it keeps its
// addresses: Release finds it by its index and removes there the VIPs
// this VIPSet owns (see oursRenamed), and logs the rename. Addresses
// somebody else added are left alone.
func (s *VIPSet) Release(ctx context.Context) error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.ann.stop()
	s.ann.resume() // the next Acquire announces
	s.mu.Lock()
	s.held = false
	s.quiet = false
	s.closeSenders()
	s.mu.Unlock()
	s.m.setHeld(0)

	if err := ctx.Err(); err != nil {
		// Removing the VIPs matters more than the caller's deadline: a
		// non-master keeping them would answer for them. Carry on.
		s.log.Debug("releasing VIPs with a done context", zap.Error(err))
	}
	link, err := netlink.LinkByName(s.cfg.Interface)
	renamed := false
	if err != nil {
		if !isLinkGone(err) {
			s.m.inc(vipReleaseErrors)
			return fmt.Errorf("releasing VIPs: looking up interface %s: %w", s.cfg.Interface, err)
		}
		link, err = s.renamedLink()
		if err != nil {
			s.m.inc(vipReleaseErrors)
			return fmt.Errorf("releasing VIPs: %w", err)
		}
		if link == nil {
			// The addresses went with the interface.
			for _, v := range s.vips {
				s.setOwned(v, false)
			}
			s.log.Info("interface gone, nothing to release")
			return nil
		}
		renamed = true
		s.log.Warn("interface renamed while it had the VIPs; removing them from it under its new name",
			zap.String("new_name", link.Attrs().Name), zap.Int("ifindex", link.Attrs().Index))
	}
	present, err := listAddrs(link.Attrs().Index)
	if err != nil {
		s.m.inc(vipReleaseErrors)
		return fmt.Errorf("releasing VIPs: listing addresses of %s: %w", link.Attrs().Name, err)
	}
	var errs []error
	for _, v := range s.vips {
		remove := s.remove
		if renamed {
			remove = s.removeRenamed
		}
		if err := remove(present, v); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		s.m.inc(vipReleaseErrors)
	}
	return errors.Join(errs...)
}

// remove removes v from the interface, given the addresses present on it,
// if it is there as ours, and records the outcome. Called with opMu held.
func (s *VIPSet) remove(present []addrInfo, v *vipState) error {
	return s.removeIf(present, v, func(a addrInfo) bool {
		if a.prefix.Addr() != v.prefix.Addr() {
			return false
		}
		if !s.ours(a, v) {
			s.log.Warn("VIP present without rmqlb's marker, not removing", zap.Stringer("vip", a.prefix), zap.String("label", a.label), zap.Uint8("proto", a.proto))
			return false
		}
		return true
	})
}

// renamedLink returns the link that has the index the VIPSet last knew
// its interface by (see Acquire and followLink), when no link has the
// configured name any more: the interface was renamed (Linux 6.2 and
// later allow it while up), and its addresses stayed with it. It returns
// nil and no error when the index is unknown or no link has it (the
// interface was deleted, and its addresses with it). Called with opMu
// held.
func (s *VIPSet) renamedLink() (netlink.Link, error) {
	s.mu.Lock()
	index := s.ifindex
	s.mu.Unlock()
	if index == 0 {
		return nil, nil
	}
	link, err := netlink.LinkByIndex(index)
	if isLinkGone(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("looking up interface %s by its index %d: %w", s.cfg.Interface, index, err)
	}
	return link, nil
}

// oursRenamed reports whether the present address a, on the interface
// renamed since this VIPSet added v, is v as this VIPSet added it. The
// kernel relabels the IPv4 addresses after the new name (the first bare,
// the others with the old suffix), so the label proves nothing there: a
// must be v, with its prefix length, still owned by this VIPSet, and carry
// AddrProto where the kernel keeps the address protocol. Called with opMu
// held.
func (s *VIPSet) oursRenamed(a addrInfo, v *vipState) bool {
	return v.owned && a.prefix == v.prefix && (!s.addrProto || a.proto == AddrProto)
}

// removeRenamed removes v from the interface renamed since this VIPSet
// added it, given the addresses present on it, if it is there as the
// VIPSet added it (see oursRenamed), and records the outcome. The
// deletion passes no label, so the kernel deletes the address with v's
// address and prefix length, whatever its label: an interface has one at
// most. Called with opMu held.
func (s *VIPSet) removeRenamed(present []addrInfo, v *vipState) error {
	var mine []addrInfo
	for _, a := range present {
		if s.oursRenamed(a, v) {
			a.label = ""
			mine = append(mine, a)
		}
	}
	return s.removeIf(mine, v, func(addrInfo) bool { return true })
}

// removeIf removes the addresses of present for which match holds, as
// removeAddrs does, logs them and records the outcome on v. Called with
// opMu held.
func (s *VIPSet) removeIf(present []addrInfo, v *vipState, match func(addrInfo) bool) error {
	removed, err := removeAddrs(present, match)
	for _, p := range removed {
		s.log.Info("removed VIP", zap.Stringer("vip", p))
	}
	s.mu.Lock()
	v.holdErr = errText(err)
	if err == nil {
		v.owned = false
	}
	s.mu.Unlock()
	return err
}

// Run sends the scheduled gratuitous ARPs and watches the VIPs (see
// VIPSetOptions.Recheck and ReportFaults) until ctx is done. It does not
// remove the VIPs when it returns (the owner calls Release), but it closes
// the packet sockets; a later Acquire opens new ones. Its goroutines also
// hear other hosts announce the VIPs (see ReportAnnouncements). The watch subscribes to netlink in the process's
// network namespace. Run always returns nil; the error result is for use
// with errgroup-style supervisors.
func (s *VIPSet) Run(ctx context.Context) error {
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		s.watchHold(ctx)
	}()
	var heard sync.WaitGroup
	for _, h := range []*hearSlot{&s.hear4, &s.hear6} {
		heard.Go(func() { s.hearLoop(ctx, h) })
	}
	err := s.ann.run(ctx)
	<-watched
	s.mu.Lock()
	s.closeSenders()
	s.mu.Unlock()
	heard.Wait()
	return err
}

// setAllErr records err on every VIP.
func (s *VIPSet) setAllErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.vips {
		v.holdErr = err.Error()
	}
}

// errText returns err's text, "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// isLinkGone reports whether err says the interface does not exist.
func isLinkGone(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || isErrno(err, unix.ENODEV)
}

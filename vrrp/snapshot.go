package vrrp

import (
	"maps"
	"net/netip"
	"time"
)

// Snapshot is a point-in-time copy of an Instance's state for `rmqlb
// status` and metrics. It shares no memory with the Instance.
type Snapshot struct {
	Name      string `json:"name"`
	Interface string `json:"interface"`
	VRID      uint8  `json:"vrid"`
	Version   int    `json:"version"`
	State     State  `json:"state"`
	// ConfiguredPriority is Config.Priority; EffectivePriority adds
	// PriorityAdjust (clamped to 1..254; 255 is never adjusted).
	ConfiguredPriority uint8 `json:"configured_priority"`
	EffectivePriority  uint8 `json:"effective_priority"`
	PriorityAdjust     int   `json:"priority_adjust"`
	// AdvertInterval is ours; MasterAdverInterval the master's (VRRPv3
	// backups adopt it). Durations are nanoseconds in JSON.
	AdvertInterval      time.Duration `json:"advert_interval"`
	MasterAdverInterval time.Duration `json:"master_advert_interval"`
	// MaxAdoptedInterval is the largest MasterAdverInterval a VRRPv3
	// backup adopts (Config.MaxAdoptedInterval with its default applied).
	MaxAdoptedInterval time.Duration `json:"max_adopted_advert_interval"`
	Preempt            bool          `json:"preempt"`
	PreemptDelay       time.Duration `json:"preempt_delay"`
	// Source is the address adverts are sent from; Destinations where to
	// (224.0.0.18 or the unicast peers). Both are empty before Run.
	Source       netip.Addr   `json:"source"`
	Destinations []netip.Addr `json:"destinations"`
	// AllowedPeers are the only sources whose adverts are accepted
	// (Config.AllowedPeers, else Config.UnicastPeers); empty means any.
	AllowedPeers []netip.Addr   `json:"allowed_peers"`
	Checksum     ChecksumMode   `json:"v3_checksum"`
	VIPs         []netip.Prefix `json:"vips"`
	LinkUp       bool           `json:"link_up"`
	// OwnerFault says why the VIPs cannot be held (the Owner reported a
	// fault, see FaultReporter); empty when they can.
	OwnerFault string `json:"owner_fault,omitempty"`
	// Released is set while the instance is released (`rmqlb vrrp
	// release`, Instance.StepDown): its effective priority is 0, it
	// hands the VIPs over when MASTER and takes them only as the last
	// resort. ReleasedSince is when the release began, ReleasedUntil
	// when it ends by itself (zero: at `rmqlb vrrp ready`), and
	// ReleaseReason why.
	Released      bool      `json:"released"`
	ReleasedSince time.Time `json:"released_since,omitzero"`
	ReleasedUntil time.Time `json:"released_until,omitzero"`
	ReleaseReason string    `json:"release_reason,omitempty"`
	// Handover is the last time this router, as MASTER, gave the VIPs to
	// another one (planned or not); nil if never.
	Handover *Handover `json:"handover,omitempty"`
	// Master is the last valid advertisement heard from another router.
	Master *MasterInfo `json:"master,omitempty"`
	// Refused is the last advertisement of this VRID from another router
	// that was dropped; nil if none since the instance was created.
	Refused *RefusedAdvert `json:"refused,omitempty"`
	// Conflict is the last time another host announced a VIP while this
	// router was MASTER and stayed MASTER (see VIPConflict), with the
	// count; nil if never since the instance was created.
	Conflict *VIPConflict `json:"conflict,omitempty"`
	// Differing is the last advertisement of this VRID from another
	// router accepted although its addresses differ from this router's
	// (see DifferingAddrs), with the count; nil if none since the
	// instance was created.
	Differing *DifferingAddrs `json:"differing_addresses,omitempty"`
	// LowerMaster is the last router of lower priority heard advertising
	// as MASTER while this one was MASTER (see LowerMaster), with the
	// count; nil if never since the instance was created.
	LowerMaster *LowerMasterHeard `json:"lower_master,omitempty"`
	// SendFailing is the run of adverts that could not be sent that the
	// instance is in; nil when its last advert went to every
	// destination (or it sent none).
	SendFailing *SendFailure `json:"send_failing,omitempty"`
	// Since is when State was entered; Reason why.
	Since    time.Time `json:"since"`
	Reason   string    `json:"reason"`
	Counters Counters  `json:"counters"`
	// RecentTransitions holds the latest state changes between BACKUP,
	// MASTER and FAULT (at most RecentTransitionsKept), oldest first, with
	// when and why each happened; the start and the stop (from and to
	// INIT) are not among them. Each change moves the VIPs, and a few
	// within minutes is an instance that flaps.
	RecentTransitions []Transition `json:"recent_transitions,omitempty"`
	// RealTime says how the event loop is scheduled when it runs on a
	// thread of its own (Options.RealTimePriority): "SCHED_FIFO
	// priority N", or "normal priority: " and why not. Empty: the loop is
	// an ordinary goroutine.
	RealTime string `json:"realtime,omitempty"`
	// Sender says who sends the periodic adverts of a MASTER when an
	// AdvertSender is set (Options.Sender): its AdvertSender.Describe.
	// Empty: the instance itself, as always without one.
	Sender string `json:"sender,omitempty"`
}

// LowerMasterHeard is a router of lower priority that advertised as
// MASTER while this one was MASTER (a LowerMaster action): it had not
// heard this router's adverts for a master down interval, and both held
// the VIPs until it heard this one's answer. At is when it was last
// heard so (at most once per master down interval), Since when the run
// of them that At ends began (each within two master down intervals of
// the one before): a router that keeps advertising as MASTER does not
// hear this one's answers either. Count counts them since the instance
// was created (also those of other routers).
type LowerMasterHeard struct {
	From     netip.Addr `json:"from"`
	Priority uint8      `json:"priority"`
	At       time.Time  `json:"at"`
	Since    time.Time  `json:"since"`
	Count    uint64     `json:"count"`
}

// RefusedAdvert is an advertisement of the instance's own VRID from
// another router that the instance dropped: its version, authentication,
// interval or addresses differ from this router's, or its source is not an
// allowed peer. Only a MASTER sends advertisements, so that router holds
// (or believes it holds) the VIPs while this one counts it as absent: a
// BACKUP here takes over beside it, and a MASTER here stays one. Both
// routers holding the VIPs is a split brain.
type RefusedAdvert struct {
	From     netip.Addr `json:"from"`
	Priority uint8      `json:"priority"`
	// AdvertInterval is the interval the advertisement carried: the
	// router sends one every interval while it is MASTER.
	AdvertInterval time.Duration `json:"advert_interval"`
	// Reason is why it was dropped (a DropReason).
	Reason string `json:"reason"`
	// At is when the last one was dropped; Count counts them since the
	// instance was created (also those of other routers).
	At    time.Time `json:"at"`
	Count uint64    `json:"count"`
}

// Counters count adverts of one Instance since it was created.
type Counters struct {
	// AdvertsSent counts adverts sent successfully (one per destination).
	AdvertsSent uint64 `json:"adverts_sent"`
	// AdvertsReceived counts every VRRP packet read, dropped ones included.
	AdvertsReceived uint64 `json:"adverts_received"`
	// Dropped counts dropped packets by reason (see DropReason).
	Dropped map[string]uint64 `json:"dropped"`
	// SendErrors counts failed sends.
	SendErrors uint64 `json:"send_errors"`
	// OwnerErrors counts failed or timed-out Owner calls.
	OwnerErrors uint64 `json:"owner_errors"`
	// OwnerFaults counts the faults the Owner reported (it could not
	// hold the VIPs; see FaultReporter).
	OwnerFaults uint64 `json:"owner_faults"`
	// Transitions counts state changes.
	Transitions uint64 `json:"transitions"`
	// IntervalClamped counts VRRPv3 adverts whose interval exceeded
	// Config.MaxAdoptedInterval when it was adopted.
	IntervalClamped uint64 `json:"interval_clamped"`
	// Rebinds counts the times the socket followed the interface after it
	// was deleted and created again (a new interface index).
	Rebinds uint64 `json:"rebinds"`
	// PeerAnnouncements counts the announcements of our VIPs by other
	// hosts that the VIP owner reported (see AnnounceReporter).
	PeerAnnouncements uint64 `json:"peer_announcements"`
	// Handovers counts the handovers that kept the VIPs until the new
	// master announced them or Master_Down_Interval passed (with a VIP
	// owner that reports announcements) and are done.
	Handovers uint64 `json:"handovers"`
	// LinkWatchErrors counts errors of the netlink link subscription
	// (e.g. ENOBUFS after a burst of link events), each followed by a new
	// subscription and a fresh read of the link.
	LinkWatchErrors uint64 `json:"link_watch_errors"`
}

func (c Counters) clone() Counters {
	c.Dropped = maps.Clone(c.Dropped)
	if c.Dropped == nil {
		c.Dropped = map[string]uint64{}
	}
	return c
}

package vrrp

import (
	"bytes"
	"errors"
	"net/netip"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// AdvertSender sends the periodic advertisements of a MASTER on behalf of
// an Instance (Options.Sender): package vrrp/sendproc implements it with a
// small process of its own, which the stalls of a busy daemon (its Go
// scheduler, its garbage collector) do not delay.
//
// Only the periodic adverts go through it. The instance keeps its state
// machine, receives, changes state, holds the VIPs and sends every other
// advert itself: the one on becoming MASTER, the one at once on a change
// of priority or settings, and priority 0 on leaving. It tells the sender
// before it acts: Start when it is MASTER, Update when the adverts change,
// Stop (which waits for the sender to have stopped) before it leaves
// MASTER, so that a MASTER leaving never has the sender advertise on.
// While Sending reports false (the sender is not running, or has not
// taken the schedule yet) the instance sends the periodic adverts itself.
//
// All methods but Describe are called from the instance's event loop, one
// at a time; Sending, Alive and AliveWithin at every wake-up of the loop:
// they must return at once and allocate nothing. Describe is called from
// any goroutine.
// The sender calls the schedule's Report from a goroutine of its own.
type AdvertSender interface {
	// Start makes the sender send s.Packets every s.Interval, the first
	// s.First from now. It returns at once; Sending says when the sender
	// sends them.
	Start(s AdvertSchedule)
	// Update replaces the packets and the interval of a started schedule
	// and returns once the sender uses them (or does not send at all any
	// more). The timing of the next advert stays.
	Update(s AdvertSchedule)
	// Stop makes the sender stop sending and returns once it has: it
	// acknowledged, or it was made to stop otherwise (its process
	// killed). Stopping a stopped sender does nothing.
	Stop()
	// Sending reports whether the sender sends the adverts of the last
	// Start or Update now.
	Sending() bool
	// Alive tells the sender that the instance's event loop runs: a sender
	// stops on its own when it has not been told for a while, so that a
	// hung daemon does not keep its VIPs.
	Alive()
	// AliveWithin is how long the instance's event loop may go without
	// calling Alive while Sending: the loop then wakes that often, not at
	// every periodic advert. Zero: at every periodic advert.
	AliveWithin() time.Duration
	// Check asks the sender to show soon that it still sends: the
	// instance, MASTER, heard a router of lower priority advertise as
	// MASTER, which its adverts would have kept BACKUP (see
	// LowerMaster). A sender that does not show it in time (its
	// process stuck) is taken for stopped, in a later Alive: Sending
	// turns false and Wake is called, so that the instance sends its
	// adverts itself, and the other router gives way, well before a
	// sender silent for longer would be noticed. Until the sender has
	// shown it, Sending may report false: the instance then sends the
	// periodic adverts itself too. It returns at once.
	Check()
	// Describe says how the adverts are sent, for Snapshot.Sender.
	Describe() string
}

// AdvertSchedule is what an AdvertSender sends.
type AdvertSchedule struct {
	// Conn is the instance's send-only raw socket (IPPROTO_RAW, whole
	// IP packets): the sender sends on it and keeps its own reference
	// until Stop.
	Conn syscall.RawConn
	// Packets are the whole IPv4 packets of one advert, one per
	// destination (VRRPv3's checksum depends on it).
	Packets []RawAdvert
	// Interval is the advertisement interval.
	Interval time.Duration
	// First is when the first advert is due, from the call of Start.
	First time.Duration
	// Report receives what the sender sent; nil: nothing is reported.
	Report func(SendReport)
	// Wake, when set, is called when Sending turns false other than by
	// Start or Stop (the sender's process died, or stopped on its own),
	// from any goroutine; it must not block. The instance's loop, which
	// does not wake at every periodic advert while the sender sends,
	// then takes them back at once.
	Wake func()
}

// RawAdvert is one advertisement as it goes on the wire.
type RawAdvert struct {
	// Dst is the IP destination: the multicast group or a unicast peer.
	Dst netip.Addr
	// Packet is the IPv4 packet, header included.
	Packet []byte
}

// SendReport is what an AdvertSender reports of the adverts it sent.
type SendReport struct {
	// Sent and Failed count the packets sent and the sends that failed
	// since the previous report.
	Sent, Failed int
	// Delays are how late some of those adverts were sent after they
	// were due (the sender may report a sample).
	Delays []time.Duration
	// FailedDst and FailedErr are the destination of the last send that
	// failed since the previous report, and why; zero when none failed.
	FailedDst netip.Addr
	FailedErr error
}

// rawSocket is implemented by a Transport whose socket another process
// may send on (IPv4Transport): the instance hands it to its AdvertSender.
type rawSocket interface {
	// sendConn returns the send-only raw socket.
	sendConn() syscall.RawConn
	// appendPacket appends the IP packet that WriteTo would send for
	// payload to dst.
	appendPacket(b, payload []byte, dst netip.Addr) []byte
}

// senderState is what the instance's event loop knows of its
// AdvertSender. Owned by Run's goroutine.
type senderState struct {
	on       bool          // Start was called, Stop not since
	interval time.Duration // of the last Start or Update
	pkts     []RawAdvert   // of the last Start or Update
	scratch  []RawAdvert   // the packets wanted now, compared with pkts
	alive    time.Time     // when the loop last told the sender it is alive
	// sent: the last PeriodicAdvert was left to the sender, and the
	// machine's advert timer was not kept on time meanwhile.
	sent bool
}

// syncSender tells the AdvertSender (if any) what the machine, just
// stepped at now, wants: the periodic adverts of a MASTER with its current
// priority and settings, or none. It runs before the step's actions, so
// that the sender stops before a priority-0 advert and sends the new
// priority before the instance announces it.
func (i *Instance) syncSender(tr Transport, now time.Time) {
	s := i.opt.Sender
	if s == nil {
		return
	}
	rs, ok := tr.(rawSocket)
	i.mu.Lock()
	st, adverAt, prio := i.m.State(), i.m.adverAt, i.m.EffectivePriority()
	i.mu.Unlock()
	want := ok && st == StateMaster && !adverAt.IsZero()
	ss := &i.snd
	if !want {
		if ss.on {
			s.Stop()
			ss.on, ss.sent = false, false
			i.log.Debug("VRRP advert sender stopped")
		}
		return
	}
	ss.scratch = i.encodeRaw(rs, tr.Source().Unmap(), prio, ss.scratch)
	switch {
	case !ss.on:
		ss.pkts, ss.interval, ss.on, ss.alive = cloneRaw(ss.scratch), i.cfg.AdvertInterval, true, time.Time{}
		s.Start(AdvertSchedule{Conn: rs.sendConn(), Packets: ss.pkts, Interval: ss.interval,
			First: max(adverAt.Sub(now), 0), Report: i.senderReport, Wake: i.kick})
		i.log.Debug("VRRP advert sender started", zap.Uint8("priority", prio))
	case ss.interval != i.cfg.AdvertInterval || !sameRaw(ss.pkts, ss.scratch):
		ss.pkts, ss.interval = cloneRaw(ss.scratch), i.cfg.AdvertInterval
		s.Update(AdvertSchedule{Conn: rs.sendConn(), Packets: ss.pkts, Interval: ss.interval, Report: i.senderReport, Wake: i.kick})
		i.log.Debug("VRRP advert sender updated", zap.Uint8("priority", prio))
	}
}

// senderDescription is Snapshot.Sender.
func (i *Instance) senderDescription() string {
	if i.opt.Sender == nil {
		return ""
	}
	return i.opt.Sender.Describe()
}

// stopSender stops the AdvertSender, if started: Run calls it when it
// ends, also when it ends quietly.
func (i *Instance) stopSender() {
	if i.opt.Sender != nil && i.snd.on {
		i.opt.Sender.Stop()
		i.snd.on = false
	}
}

// senderSends reports whether the AdvertSender sends the periodic adverts
// now, and tells it that the event loop runs.
func (i *Instance) senderSends() bool {
	if i.opt.Sender == nil || !i.snd.on {
		return false
	}
	i.snd.alive = i.clock.Now()
	i.opt.Sender.Alive()
	return i.opt.Sender.Sending()
}

// nextWake returns when the event loop must next wake to step the
// machine (false: no timer runs). It is the machine's next deadline,
// except while the advert sender sends a MASTER's periodic adverts: then
// the loop need not step at each of them (the sender sends them; stepping
// a late advert timer restarts it), only for the machine's other timers
// and to say it is alive within AliveWithin. It also returns the
// machine's next deadline itself (NextDeadline), read with it: once that
// has passed, the loop steps the machine. Called from the loop.
func (i *Instance) nextWake() (wake time.Time, wakeOK bool, deadline time.Time, ok bool) {
	i.mu.Lock()
	deadline, ok = i.m.NextDeadline()
	other, otherOK := i.m.nextOtherDeadline()
	master := i.m.State() == StateMaster
	i.mu.Unlock()
	s := i.opt.Sender
	if !ok || !master || s == nil || !i.snd.on || !s.Sending() {
		return deadline, ok, deadline, ok
	}
	// From when the loop last said it is alive, not from now: wake-ups
	// for anything else must not put it off.
	if i.snd.alive.IsZero() {
		return deadline, ok, deadline, ok
	}
	at := i.snd.alive.Add(s.AliveWithin())
	if !at.After(deadline) {
		return deadline, ok, deadline, ok
	}
	if otherOK && other.Before(at) {
		at = other
	}
	return at, true, deadline, ok
}

// senderReport counts what the AdvertSender sent, as send does for the
// adverts the instance sends itself: a report of failed sends continues
// (or begins) a run of them, one of sends alone ends it.
func (i *Instance) senderReport(r SendReport) {
	err := r.FailedErr
	if r.Failed > 0 && err == nil {
		err = errors.New("the advert sender did not say why")
	}
	var first bool
	var ended SendFailure
	i.mu.Lock()
	i.counters.AdvertsSent += uint64(r.Sent)
	i.counters.SendErrors += uint64(r.Failed)
	switch {
	case r.Failed > 0:
		first = i.sendFailed(i.clock.Now(), r.FailedDst, err, uint64(r.Failed))
	case r.Sent > 0:
		ended = i.sendSucceeded()
	}
	i.mu.Unlock()
	if first {
		i.logSendFailed(r.FailedDst, err, "sender process")
	}
	i.logSendsAgain(ended)
	if i.metrics != nil {
		i.metrics.add(r.Sent, r.Failed)
		for _, d := range r.Delays {
			i.metrics.sendDelay(d)
		}
	}
}

// encodeRaw returns in buf (reused) the IP packets of an advert with
// priority prio from src to each destination, as send would send them.
func (i *Instance) encodeRaw(rs rawSocket, src netip.Addr, prio uint8, buf []RawAdvert) []RawAdvert {
	i.fillAdvert(prio)
	n := 0
	for _, dst := range i.dests {
		b, err := i.tx.AppendMarshal(i.txBuf[:0], src, dst, i.cfg.Checksum)
		i.txBuf = b[:0]
		if err != nil {
			continue
		}
		if n < len(buf) {
			buf[n].Dst, buf[n].Packet = dst, rs.appendPacket(buf[n].Packet[:0], b, dst)
		} else {
			buf = append(buf, RawAdvert{Dst: dst, Packet: rs.appendPacket(nil, b, dst)})
		}
		n++
	}
	return buf[:n]
}

func cloneRaw(in []RawAdvert) []RawAdvert {
	out := make([]RawAdvert, len(in))
	for k, p := range in {
		out[k] = RawAdvert{Dst: p.Dst, Packet: bytes.Clone(p.Packet)}
	}
	return out
}

func sameRaw(a, b []RawAdvert) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if a[k].Dst != b[k].Dst || !bytes.Equal(a[k].Packet, b[k].Packet) {
			return false
		}
	}
	return true
}

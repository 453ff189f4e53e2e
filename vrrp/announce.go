package vrrp

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"go.uber.org/zap"
)

// AnnounceReporter is implemented by an Owner that hears other hosts
// announce the addresses it holds (netsetup.VIPSet does: gratuitous ARPs
// and ARP replies for an IPv4 VIP, neighbour advertisements for an IPv6
// one, from another link-layer address). Run calls
// ReportAnnouncements once, before it starts the machine, with a function
// that is safe to call from any goroutine and returns at once; the owner
// calls it with own false for each address another host announced, and
// with own true for each address it announced itself. The calls for one
// address must come in the order of the announcements (on the link, as
// the owner sees it), and the call for an announcement of its own before
// Quieter.StopAnnouncing returns.
//
// With such an Owner a MASTER that gives way to another router (a planned
// release, or a router of higher priority) becomes BACKUP at once but
// keeps the addresses until that router has announced every one of them
// after this host's own last announcement, at most one
// Master_Down_Interval: clients' ARP entries then point at the new master
// before the addresses leave this host, and a client that connects in
// between reaches one of the two. See PeerAnnounced and OwnAnnounced.
type AnnounceReporter interface {
	ReportAnnouncements(report func(addr netip.Addr, own bool))
}

// Quieter is implemented by an Owner that can stop announcing the
// addresses while it still holds them (netsetup.VIPSet stops its
// gratuitous ARPs). A router that gave way to a new master keeps the
// addresses until that master has announced them, and must not announce
// them itself meanwhile: its announcement could take the clients back
// just before it removes the addresses. StopAnnouncing lasts until
// ResumeAnnouncing or Release: also an Acquire under way when it is called
// must not announce as it ends, and an announcement being sent as it is
// called must be reported (AnnounceReporter) before it returns: Run then
// steps the announcements reported so far and AnnouncingStopped, which
// tells whether the new master announced after this host's last one. Run
// calls ResumeAnnouncing before it asks for an Acquire after a
// StopAnnouncing (the router is MASTER again). Both are called from Run's
// goroutine and must return at once (StopAnnouncing may wait for an
// announcement being sent).
type Quieter interface {
	StopAnnouncing()
	ResumeAnnouncing()
}

// announcedBy records that addr was announced, by this host's Owner (own)
// or another host; Run feeds it to the machine. Safe from any goroutine;
// never blocks.
func (i *Instance) announcedBy(addr netip.Addr, own bool) {
	i.mu.Lock()
	if !own {
		i.counters.PeerAnnouncements++
	}
	if i.announced == nil {
		i.announced = make(map[netip.Addr]bool)
	}
	// The last announcement of an address is the one that counts.
	i.announced[addr.Unmap()] = own
	i.mu.Unlock()
	i.kick()
}

// stepAnnounced steps the machine with the announcements reported since
// the last call: for each address, who announced it last; the addresses
// our Owner announced last come first.
func (i *Instance) stepAnnounced(tr Transport, ow *ownerWorker) {
	i.mu.Lock()
	if len(i.announced) == 0 {
		i.mu.Unlock()
		return
	}
	// Ours first: a peer's announcement of one address must not end a
	// handover while our own announcement of another, reported in the
	// same batch, is still to be stepped. The map keeps one event per
	// address, so the order across addresses is free.
	evs := make([]Event, 0, len(i.announced))
	for a, own := range i.announced {
		if own {
			evs = append(evs, OwnAnnounced{Addr: a})
		}
	}
	for a, own := range i.announced {
		if !own {
			evs = append(evs, PeerAnnounced{Addr: a})
		}
	}
	clear(i.announced)
	i.mu.Unlock()
	for _, ev := range evs {
		i.step(tr, ow, ev)
	}
}

// releaseReq is a StepDown or Ready asked for with Instance.StepDown or
// Instance.Ready, applied by Run.
type releaseReq struct {
	release bool // StepDown; false: Ready
	since   time.Time
	until   time.Time
	reason  string
}

// StepDown releases the instance for planned maintenance (`rmqlb vrrp
// release`): until d has passed (d <= 0: until Ready) it is not eligible
// as master. A MASTER advertises priority 0, keeps the VIPs until a
// backup has taken over and announced them, and stays BACKUP; see the
// StepDown event for the whole behaviour, including the last-resort
// takeover. A StepDown while released replaces the period.
//
// It returns a channel that is closed once Run has applied the request
// (or a later one), or once Run has returned. A request made before Run
// is applied before the machine starts. Safe from any goroutine.
func (i *Instance) StepDown(d time.Duration, reason string) <-chan struct{} {
	return i.ResumeRelease(time.Time{}, d, reason)
}

// ResumeRelease carries on a release made before this instance existed,
// by the process an upgrade replaces or by the run before a restart: a
// StepDown for d (d <= 0: until Ready) whose release began at since
// (zero, or a time to come: now), as status and logs show it. Safe from
// any goroutine.
func (i *Instance) ResumeRelease(since time.Time, d time.Duration, reason string) <-chan struct{} {
	r := releaseReq{release: true, since: since, reason: reason}
	if d > 0 {
		r.until = i.clock.Now().Add(d)
	}
	return i.requestRelease(r)
}

// Ready ends a release (`rmqlb vrrp ready`): the instance is eligible
// again with its priority. The channel is closed as StepDown's.
func (i *Instance) Ready() <-chan struct{} { return i.requestRelease(releaseReq{}) }

func (i *Instance) requestRelease(r releaseReq) <-chan struct{} {
	done := make(chan struct{})
	i.mu.Lock()
	if i.ended {
		i.mu.Unlock()
		close(done)
		return done
	}
	i.releaseWant = &r
	i.releaseWaiters = append(i.releaseWaiters, done)
	i.mu.Unlock()
	i.kick()
	return done
}

// applyRelease steps the machine with the pending StepDown or Ready, if
// any, and closes the channels of the requests it answers.
func (i *Instance) applyRelease(tr Transport, ow *ownerWorker) {
	i.mu.Lock()
	r, waiters := i.releaseWant, i.releaseWaiters
	i.releaseWant, i.releaseWaiters = nil, nil
	i.mu.Unlock()
	if r != nil {
		if r.release {
			until := zap.Time("until", r.until)
			if r.until.IsZero() {
				until = zap.String("until", "rmqlb vrrp ready")
			}
			i.log.Info("VRRP instance released", zap.String("reason", r.reason), until)
			i.step(tr, ow, StepDown{Until: r.until, Reason: r.reason, Since: r.since})
		} else {
			i.mu.Lock()
			was, _ := i.m.Released()
			i.mu.Unlock()
			i.log.Info("VRRP instance ready", zap.Bool("was_released", was))
			i.step(tr, ow, Ready{})
		}
	}
	for _, w := range waiters {
		close(w)
	}
}

// endRequests closes the channels of requests Run will never apply: it
// returned.
func (i *Instance) endRequests() {
	i.mu.Lock()
	i.ended = true
	waiters := append(i.releaseWaiters, i.aliveWaiters...)
	i.releaseWant, i.releaseWaiters, i.aliveWaiters = nil, nil, nil
	i.mu.Unlock()
	for _, w := range waiters {
		close(w)
	}
}

// Alive reports whether Run's event loop still turns: it asks the loop
// to answer, as StepDown and Ready do, and waits for the answer until
// ctx is done (then the error says the loop did not answer). The loop
// answers once it has applied what was asked of it before, between two
// adverts or timers, so an answer takes at most one step of the state
// machine (Owner calls do not count: they run on their own goroutine).
// An instance whose Run has not started, or has returned, answers nil
// at once. Safe from any goroutine; the daemon's watchdog calls it.
func (i *Instance) Alive(ctx context.Context) error {
	done := make(chan struct{})
	i.mu.Lock()
	if !i.started || i.ended {
		i.mu.Unlock()
		return nil
	}
	i.aliveWaiters = append(i.aliveWaiters, done)
	i.mu.Unlock()
	i.kick()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("the event loop of VRRP instance %q did not answer: %w", i.cfg.Name, context.Cause(ctx))
	}
}

// answerAlive closes the channels of the Alive requests made so far.
// Run's loop calls it each time it applies the desired state.
func (i *Instance) answerAlive() {
	i.mu.Lock()
	waiters := i.aliveWaiters
	i.aliveWaiters = nil
	i.mu.Unlock()
	for _, w := range waiters {
		close(w)
	}
}

// handedOver logs and counts a finished handover.
func (i *Instance) handedOver(h Handover) {
	i.mu.Lock()
	i.counters.Handovers++
	i.mu.Unlock()
	i.log.Info("VRRP handover done", zap.Stringer("new_master", h.Peer), zap.Bool("planned", h.Planned),
		zap.Bool("announced", h.Announced), zap.Duration("vips_kept_after_advert", h.Done.Sub(h.PeerHeard)),
		zap.String("outcome", h.Outcome))
}

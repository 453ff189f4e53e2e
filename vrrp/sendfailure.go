package vrrp

import (
	"net/netip"
	"time"

	"go.uber.org/zap"
)

// SendFailure is a run of adverts this instance could not send: the
// kernel refused them (no route to a unicast peer, a firewall rule on
// output, a full send buffer). The routers they were for do not hear this
// one, so a BACKUP among them takes over beside a MASTER here: a split
// brain that lasts as long as the run.
type SendFailure struct {
	// Dst is the destination of the last send that failed, and Error why
	// it failed.
	Dst   netip.Addr `json:"dst"`
	Error string     `json:"error"`
	// Since is when the first send of the run failed, At the last;
	// Failed counts the sends of the run that failed (one per
	// destination and advert).
	Since  time.Time `json:"since"`
	At     time.Time `json:"at"`
	Failed uint64    `json:"failed"`
}

// sendFailed records that n sends failed at now, the last to dst with
// err, and reports whether they begin a run (which the caller logs, once
// it released i.mu: a route or a firewall that refuses fails every
// advert). The caller holds i.mu.
func (i *Instance) sendFailed(now time.Time, dst netip.Addr, err error, n uint64) (first bool) {
	f := &i.sendFail
	first = f.Failed == 0
	if first {
		f.Since = now
	}
	f.Dst, f.Error, f.At, f.Failed = dst, err.Error(), now, f.Failed+n
	return first
}

// logSendFailed logs the first failed send of a run, by who sent it.
func (i *Instance) logSendFailed(dst netip.Addr, err error, by string) {
	i.log.Warn("sending VRRP advert failed: the routers it was for do not hear this one until a send succeeds",
		zap.Stringer("dst", dst), zap.Error(err), zap.String("sent_by", by))
}

// sendSucceeded ends a run of failed sends, if in one: an advert went to
// every destination. It returns the run ended (Failed 0: none), for the
// caller to log once it released i.mu. The caller holds i.mu.
func (i *Instance) sendSucceeded() SendFailure {
	f := i.sendFail
	i.sendFail = SendFailure{}
	return f
}

// logSendsAgain logs the end of the run of failed sends f, if any.
func (i *Instance) logSendsAgain(f SendFailure) {
	if f.Failed > 0 {
		i.log.Info("VRRP adverts are sent again", zap.Uint64("failed", f.Failed), zap.Duration("for", f.At.Sub(f.Since)))
	}
}

// sendFailureSnapshot returns the run of failed sends, nil if the last
// advert went to every destination. The caller holds i.mu.
func (i *Instance) sendFailureSnapshot() *SendFailure {
	if i.sendFail.Failed == 0 {
		return nil
	}
	f := i.sendFail
	return &f
}

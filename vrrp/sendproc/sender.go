package sendproc

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/rmqlb/rmqlb/vrrp"
	"github.com/rmqlb/rmqlb/vrrp/sendwire"
)

// LivenessTimeout is how long the sender process sends the adverts of an
// instance whose daemon side it has not heard from: a second, or four
// advertisement intervals if that is longer. The instance's loop wakes to
// say it is alive every third of it (Sender.AliveWithin), so that a hung
// daemon is noticed within a liveness timeout of hanging, and a loop
// woken late by up to about 0.6 of it (the third, and the sixteenth by
// which Alive spaces its messages, taken off) still keeps its adverts
// going. Not more often: each wake-up of the loop, a real-time thread
// that waits in a system call of its own, costs the Go runtime's monitor
// thread dozens of wake-ups. The daemon tells the process at most
// sixteen times per timeout, on a socket pair that the process reads
// when it wakes to send (a liveness message wakes none of its threads).
func LivenessTimeout(interval time.Duration) time.Duration {
	return max(time.Second, 4*interval)
}

// silenceLimit is how long a process that sends an instance's adverts at
// interval may go without reporting them before it is taken for stuck:
// it reports at least once a second while it sends (and with each advert
// at longer intervals), so twice that and half a second of slack.
func silenceLimit(interval time.Duration) time.Duration {
	return 2*max(time.Duration(reportEvery), interval) + 500*time.Millisecond
}

// CheckWithin is how long the process that sends an instance's adverts at
// interval has to answer a Check (Sender.Check) with a report: it reads
// the Check when it wakes for the next advert, at most an interval later,
// and reports at once; twice that and a tenth of a second of slack. At
// 100 ms adverts and more that is less than a backup's
// Master_Down_Interval (3 intervals and its Skew_Time), so that a backup
// that gave way to the master's answer (the advert it sends itself on
// hearing the backup) does not take over again before the master sends
// its adverts itself.
func CheckWithin(interval time.Duration) time.Duration {
	return 2*interval + 100*time.Millisecond
}

// Sender is the vrrp.AdvertSender of one VRRP instance, through its
// Process. Its methods follow vrrp.AdvertSender's rules.
type Sender struct {
	p    *Process
	id   uint16
	name string
	log  *zap.Logger

	sending atomic.Bool
	acks    chan uint32 // sequence numbers acknowledged, for Update and Stop

	// wmu orders this instance's messages on the socket pair as they
	// were decided: Start, Update and Stop hold it from reading the
	// wanted schedule to writing their message (a Stop must never pass
	// the Start it stops). Taken before mu.
	wmu sync.Mutex

	mu       sync.Mutex // guards the fields below
	want     *vrrp.AdvertSchedule
	seq      uint32
	startSeq uint32 // of the Start the process is to acknowledge
	gen      uint64 // the process the schedule was started in; 0: none
	expired  bool   // the process stopped it on its own
	// heard is when the process last acknowledged the Start or reported
	// the instance's adverts: Alive checks that it keeps reporting.
	// heardInterval is the longest advert interval it may still be on
	// since then (an Update keeps the timing of the next advert).
	heard         time.Time
	heardInterval time.Duration
	// answered is the number of the last Check a report answered.
	answered uint32

	// Owned by the instance's event loop (Alive, Check, AliveWithin).
	lastAlive time.Time // the last liveness message sent
	checkAt   time.Time // the pending Check was sent; zero: none pending
	checkSeq  uint32    // the number of the last Check sent (never 0)
	alive     []byte    // the encoded Alive message
	check     []byte    // the encoded Check message, of checkSeq
}

var _ vrrp.AdvertSender = (*Sender)(nil)

// Sender returns the AdvertSender of the VRRP instance name (one per
// instance: a second call with a name returns the first one's).
func (p *Process) Sender(name string) *Sender {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.senders {
		if s.name == name {
			return s
		}
	}
	id := uint16(len(p.senders) + 1)
	s := &Sender{p: p, id: id, name: name, log: p.log.With(zap.String("vrrp_instance", name)), acks: make(chan uint32, 4)}
	s.alive, _ = (&sendwire.Message{Type: sendwire.TypeAlive, Instance: id}).Append(nil)
	s.check, _ = (&sendwire.Message{Type: sendwire.TypeCheck, Instance: id}).Append(nil)
	p.senders = append(p.senders, s)
	return s
}

// Start implements vrrp.AdvertSender.
func (s *Sender) Start(sc vrrp.AdvertSchedule) {
	s.sending.Store(false)
	s.mu.Lock()
	s.want, s.gen, s.expired = &sc, 0, false
	s.heardInterval = max(sc.Interval, sc.First) // until the first report
	s.mu.Unlock()
	s.lastAlive = time.Now()
	if c := s.p.current(); c != nil {
		s.restart(c)
	}
}

// restart sends the wanted schedule (if any) to c as a Start with its
// socket; the process acknowledges it, and then Sending is true.
func (s *Sender) restart(c *child) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	sc := s.want
	if sc == nil || sc.Conn == nil {
		s.mu.Unlock()
		return
	}
	s.seq++
	s.startSeq, s.gen = s.seq, c.gen
	b, err := s.encode(sendwire.TypeStart, sc, sc.First)
	s.mu.Unlock()
	if err != nil {
		s.log.Error("cannot hand the adverts to the sender process", zap.Error(err))
		return
	}
	var werr error
	cerr := sc.Conn.Control(func(fd uintptr) { werr = c.write(b, int(fd)) })
	if err := firstErr(cerr, werr); err != nil {
		s.log.Warn("cannot hand the adverts to the sender process; sending them from the daemon", zap.Error(err))
	}
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// encode encodes a Start or Update of sc. Called with s.mu held.
func (s *Sender) encode(t sendwire.Type, sc *vrrp.AdvertSchedule, first time.Duration) ([]byte, error) {
	m := sendwire.Message{Type: t, Instance: s.id, Seq: s.seq, Interval: sc.Interval, First: first,
		Timeout: LivenessTimeout(sc.Interval)}
	for _, p := range sc.Packets {
		m.Packets = append(m.Packets, sendwire.Packet{Dst: p.Dst, Data: p.Packet})
	}
	return m.Append(nil)
}

// Update implements vrrp.AdvertSender.
func (s *Sender) Update(sc vrrp.AdvertSchedule) {
	s.wmu.Lock()
	s.mu.Lock()
	old := s.want
	if old != nil && sc.Conn == nil {
		sc.Conn = old.Conn
	}
	if old != nil && sc.Report == nil {
		sc.Report = old.Report
	}
	s.want = &sc
	if old != nil {
		// The next advert keeps the old timing: until it is reported,
		// allow for the longer of the two intervals.
		s.heardInterval = max(s.heardInterval, old.Interval, sc.Interval)
	}
	c := s.p.current()
	if c == nil || s.gen != c.gen {
		s.mu.Unlock()
		s.wmu.Unlock()
		return
	}
	s.seq++
	seq := s.seq
	b, err := s.encode(sendwire.TypeUpdate, &sc, 0)
	s.mu.Unlock()
	s.request(c, b, err, seq, "updating the adverts")
}

// request sends b (encoded with error err) to c, releases wmu and waits
// for c's acknowledgement of seq; a process that does not acknowledge is
// killed.
func (s *Sender) request(c *child, b []byte, err error, seq uint32, what string) {
	if err == nil {
		err = c.write(b, -1)
	}
	s.wmu.Unlock()
	if err == nil {
		err = s.waitAck(c, seq)
	}
	if err != nil {
		s.stopProcess(c, what, err)
	}
}

// Stop implements vrrp.AdvertSender: it returns once the process
// acknowledged, or was killed.
func (s *Sender) Stop() {
	s.sending.Store(false)
	s.wmu.Lock()
	s.mu.Lock()
	s.want = nil
	gen := s.gen
	s.gen = 0
	c := s.p.current()
	if c == nil || gen != c.gen {
		s.mu.Unlock()
		s.wmu.Unlock()
		return
	}
	s.seq++
	seq := s.seq
	b, err := (&sendwire.Message{Type: sendwire.TypeStop, Instance: s.id, Seq: seq}).Append(nil)
	s.mu.Unlock()
	s.request(c, b, err, seq, "stopping the adverts")
}

// stopProcess kills c, which did not do what it was asked, so that it
// sends nothing any more; Run starts another one.
func (s *Sender) stopProcess(c *child, what string, err error) {
	s.endProcess(c, "VRRP advert sender process failed "+what+"; killing it", err, s.p.kill)
}

// abandonProcess kills c, which stopped reporting while it lives on,
// without waiting for it to be reaped (Alive runs on the instance's loop,
// which must go on; Run reaps c and starts another). A process that has
// been sent SIGKILL sends nothing more.
func (s *Sender) abandonProcess(c *child, err error) {
	s.endProcess(c, "VRRP advert sender process stopped reporting its adverts; killing it", err, s.p.signalKill)
}

// endProcess logs msg with err, makes Sending false, kills c with kill
// and then wakes the instance to send its adverts itself.
func (s *Sender) endProcess(c *child, msg string, err error, kill func(*child)) {
	s.log.Error(msg, zap.Error(err))
	s.mu.Lock()
	wake := s.stoppedSending()
	s.mu.Unlock()
	kill(c)
	wake()
}

// stoppedSending makes Sending false, other than by Start or Stop, and
// returns what wakes the instance's loop (to be called once s.mu is
// released) so that it sends its adverts itself at once. Called with
// s.mu held.
func (s *Sender) stoppedSending() (wake func()) {
	if s.sending.Swap(false) && s.want != nil && s.want.Wake != nil {
		return s.want.Wake
	}
	return func() {}
}

// waitAck waits for the acknowledgement of seq from c.
func (s *Sender) waitAck(c *child, seq uint32) error {
	t := time.NewTimer(s.p.cfg.AckTimeout)
	defer t.Stop()
	for {
		select {
		case got := <-s.acks:
			if got == seq {
				return nil
			}
		case <-c.exited:
			return nil // it sends nothing any more
		case <-t.C:
			return fmt.Errorf("no acknowledgement within %v", s.p.cfg.AckTimeout)
		}
	}
}

// Sending implements vrrp.AdvertSender: the process sends the adverts,
// and no Check is pending. While one is, the instance sends its adverts
// itself too, so that the other router hears them at every interval even
// if the process is stuck, rather than taking over again and again until
// the Check ends (Master_Down_Interval is shorter than CheckWithin at the
// shortest intervals); the same advert twice is nothing to a backup.
func (s *Sender) Sending() bool { return s.sending.Load() && s.checkAt.IsZero() }

// AliveWithin implements vrrp.AdvertSender: a third of the liveness
// timeout of the started schedule's interval (zero: none started). While
// a Check is pending Sending is false, and the loop wakes at every advert
// (which it sends too) and calls Alive then.
func (s *Sender) AliveWithin() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.want == nil {
		return 0
	}
	return LivenessTimeout(s.want.Interval) / 3
}

// Check implements vrrp.AdvertSender: while the process sends the
// adverts, and no Check is pending, it sends a Check (which says the
// instance is alive too) on the socket pair of liveness messages. The
// process reads it when it wakes for the next advert and reports at once,
// with the Check's number: a report already on its way when the Check was
// sent (the process's own, once a second) is not the answer. Alive,
// which the loop calls at every advert while the Check is pending (Sending
// is false), kills a process whose answer did not come within
// CheckWithin, as one silent for silenceLimit.
func (s *Sender) Check() {
	if !s.checkAt.IsZero() || !s.sending.Load() {
		return
	}
	c := s.p.current()
	if c == nil {
		return
	}
	s.checkSeq++
	if s.checkSeq == 0 {
		s.checkSeq = 1 // 0 is a report of the process's own
	}
	s.check, _ = (&sendwire.Message{Type: sendwire.TypeCheck, Instance: s.id, Seq: s.checkSeq}).Append(s.check[:0])
	now := time.Now()
	s.checkAt, s.lastAlive = now, now
	c.writeAlive(s.check)
}

// Alive implements vrrp.AdvertSender: it tells the process at most
// sixteen times per liveness timeout, on the socket pair of liveness
// messages, and hands the adverts to it again if it stopped them on its
// own.
//
// It also checks that the process still reports the adverts it sends:
// one that stopped running without dying (frozen by SIGSTOP or a cgroup,
// stuck) would otherwise leave a MASTER silent while it keeps its VIPs,
// and the peers taking over beside it. Past silenceLimit without a report
// it is killed, or sooner, past CheckWithin of a Check without one: the
// instance sends its adverts itself at once, and the next process takes
// them back.
func (s *Sender) Alive() {
	now := time.Now()
	// Sending first: the acknowledgement sets heard before Sending, so
	// a Sending seen true comes with its heard.
	sending := s.sending.Load()
	s.mu.Lock()
	sc, expired, heard, heardInterval, answered := s.want, s.expired, s.heard, s.heardInterval, s.answered
	s.mu.Unlock()
	var stuck error
	switch {
	case sc == nil || !sending:
		s.checkAt = time.Time{}
	case now.Sub(heard) > silenceLimit(max(sc.Interval, heardInterval)):
		stuck = fmt.Errorf("nothing heard from it for %v", now.Sub(heard).Round(time.Millisecond))
	case s.checkAt.IsZero():
	case answered == s.checkSeq:
		s.checkAt = time.Time{}
	case now.Sub(s.checkAt) >= CheckWithin(max(sc.Interval, heardInterval)):
		stuck = fmt.Errorf("no report within %v of being asked for one, after another router advertised as MASTER (nothing heard from it for %v)",
			now.Sub(s.checkAt).Round(time.Millisecond), now.Sub(heard).Round(time.Millisecond))
	}
	if stuck != nil {
		s.checkAt = time.Time{}
		// Messages waiting unread mean the process is alive and the
		// daemon's reader is late (a starved daemon whose loop runs at
		// a real-time priority): not the process's fault.
		if c := s.p.current(); c != nil && !c.unread() {
			s.abandonProcess(c, stuck)
		}
		return
	}
	if sc == nil || now.Sub(s.lastAlive) < LivenessTimeout(sc.Interval)/16 {
		return
	}
	s.lastAlive = now
	c := s.p.current()
	if c == nil {
		return
	}
	if expired {
		s.mu.Lock()
		s.expired = false
		s.want.First = sc.Interval
		s.mu.Unlock()
		s.restart(c)
		return
	}
	c.writeAlive(s.alive)
}

// handle handles a message of process c for this instance (from the
// process's read loop).
func (s *Sender) handle(c *child, m *sendwire.Message) {
	switch m.Type {
	case sendwire.TypeAck:
		s.mu.Lock()
		started := s.want != nil && s.gen == c.gen && m.Seq == s.startSeq
		if started {
			s.heard = time.Now() // heardInterval stays until a report
		}
		s.mu.Unlock()
		if started {
			s.sending.Store(true)
			return
		}
		select {
		case s.acks <- m.Seq:
		default:
		}
	case sendwire.TypeReport:
		s.mu.Lock()
		s.heard = time.Now()
		if m.Seq != 0 {
			s.answered = m.Seq
		}
		if s.want != nil {
			s.heardInterval = s.want.Interval
		}
		var report func(vrrp.SendReport)
		if s.want != nil {
			report = s.want.Report
		}
		wake := func() {}
		if m.Expired && s.gen == c.gen {
			s.expired = true
			wake = s.stoppedSending()
		}
		s.mu.Unlock()
		wake()
		if m.Expired {
			s.log.Warn("VRRP advert sender stopped on its own: the daemon did not say the instance is alive in time")
		}
		if report != nil {
			r := vrrp.SendReport{Sent: int(m.Sent), Failed: int(m.Failed), Delays: m.Delays, FailedDst: m.FailedTo}
			if m.Errno != 0 {
				r.FailedErr = fmt.Errorf("sending VRRP advert to %v: %w", m.FailedTo, unix.Errno(m.Errno))
			}
			report(r)
		}
	}
}

// lost: process c ended; the instance sends its adverts itself until the
// next one takes them.
func (s *Sender) lost(c *child) {
	s.mu.Lock()
	wake := func() {}
	if s.gen == c.gen {
		s.gen = 0
		wake = s.stoppedSending()
	}
	s.mu.Unlock()
	wake()
}

// Describe implements vrrp.AdvertSender.
func (s *Sender) Describe() string {
	p := s.p
	p.mu.Lock()
	running, sched, restarts, lastErr := p.cur != nil, p.sched, p.restarts, p.lastErr
	p.mu.Unlock()
	s.mu.Lock()
	want, expired := s.want != nil, s.expired
	s.mu.Unlock()
	r := ""
	if restarts > 0 {
		r = fmt.Sprintf("; %d restarts, last: %s", restarts, lastErr)
	}
	switch {
	case !running:
		return "inline: the sender process is not running" + r
	case !want:
		return "process, idle (" + sched + ")" + r
	case expired:
		return "inline: the sender process stopped the adverts (the daemon was not heard from in time)" + r
	case s.sending.Load():
		return "process (" + sched + ")" + r
	default:
		return "inline until the sender process takes the adverts" + r
	}
}

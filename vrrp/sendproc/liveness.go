package sendproc

import (
	"github.com/rmqlb/rmqlb/internal/rawio"
	"github.com/rmqlb/rmqlb/vrrp/sendwire"
)

// readAlive reads every liveness message waiting, without blocking, and
// counts each instance it names heard from now. Called with s.mu held,
// from the timer's goroutine, at each of its wake-ups.
//
// The daemon says that an instance's event loop runs (Sender.Alive) on a
// socket pair of its own, which the sender process does not wait for: a
// liveness message wakes no thread of the process. A message counts when
// it is read, at most one advert interval after it was sent: the
// granularity at which run looks at the liveness timeout anyway (at the
// adverts). A Check counts as an Alive and makes the run that follows
// report the instance, with the Check's number (Sender.Check). A message that is neither is
// dropped: the daemon sends nothing else there.
func (s *server) readAlive(now int64) {
	for {
		r, err := rawio.Read(s.alive, s.aliveBuf)
		if err != nil || r == 0 { // EAGAIN: all read; 0: the daemon closed it (ctrl says so too)
			return
		}
		if sendwire.Decode(s.aliveBuf[:r], &s.aliveMsg) != nil {
			continue
		}
		switch s.aliveMsg.Type {
		case sendwire.TypeAlive:
			s.sched.alive(now, s.aliveMsg.Instance)
		case sendwire.TypeCheck:
			s.sched.check(now, s.aliveMsg.Instance, s.aliveMsg.Seq)
		}
	}
}

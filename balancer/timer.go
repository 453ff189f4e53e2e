package balancer

import "time"

// timerHeap is a loop's min-heap of sessions by deadline. A session is in it
// at most once (connect timeout while connecting, idle timeout after);
// session.tidx is its index or -1. Owned by one loop.
type timerHeap []*session

func (h *timerHeap) less(i, j int) bool { return (*h)[i].deadline < (*h)[j].deadline }

func (h *timerHeap) swap(i, j int) {
	a := *h
	a[i], a[j] = a[j], a[i]
	a[i].tidx = int32(i)
	a[j].tidx = int32(j)
}

func (h *timerHeap) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		j = i
	}
}

func (h *timerHeap) down(i int) {
	n := len(*h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		j := l
		if r := l + 1; r < n && h.less(r, l) {
			j = r
		}
		if !h.less(j, i) {
			return
		}
		h.swap(i, j)
		i = j
	}
}

// set schedules s at d, a time of the loop (moving it if already
// scheduled).
func (h *timerHeap) set(s *session, d time.Duration) {
	s.deadline = d
	if i := int(s.tidx); i >= 0 {
		h.up(i)
		h.down(i)
		return
	}
	s.tidx = int32(len(*h))
	*h = append(*h, s)
	h.up(int(s.tidx))
}

// stop unschedules s if scheduled.
func (h *timerHeap) stop(s *session) {
	i := int(s.tidx)
	if i < 0 {
		return
	}
	last := len(*h) - 1
	if i != last {
		h.swap(i, last)
	}
	(*h)[last] = nil
	*h = (*h)[:last]
	s.tidx = -1
	if i != last {
		h.up(i)
		h.down(i)
	}
}

// peek returns the session with the earliest deadline, or nil.
func (h *timerHeap) peek() *session {
	if len(*h) == 0 {
		return nil
	}
	return (*h)[0]
}

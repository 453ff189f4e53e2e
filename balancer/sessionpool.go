package balancer

import "unsafe"

// sessionPool holds a loop's sessions in chunks of about poolChunkBytes,
// allocated as the loop's number of sessions grows and kept for reuse: a
// session costs no allocation of its own (and no garbage when it ends),
// and an idle session costs its struct's size, not the size class of the
// allocator above it. A session's index in the pool is its epoll data, so
// an event finds its session without a table by fd.
//
// The pool keeps the chunks of the loop's largest number of sessions at
// once. It is owned by the loop's goroutine.
type sessionPool struct {
	chunks [][]session
	free   *session // free sessions, linked through next
}

// poolChunkBytes is the size of a chunk: a whole number of the
// allocator's 8 KiB pages, so that a chunk wastes less than a session.
const (
	poolChunkBytes = 64 << 10
	poolChunkLen   = poolChunkBytes / int(unsafe.Sizeof(session{}))
)

// get returns a zeroed session with its idx set.
func (p *sessionPool) get() *session {
	if p.free == nil {
		base := uint32(len(p.chunks) * poolChunkLen)
		c := make([]session, poolChunkLen)
		p.chunks = append(p.chunks, c)
		for i := len(c) - 1; i >= 0; i-- {
			c[i].idx = base + uint32(i)
			c[i].next = p.free
			p.free = &c[i]
		}
	}
	s := p.free
	p.free = s.next
	s.next = nil
	return s
}

// put zeroes s (dropping what it points to) and makes it free.
func (p *sessionPool) put(s *session) {
	idx := s.idx
	*s = session{idx: idx, tidx: -1}
	s.next = p.free
	p.free = s
}

// at returns the session with index idx (free or not), nil if there is
// none.
func (p *sessionPool) at(idx uint32) *session {
	c := int(idx) / poolChunkLen
	if c >= len(p.chunks) {
		return nil
	}
	return &p.chunks[c][int(idx)%poolChunkLen]
}

package balancer

// pool is the set of backends of a listener and the cursor state of its
// policy. It is not safe for concurrent use: Listener.mu guards it.
type pool struct {
	policy     Policy
	allBackups bool // Config.AllBackups
	// steer picks by least connections whatever the policy
	// (Listener.Steer).
	steer    bool
	backends []*backend
	next     int // round robin cursor (roundrobin, leastconn ties)
}

// pick chooses a backend for a new connection by the pool's policy among
// the usable backends that skip does not reject (skip may be nil): an
// active one, else a backup (Config.AllBackups), else, by the policy, one
// whose broker was found at its connection limit (lastResort). It returns
// nil if none is usable; full is then true if some backend was rejected
// only because it is at its maxconn.
func (p *pool) pick(skip func(*backend) bool) (b *backend, full bool) {
	ok := usableBy(skip)
	b = p.byPolicy(func(b *backend) bool { return !b.backup && ok(b) })
	if b == nil {
		b = p.pickBackup(ok)
	}
	if b == nil {
		b = p.byPolicy(func(b *backend) bool { return b.lastResort() && (skip == nil || !skip(b)) })
	}
	if b == nil {
		for _, c := range p.backends {
			if c.full() && (skip == nil || !skip(c)) {
				full = true
			}
		}
	}
	return b, full
}

// usableBy returns whether a backend is usable and not rejected by skip
// (nil rejects none): the candidates of pick and eligible.
func usableBy(skip func(*backend) bool) func(*backend) bool {
	return func(b *backend) bool { return b.usable() && (skip == nil || !skip(b)) }
}

// byPolicy picks among the backends ok accepts by the pool's policy.
func (p *pool) byPolicy(ok func(*backend) bool) *backend {
	if p.steer {
		return p.pickLeastConn(ok)
	}
	switch p.policy {
	case PolicyWRR:
		return p.pickWRR(ok)
	case PolicyLeastConn:
		return p.pickLeastConn(ok)
	default:
		return p.pickRR(ok)
	}
}

// pickBackup picks among the backup backends ok accepts: by the policy
// with allBackups, else the first in order.
func (p *pool) pickBackup(ok func(*backend) bool) *backend {
	if p.allBackups {
		return p.byPolicy(func(b *backend) bool { return b.backup && ok(b) })
	}
	for _, b := range p.backends {
		if b.backup && ok(b) {
			return b
		}
	}
	return nil
}

// eligible reports whether b, which a client is pinned to, may take its
// new connection, skip rejecting none of it (skip may be nil): b is
// usable and, if a backup, one that pick could choose now (no active
// backend is usable, and without allBackups b is the first usable
// backup). A client pinned to a backup while the active backends were
// down thus goes back to them once they can take it.
func (p *pool) eligible(b *backend, skip func(*backend) bool) bool {
	ok := usableBy(skip)
	if !ok(b) {
		return false
	}
	if !b.backup {
		return true
	}
	for _, c := range p.backends {
		if !c.backup && ok(c) {
			return false
		}
	}
	return p.allBackups || p.pickBackup(ok) == b
}

// pickRR hands connections to the usable backends in turn. While one of
// them is in slow start (a share below 100 %), it picks by smooth wrr over
// the shares instead, weights ignored as in turn: a broker coming back gets
// its connections gradually, then its turn like the others.
func (p *pool) pickRR(ok func(*backend) bool) *backend {
	for _, b := range p.backends {
		if b.percent < 100 && ok(b) {
			return p.pickSmooth(ok, func(b *backend) int64 { return int64(b.percent) })
		}
	}
	n := len(p.backends)
	for i := 0; i < n; i++ {
		j := (p.next + i) % n
		if b := p.backends[j]; ok(b) {
			p.next = (j + 1) % n
			return b
		}
	}
	return nil
}

// pickWRR is nginx's smooth weighted round robin over the scaled weights.
func (p *pool) pickWRR(ok func(*backend) bool) *backend {
	return p.pickSmooth(ok, (*backend).scaledWeight)
}

// pickSmooth is nginx's smooth weighted round robin by weight: every
// eligible backend's current weight grows by its weight, the largest wins
// and loses the total.
func (p *pool) pickSmooth(ok func(*backend) bool, weight func(*backend) int64) *backend {
	var best *backend
	var total int64
	for _, b := range p.backends {
		if !ok(b) {
			continue
		}
		w := weight(b)
		b.cw += w
		total += w
		if best == nil || b.cw > best.cw {
			best = b
		}
	}
	if best != nil {
		best.cw -= total
	}
	return best
}

// pickLeastConn picks the lowest active/scaledWeight, comparing by cross
// multiplication in int64 (sessions times at most MaxWeight*100); ties go
// to the first one at or after the cursor.
func (p *pool) pickLeastConn(ok func(*backend) bool) *backend {
	n := len(p.backends)
	var best *backend
	bestIdx := 0
	for i := 0; i < n; i++ {
		j := (p.next + i) % n
		b := p.backends[j]
		if !ok(b) {
			continue
		}
		if best == nil || int64(b.active)*best.scaledWeight() < int64(best.active)*b.scaledWeight() {
			best, bestIdx = b, j
		}
	}
	if best != nil {
		p.next = (bestIdx + 1) % n
	}
	return best
}

// restart starts the policy's sequence over: round robin cursor and
// smooth wrr current weights. It is for a change of the backends or of
// their weights, as nginx starts over when its configuration is loaded;
// a change of a backend's state is not one (nginx does not start over
// when a peer goes down): restarting at every such change would give the
// first backends more than their share, the more so as AMQP clients
// connect seldom.
func (p *pool) restart() {
	p.next = 0
	for _, b := range p.backends {
		b.cw = 0
	}
}

// member is a backend of a pool with its weight in effect and its role.
type member struct {
	b      *backend
	weight int
	backup bool
}

// members lists the pool's backends, in order, with their weights: two
// lists are equal when the policy's sequence can go on from one to the
// other.
func (p *pool) members() []member {
	ms := make([]member, len(p.backends))
	for i, b := range p.backends {
		ms[i] = member{b, b.weight, b.backup}
	}
	return ms
}

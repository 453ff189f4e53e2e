package balancer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	rbackend "github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/internal/metricstest"
)

// TestChaosAccounting runs many clients of random behaviours against
// servers of random behaviours while an operator changes states, weights
// and the configuration at random, and then checks that the listener
// holds nothing more than it did before: no active count (listener,
// backend, persistence entry), no session, pipe, buffer or fd; that every
// byte of every exchange arrived whole and in order; that every session
// was logged as ended exactly once; and that every backend still takes
// its full maxconn.
//
// Each round's seed is logged; -chaos.seed (or CHAOS_SEED) replays one,
// -chaos.rounds (CHAOS_ROUNDS) and -chaos.clients (CHAOS_CLIENTS) make a
// longer run.
var (
	chaosSeed    = flag.Uint64("chaos.seed", 0, "seed of the first chaos round (0: from the time)")
	chaosRounds  = flag.Int("chaos.rounds", 0, "chaos rounds (0: 1, or CHAOS_ROUNDS)")
	chaosClients = flag.Int("chaos.clients", 0, "clients per chaos round (0: 200, or CHAOS_CLIENTS)")
)

// chaosSetting is a flag's value, else the environment's, else def.
func chaosSetting[T uint64 | int](flagged T, env string, def T) T {
	if flagged != 0 {
		return flagged
	}
	if v, err := strconv.ParseUint(os.Getenv(env), 10, 64); err == nil && v != 0 {
		return T(v)
	}
	return def
}

func TestChaosAccounting(t *testing.T) {
	seed := chaosSetting(*chaosSeed, "CHAOS_SEED", uint64(time.Now().UnixNano()))
	rounds := chaosSetting(*chaosRounds, "CHAOS_ROUNDS", 1)
	clients := chaosSetting(*chaosClients, "CHAOS_CLIENTS", 200)
	total := 0
	for i := range rounds {
		s := seed + uint64(i)
		ok := t.Run(fmt.Sprintf("seed=%d", s), func(t *testing.T) {
			t.Logf("chaos seed %d (replay with -chaos.seed=%d)", s, s)
			total += runChaos(t, s, clients)
		})
		if !ok {
			break
		}
	}
	t.Logf("%d rounds, %d clients", rounds, total)
}

// Operations of the chaos servers, in the first byte of the header each
// client sends (chaosHeaderLen bytes: the operation, then two big-endian
// uint32 arguments n and m). opClean on it asks the server not to
// misbehave on its own.
const (
	opEcho      byte = iota + 1 // echo until EOF, then half-close and drain
	opEchoClose                 // echo n bytes, then close
	opEchoReset                 // echo n bytes, then reset
	opStall                     // read nothing for n ms, then close
	opPush                      // send n bytes of pushed(m, i), then half-close and drain
)

const (
	opClean        byte = 0x80
	chaosHeaderLen int  = 9
)

// pushed is byte i of the stream opPush sends with argument m.
func pushed(m uint32, i int) byte { return byte(uint32(i)*31 + uint32(i>>9) + m) }

// chaosServers handles the backends' connections: the client's header
// says what to do; a client that did not ask for a clean exchange may
// meet, in misbehave percent of its connections, a server that closes,
// resets or stalls instead.
type chaosServers struct {
	seed      uint64
	misbehave int
	conns     atomic.Uint64
}

func (cs *chaosServers) handle(c net.Conn) {
	rng := rand.New(rand.NewPCG(cs.seed, cs.conns.Add(1)))
	tc := c.(*net.TCPConn)
	var h [chaosHeaderLen]byte
	if _, err := io.ReadFull(c, h[:]); err != nil {
		return
	}
	op, clean := h[0]&^opClean, h[0]&opClean != 0
	n, m := binary.BigEndian.Uint32(h[1:5]), binary.BigEndian.Uint32(h[5:9])
	if !clean && rng.IntN(100) < cs.misbehave {
		switch rng.IntN(3) {
		case 0:
			return // close at once
		case 1:
			tc.SetLinger(0)
			return
		default:
			op, n = opStall, uint32(rng.IntN(800))
		}
	}
	switch op {
	case opEcho:
		echoUpTo(c, -1)
		tc.CloseWrite()
		drain(c)
	case opEchoClose:
		echoUpTo(c, int64(n))
	case opEchoReset:
		echoUpTo(c, int64(n))
		tc.SetLinger(0)
	case opStall:
		time.Sleep(time.Duration(n) * time.Millisecond)
	case opPush:
		buf := make([]byte, 32<<10)
		for off := 0; off < int(n); {
			k := min(len(buf), int(n)-off)
			for i := range k {
				buf[i] = pushed(m, off+i)
			}
			if _, err := c.Write(buf[:k]); err != nil {
				return
			}
			off += k
		}
		tc.CloseWrite()
		drain(c)
	}
}

// echoUpTo copies what c reads back to it, at most limit bytes (< 0: up
// to EOF). Plain reads and writes: no splice by Go, whose pipes are closed
// by finalizers and would blur the fd counts.
func echoUpTo(c net.Conn, limit int64) {
	buf := make([]byte, 32<<10)
	for limit != 0 {
		k := len(buf)
		if limit > 0 && int64(k) > limit {
			k = int(limit)
		}
		n, err := c.Read(buf[:k])
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
			if limit > 0 {
				limit -= int64(n)
			}
		}
		if err != nil {
			return
		}
	}
}

// drain reads c to its end.
func drain(c net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}

// Behaviours of the chaos clients.
type chaosKind int

const (
	kindEcho        chaosKind = iota // clean round trips, then half-close and EOF
	kindHalfClose                    // clean: all of a payload, half-close, read the echo to EOF
	kindReset                        // sends part of a payload, then resets
	kindCloseNow                     // connects and closes (or resets) at once
	kindSilent                       // connects, never sends, closes later
	kindSlowReader                   // stops reading while the server pushes
	kindServerChaos                  // asks the server to close, reset or stall
	kindCount
)

var kindNames = [...]string{"echo", "half-close", "reset", "close-now", "silent", "slow-reader", "server-chaos"}

func (k chaosKind) clean() bool { return k == kindEcho || k == kindHalfClose }

// chaosOutcome is what one client saw.
type chaosOutcome struct {
	kind     chaosKind
	local    string // the client's address as the listener logs it
	complete bool   // a clean exchange that went to its end
	err      error  // what cut a clean exchange short
}

// endLines counts the listener's "session ended" lines, by client and in
// all.
type endLines struct {
	mu       sync.Mutex
	byClient map[string][]string // client address -> reasons
	n        int
	byReason map[string]int
}

func (e *endLines) Enabled(zapcore.Level) bool { return true }
func (e *endLines) With([]zapcore.Field) zapcore.Core {
	return e
}
func (e *endLines) Check(en zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if en.Message == "session ended" {
		return ce.AddCore(en, e)
	}
	return ce
}
func (e *endLines) Write(_ zapcore.Entry, fs []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fs {
		f.AddTo(enc)
	}
	client, _ := enc.Fields["client"].(string)
	reason, _ := enc.Fields["reason"].(string)
	e.mu.Lock()
	e.byClient[client] = append(e.byClient[client], reason)
	e.byReason[reason]++
	e.n++
	e.mu.Unlock()
	return nil
}
func (e *endLines) Sync() error { return nil }

// chaosBackend is a backend of a chaos round with its server (nil for the
// addresses that refuse or never answer).
type chaosBackend struct {
	cfg BackendConfig
	srv *testServer
}

// runChaos runs one round for seed with n clients and returns n.
func runChaos(t *testing.T, seed uint64, n int) int {
	rng := rand.New(rand.NewPCG(seed, 1))
	servers := &chaosServers{seed: seed, misbehave: rng.IntN(15)}

	// Two or three live backends, and perhaps one that refuses and one
	// that never answers.
	var bes []chaosBackend
	for i, ip := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.5"} {
		if i == 2 && rng.IntN(2) == 0 {
			continue
		}
		srv := newServer(t, ip, servers.handle)
		bes = append(bes, chaosBackend{cfg: BackendConfig{Name: "live" + strconv.Itoa(i), Address: srv.addr, Weight: 1 + rng.IntN(3)}, srv: srv})
	}
	if rng.IntN(3) > 0 {
		bes = append(bes, chaosBackend{cfg: BackendConfig{Name: "refuses", Address: unusedAddr(t, "127.0.0.6"), Weight: 1}})
	}
	if rng.IntN(3) > 0 {
		bes = append(bes, chaosBackend{cfg: BackendConfig{Name: "hangs", Address: blackhole(t), Weight: 1}})
	}
	// Some maxconn; the first live backend has 2 in half the rounds, so
	// that a slot lost shows in the final check.
	for i := range bes {
		if rng.IntN(3) == 0 {
			bes[i].cfg.MaxConn = 2 + rng.IntN(8)
		}
	}
	if rng.IntN(2) == 0 {
		bes[0].cfg.MaxConn = 2
	}
	fdsBefore := countFds(t)
	all := make([]BackendConfig, len(bes))
	for i, b := range bes {
		all[i] = b.cfg
	}
	cfg := baseConfig(all)
	cfg.Policy = []Policy{PolicyRoundRobin, PolicyWRR, PolicyLeastConn}[rng.IntN(3)]
	cfg.Retries = 1 + rng.IntN(3)
	cfg.ConnectTimeout = 300 * time.Millisecond
	cfg.FinTimeout = 3 * time.Second
	cfg.ShutdownSessionsOnDown = rng.IntN(2) == 0
	cfg.LogSessions = true
	if rng.IntN(3) == 0 {
		// silent clients meet the handshake or the idle timeout; clean
		// ones must not, also when a loaded machine (CI runs every
		// package at once, under -race) holds a client back for a second
		cfg.HandshakeTimeout = time.Duration(2500+rng.IntN(1000)) * time.Millisecond
		cfg.IdleTimeout = time.Duration(5000+rng.IntN(3000)) * time.Millisecond
	}
	if rng.IntN(2) == 0 {
		cfg.PersistenceTimeout = time.Minute
		cfg.PersistenceNetmask = 32
		if rng.IntN(3) == 0 {
			cfg.PersistenceMaxClients = 1 + rng.IntN(4)
		}
	}
	if rng.IntN(3) == 0 {
		// the clients come from 8 addresses, up to 50 at once
		cfg.MaxConnPerClient = 3 + rng.IntN(4)
	}
	t.Logf("backends %+v; policy %s, retries %d, shutdown on down %v, persistence %v (max %d), maxconn per client %d, handshake %v, idle %v, server misbehaviour %d%%",
		all, cfg.Policy, cfg.Retries, cfg.ShutdownSessionsOnDown, cfg.PersistenceTimeout, cfg.PersistenceMaxClients,
		cfg.MaxConnPerClient, cfg.HandshakeTimeout, cfg.IdleTimeout, servers.misbehave)

	lines := &endLines{byClient: map[string][]string{}, byReason: map[string]int{}}
	reg := prometheus.NewPedanticRegistry()
	r := startListener(t, cfg, 2, func(l *Listener) {
		l.log = zap.New(lines).With(zap.String("listener", cfg.Name))
		reg.MustRegister(newCollector(l))
	})
	fdsRunning := countFds(t)

	// The clients, at most 50 at once, and the operator meanwhile.
	stop := make(chan struct{})
	var opWG sync.WaitGroup
	seen := map[*backend]bool{}
	opWG.Go(func() { chaosOperator(t, r.Listener, cfg, rand.New(rand.NewPCG(seed, 2)), stop, seen) })
	outcomes := make([]chaosOutcome, n)
	sem := make(chan struct{}, 50)
	var wg sync.WaitGroup
	var dials atomic.Int64
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			crng := rand.New(rand.NewPCG(seed, uint64(i)+100))
			outcomes[i] = chaosClient(t, r.Addr(), crng, &dials)
		})
	}
	wg.Wait()
	close(stop)
	opWG.Wait()

	// The operator leaves every backend configured, Up, at its weight;
	// chaosServes connects from one address.
	cfg.MaxConnPerClient = 0
	if err := r.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	for _, b := range all {
		r.SetBackendState(b.Name, rbackend.Up, "chaos over")
		r.ResetBackendWeight(b.Name)
		r.SetBackendWeightPercent(b.Name, 100)
	}

	checkChaosIdle(t, r, fdsRunning, len(bes), seen)

	// Every clean exchange either went to its end or was cut by the
	// operator, the listener's limits or the backends' failures: never
	// by the proxy itself.
	lines.mu.Lock()
	kinds := make([]int, kindCount)
	complete, cut := 0, 0
	for _, o := range outcomes {
		kinds[o.kind]++
		if !o.kind.clean() {
			continue
		}
		if o.complete {
			complete++
			continue
		}
		cut++
		if !slices.ContainsFunc(lines.byClient[o.local], operatorEnd) {
			t.Errorf("clean %s client %s cut short (%v); its session ended for %v", kindNames[o.kind], o.local, o.err, lines.byClient[o.local])
		}
	}
	// Every accepted client was logged once: sessions opened equals
	// sessions closed.
	if int64(lines.n) != dials.Load() {
		t.Errorf("%d session end lines for %d clients", lines.n, dials.Load())
	}
	t.Logf("clients by kind %v; clean exchanges: %d complete, %d cut by the operator or the backends; session ends %v",
		kinds, complete, cut, lines.byReason)
	lines.mu.Unlock()

	s := r.Snapshot()
	// Total counts the sessions: not the clients refused before one.
	if s.Total != uint64(dials.Load())-s.RefusedPerClient {
		t.Errorf("Total %d, want %d clients less %d refused for maxconn_per_client", s.Total, dials.Load(), s.RefusedPerClient)
	}
	mfs := metricstest.Gather(t, reg)
	ll := map[string]string{"listener": cfg.Name}
	if v := metricstest.Value(t, mfs, "rmqlb_listener_active_connections", ll); v != 0 {
		t.Errorf("rmqlb_listener_active_connections = %v, want 0", v)
	}
	if v := metricstest.Value(t, mfs, "rmqlb_listener_connections_total", ll); v != float64(s.Total) {
		t.Errorf("rmqlb_listener_connections_total = %v, want %d", v, s.Total)
	}
	lines.mu.Lock()
	refusedClient := lines.byReason[EndRefusedClient.String()]
	lines.mu.Unlock()
	if v, rl := metricstest.Value(t, mfs, "rmqlb_listener_refused_connections_total", withListener(map[string]string{"reason": "maxconn_per_client"}, cfg.Name)), s.RefusedPerClient; v != float64(refusedClient) || rl != uint64(refusedClient) {
		t.Errorf("refused for maxconn_per_client: metric %v, snapshot %d; want the %d session end lines", v, rl, refusedClient)
	}
	for _, b := range all {
		bl := map[string]string{"listener": cfg.Name, "backend": b.Name}
		if v := metricstest.Value(t, mfs, "rmqlb_backend_active_connections", bl); v != 0 {
			t.Errorf("rmqlb_backend_active_connections{backend=%q} = %v, want 0", b.Name, v)
		}
	}

	chaosServes(t, r, bes)
	checkChaosIdle(t, r, fdsRunning, len(bes), seen)

	r.stop(t)
	eventually(t, 10*time.Second, "fds back to their count before the listener", func() bool { return countFds(t) <= fdsBefore })
	return n
}

// operatorEnd reports whether a session ended for a reason that may cut a
// clean exchange short: the operator's, the listener's limits, the
// backends' failure to connect.
func operatorEnd(reason string) bool {
	switch reason {
	case EndBackendDown.String(), EndBackendRemoved.String(), EndShutdown.String(), EndVIPLeft.String(),
		EndConnectFailed.String(), EndNoBackend.String(), EndRefused.String(), EndRefusedClient.String():
		return true
	}
	return false
}

// chaosClient runs one client of a random behaviour against addr.
func chaosClient(t *testing.T, addr netip.AddrPort, rng *rand.Rand, dials *atomic.Int64) chaosOutcome {
	kind := chaosKind(rng.IntN(int(kindCount)))
	o := chaosOutcome{kind: kind}
	// Payloads are made before the dial, so that a client sends its
	// first bytes at once (the handshake timeout is on in some rounds).
	payloads := make([][]byte, 3)
	for i := range payloads {
		payloads[i] = payload(rng)
	}
	d := net.Dialer{Timeout: 10 * time.Second,
		LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(1+rng.IntN(8)))}}
	nc, err := d.Dial("tcp", addr.String())
	if errors.Is(err, syscall.ECONNRESET) {
		// Accepted and reset (CloseSessionsTo) before the dial returned.
		dials.Add(1)
		o.kind = kindCloseNow
		return o
	}
	if err != nil {
		t.Errorf("dialling the listener: %v", err)
		return o
	}
	dials.Add(1)
	c := nc.(*net.TCPConn)
	defer c.Close()
	o.local = c.LocalAddr().String()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	header := func(op byte, n, m uint32) []byte {
		h := make([]byte, chaosHeaderLen)
		h[0] = op
		binary.BigEndian.PutUint32(h[1:5], n)
		binary.BigEndian.PutUint32(h[5:9], m)
		return h
	}
	fail := func(what string, err error) {
		t.Errorf("%s client %s: %s: %v", kindNames[kind], o.local, what, err)
	}

	switch kind {
	case kindEcho:
		if err := chaosExchange(c, header(opEcho|opClean, 0, 0), nil); err != nil {
			return o.cut(err, fail)
		}
		for _, p := range payloads[:1+rng.IntN(3)] {
			if err := chaosExchange(c, p, p); err != nil {
				return o.cut(err, fail)
			}
		}
		c.CloseWrite()
		if extra, err := io.ReadAll(c); err != nil || len(extra) > 0 {
			return o.cut(fmt.Errorf("after the last echo: %d more bytes, %w", len(extra), errOr(err)), fail)
		}
		o.complete = true
	case kindHalfClose:
		p := payloads[0]
		if _, err := c.Write(header(opEcho|opClean, 0, 0)); err != nil {
			return o.cut(err, fail)
		}
		werr := make(chan error, 1)
		go func() {
			_, err := c.Write(p)
			if err == nil {
				err = c.CloseWrite()
			}
			werr <- err
		}()
		got, err := io.ReadAll(c)
		if !bytes.Equal(got, p[:min(len(got), len(p))]) || len(got) > len(p) {
			fail("echo", fmt.Errorf("%d bytes back, not a prefix of the %d sent", len(got), len(p)))
		}
		if err == nil && len(got) < len(p) {
			err = fmt.Errorf("EOF after %d of %d bytes: %w", len(got), len(p), io.ErrUnexpectedEOF)
		}
		if err != nil {
			c.Close()
			<-werr
			return o.cut(err, fail)
		}
		if err := <-werr; err != nil {
			return o.cut(err, fail)
		}
		o.complete = true
	case kindReset, kindServerChaos:
		op := opEcho
		if kind == kindServerChaos {
			op = []byte{opEchoClose, opEchoReset, opStall}[rng.IntN(3)]
		}
		p := payloads[0]
		sent := p
		if kind == kindReset {
			sent = p[:rng.IntN(len(p)+1)]
		}
		arg := uint32(rng.IntN(len(p) + 1))
		if op == opStall {
			arg = uint32(rng.IntN(1000))
		}
		c.Write(header(op, arg, 0))
		done := make(chan []byte, 1)
		go func() {
			got, _ := io.ReadAll(c)
			done <- got
		}()
		c.Write(sent)
		if kind == kindReset {
			time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
			c.SetLinger(0)
			c.Close()
		} else {
			c.CloseWrite()
		}
		got := <-done
		if len(got) > len(sent) || !bytes.Equal(got, sent[:len(got)]) {
			fail("echo", fmt.Errorf("%d bytes back, not a prefix of the %d sent", len(got), len(sent)))
		}
	case kindCloseNow:
		if rng.IntN(2) == 0 {
			c.SetLinger(0)
		}
	case kindSilent:
		time.Sleep(time.Duration(rng.IntN(1500)) * time.Millisecond)
		if rng.IntN(2) == 0 {
			c.SetLinger(0)
		}
	case kindSlowReader:
		m := rng.Uint32()
		if _, err := c.Write(header(opPush, 4<<20, m)); err != nil {
			return o
		}
		want := rng.IntN(256 << 10)
		buf := make([]byte, 16<<10)
		for got := 0; got < want; {
			k, err := c.Read(buf[:min(len(buf), want-got)])
			for i := range k {
				if buf[i] != pushed(m, got+i) {
					fail("pushed stream", fmt.Errorf("byte %d is %d, want %d", got+i, buf[i], pushed(m, got+i)))
					return o
				}
			}
			got += k
			if err != nil {
				break
			}
		}
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		if rng.IntN(2) == 0 {
			c.SetLinger(0)
		}
	}
	return o
}

// cut records that a clean exchange ended early for err; a timeout is a
// stuck session, a failure of its own.
func (o chaosOutcome) cut(err error, fail func(string, error)) chaosOutcome {
	if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
		fail("stuck", err)
	}
	o.err = err
	return o
}

// payload returns random bytes: a few, some KiB, or enough for splice.
func payload(rng *rand.Rand) []byte {
	var n int
	switch rng.IntN(3) {
	case 0:
		n = 1 + rng.IntN(2000)
	case 1:
		n = 1 + rng.IntN(64<<10)
	default:
		n = 64<<10 + rng.IntN(320<<10)
	}
	p := make([]byte, n+7)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(p[i:], rng.Uint64())
	}
	return p[:n]
}

// chaosExchange writes out and, while it does, reads len(want) bytes, which
// must be want; a short read must be a prefix of it.
func chaosExchange(c *net.TCPConn, out, want []byte) error {
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(out)
		werr <- err
	}()
	got := make([]byte, len(want))
	k, err := io.ReadFull(c, got)
	if !bytes.Equal(got[:k], want[:k]) {
		return fmt.Errorf("%w: %d bytes back differ from those sent", errCorrupt, k)
	}
	if err != nil {
		c.Close() // unblocks the writer
		<-werr
		return fmt.Errorf("%d of %d bytes back: %w", k, len(want), err)
	}
	return <-werr
}

var errCorrupt = errors.New("corrupt echo")

// chaosOperator changes the listener at random until stop is closed. After
// each change it checks the persistence table: no client is pinned to a
// backend that is not configured, or is DOWN or MAINT. It adds every
// backend the listener has had to seen.
func chaosOperator(t *testing.T, l *Listener, cfg Config, rng *rand.Rand, stop <-chan struct{}, seen map[*backend]bool) {
	names := make([]string, len(cfg.Backends))
	for i, b := range cfg.Backends {
		names[i] = b.Name
	}
	present := slices.Clone(cfg.Backends)
	states := []rbackend.State{rbackend.Up, rbackend.Up, rbackend.Up, rbackend.Up, rbackend.Degraded, rbackend.Down, rbackend.Maint, rbackend.Drain}
	ok := func(what string, err error) {
		if err != nil && !errors.Is(err, ErrUnknownBackend) {
			t.Errorf("%s: %v", what, err)
		}
	}
	pinned := false // a bad pin was reported
	for {
		l.mu.Lock()
		for _, b := range l.pool.backends {
			seen[b] = true
		}
		if l.sticky != nil && !pinned {
			for k, e := range l.sticky.m {
				if b := e.be; b != nil && (!slices.Contains(l.pool.backends, b) || b.removed || b.state.Removed()) {
					t.Errorf("client %v pinned to backend %s, removed %v, %v", k, b.name, b.removed, b.state)
					pinned = true
				}
			}
		}
		l.mu.Unlock()
		select {
		case <-stop:
			return
		case <-time.After(time.Duration(2+rng.IntN(40)) * time.Millisecond):
		}
		name := names[rng.IntN(len(names))]
		if len(present) < len(names) && rng.IntN(2) == 0 {
			// mostly a removed backend is added back soon
			for _, b := range cfg.Backends {
				if !slices.ContainsFunc(present, func(p BackendConfig) bool { return p.Name == b.Name }) {
					name = b.Name
				}
			}
		}
		switch x := rng.IntN(100); {
		case x < 35:
			ok("SetBackendState", l.SetBackendState(name, states[rng.IntN(len(states))], "chaos"))
		case x < 45:
			_, err := l.ShutdownSessions(name)
			ok("ShutdownSessions", err)
		case x < 55:
			ok("SetBackendWeight", l.SetBackendWeight(name, rng.IntN(4)))
		case x < 60:
			ok("ResetBackendWeight", l.ResetBackendWeight(name))
		case x < 65:
			ok("SetBackendWeightPercent", l.SetBackendWeightPercent(name, 1+rng.IntN(100)))
		case x < 85:
			// Remove a backend, or add one back, with its sessions kept
			// or shut, perhaps with other settings.
			next := cfg
			if i := slices.IndexFunc(present, func(b BackendConfig) bool { return b.Name == name }); i >= 0 && len(present) > 1 {
				present = slices.Delete(slices.Clone(present), i, i+1)
			} else if i < 0 {
				present = append(slices.Clone(present), cfg.Backends[slices.Index(names, name)])
			}
			next.Backends = present
			next.ShutdownSessionsOnDown = rng.IntN(2) == 0
			if rng.IntN(4) == 0 {
				next.Policy = []Policy{PolicyRoundRobin, PolicyWRR, PolicyLeastConn}[rng.IntN(3)]
			}
			if rng.IntN(6) == 0 {
				// persistence changed or turned off: the table is replaced
				next.PersistenceTimeout = time.Duration(rng.IntN(2)) * time.Minute
				next.PersistenceNetmask = 24 + 8*rng.IntN(2)
			}
			ok("Apply", l.Apply(next))
		case x < 88:
			l.CloseSessionsTo([]netip.Addr{netip.MustParseAddr("127.0.0.1")})
		case x < 90:
			l.CloseSessionsTo([]netip.Addr{netip.MustParseAddr("127.0.0.9")})
		default:
			// the operator puts everything back
			for _, n := range names {
				ok("SetBackendState", l.SetBackendState(n, rbackend.Up, "chaos"))
			}
			present = slices.Clone(cfg.Backends)
			ok("Apply", l.Apply(cfg))
		}
	}
}

// checkChaosIdle waits until the listener holds no session and checks
// that it holds nothing for one: active counts (of every backend in seen
// too, configured or not), persistence references,
// pins to backends it no longer has, loop state, pipes and buffers, fds
// beyond fdsRunning and the loops' idle pipes.
func checkChaosIdle(t *testing.T, r *runningListener, fdsRunning, nBackends int, seen map[*backend]bool) {
	t.Helper()
	eventually(t, 30*time.Second, "every session to end", func() bool {
		s := r.Snapshot()
		if s.Active != 0 {
			return false
		}
		for _, b := range s.Backends {
			if b.Active != 0 {
				return false
			}
		}
		return true
	})
	s := r.Snapshot()
	if s.Clients != 0 || len(s.BusiestClients) != 0 {
		t.Errorf("no session left, yet %d client addresses counted: %v", s.Clients, s.BusiestClients)
	}
	if len(s.Backends) != nBackends {
		t.Errorf("%d backends, want %d", len(s.Backends), nBackends)
	}
	r.mu.Lock()
	for b := range seen {
		if b.active != 0 {
			t.Errorf("backend %s (removed %v) still counts %d sessions", b.name, b.removed, b.active)
		}
	}
	for _, b := range r.kept {
		if b.active != 0 {
			t.Errorf("removed backend %s still counts %d sessions", b.name, b.active)
		}
	}
	if r.sticky != nil {
		idle := 0
		for e := r.sticky.idle.head; e != nil; e = e.next {
			idle++
		}
		if idle != len(r.sticky.m) {
			t.Errorf("persistence: %d entries, %d of them on the idle list", len(r.sticky.m), idle)
		}
		for k, e := range r.sticky.m {
			if e.conns != 0 {
				t.Errorf("persistence entry %v counts %d sessions, want 0", k, e.conns)
			}
			if e.be != nil && !slices.Contains(r.pool.backends, e.be) {
				t.Errorf("persistence entry %v pins backend %s, which is not configured (removed %v)", k, e.be.name, e.be.removed)
			}
		}
	}
	r.mu.Unlock()
	if held := heldBuffers(r); held != 0 {
		t.Errorf("%d pipes or buffers held", held)
	}
	var mu sync.Mutex
	idlePipes, problems := 0, []string(nil)
	r.mu.Lock()
	loops := r.loops
	r.mu.Unlock()
	r.broadcast(loops, func(lp *loop) {
		mu.Lock()
		defer mu.Unlock()
		idlePipes += len(lp.pipes.free)
		if lp.nsess != 0 || lp.head != nil || len(lp.timers) != 0 || len(lp.ready) != 0 {
			problems = append(problems, fmt.Sprintf("loop with %d sessions (head %v), %d timers, %d ready",
				lp.nsess, lp.head != nil, len(lp.timers), len(lp.ready)))
		}
	})
	for _, p := range problems {
		t.Error(p)
	}
	eventually(t, 30*time.Second, "fds back to the running listener's count and its idle pipes", func() bool {
		return countFds(t) <= fdsRunning+2*idlePipes
	})
}

// chaosServes checks that each live backend still takes new sessions, as
// many as its maxconn: the others are drained meanwhile.
func chaosServes(t *testing.T, r *runningListener, bes []chaosBackend) {
	t.Helper()
	for _, b := range bes {
		if b.srv == nil {
			continue
		}
		for _, o := range bes {
			if o.cfg.Name != b.cfg.Name {
				r.SetBackendState(o.cfg.Name, rbackend.Drain, "serving check")
			}
		}
		n := max(b.cfg.MaxConn, 1)
		before := b.srv.accepts.Load()
		var conns []*net.TCPConn
		for i := range n {
			c := r.dial(t)
			conns = append(conns, c)
			msg := fmt.Appendf(nil, "client %d of %s", i, b.cfg.Name)
			if _, err := c.Write(cleanEcho()); err != nil {
				t.Fatal(err)
			}
			got, err := roundTrip(c, msg)
			if err != nil || !bytes.Equal(got, msg) {
				t.Errorf("session %d of %d to %s: %q, %v", i+1, n, b.cfg.Name, got, err)
			}
		}
		if got := b.srv.accepts.Load() - before; got != int64(n) {
			t.Errorf("%s accepted %d sessions, want %d", b.cfg.Name, got, n)
		}
		if b.cfg.MaxConn > 0 {
			// One more is refused: the slots are all taken, and no other
			// backend serves.
			c := r.dial(t)
			if err := waitClosed(c, 10*time.Second); err != nil {
				t.Errorf("%s over its maxconn %d: %v", b.cfg.Name, b.cfg.MaxConn, err)
			}
			c.Close()
		}
		for _, c := range conns {
			c.Close()
		}
		for _, o := range bes {
			r.SetBackendState(o.cfg.Name, rbackend.Up, "serving check over")
		}
	}
}

// cleanEcho is the header that asks a chaos server for a clean echo.
func cleanEcho() []byte {
	h := make([]byte, chaosHeaderLen)
	h[0] = opEcho | opClean
	return h
}

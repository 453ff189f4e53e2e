package integration

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/integration/netlab"
)

// churnRounds is the number of reloads of TestReloadChurnGivesBackResources:
// every variant of churnVariants about three times.
const churnRounds = 50

// churnBackend is a backend of a churn listener; check, when set, is its
// own check (YAML flow mapping).
type churnBackend struct {
	name, addr string
	weight     int
	check      string
}

// churnListener is a listener of a churn configuration.
type churnListener struct {
	name, bind, policy string
	persistence        string // persistence_timeout, "" for off
	check              string // YAML flow mapping
	backends           []churnBackend
}

func (l churnListener) yaml() string {
	var b strings.Builder
	fmt.Fprintf(&b, "  - name: %s\n    bind: %s\n    policy: %s\n    graceful_timeout: 1s\n    check: %s\n", l.name, l.bind, l.policy, l.check)
	if l.persistence != "" {
		fmt.Fprintf(&b, "    persistence_timeout: %s\n", l.persistence)
	}
	b.WriteString("    backends:\n")
	for _, be := range l.backends {
		fmt.Fprintf(&b, "      - {name: %s, address: %s", be.name, be.addr)
		if be.weight != 0 {
			fmt.Fprintf(&b, ", weight: %d", be.weight)
		}
		if be.check != "" {
			fmt.Fprintf(&b, ", check: %s", be.check)
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// churnConf is one configuration of the churn: what the file says, and
// what the daemon runs once it is applied.
type churnConf struct {
	name      string
	global    string // daemon keys besides metrics_listen
	vrrp      []vrrpConf
	listeners []churnListener
	// invalid: the file does not validate and is refused as a whole;
	// refused: one change of it is refused (the others are applied).
	invalid, refused bool
	// badListener is left out of what runs when refused: the listener
	// that cannot start. faultInstance runs in FAULT (its interface does
	// not exist), not MASTER.
	badListener, faultInstance string
	// altSocket: the control socket moves to its other path (and back
	// with the next file); altMetrics: the metrics endpoint moves to
	// its other port.
	altSocket, altMetrics bool
	logLevel              string // default info
	// restart: a change that only a restart applies (listed as
	// needing one, the instance runs on as it was).
	restart bool
}

// metricsAt is where c serves its metrics: port 9187 of h1, or 9188.
func (c churnConf) metricsAt(h1 *netlab.Host) netip.AddrPort {
	if c.altMetrics {
		return h1.AddrPort(9188)
	}
	return h1.AddrPort(9187)
}

func (c churnConf) daemonConf(h1 *netlab.Host) daemonConf {
	metrics := c.metricsAt(h1)
	var ls strings.Builder
	for _, l := range c.listeners {
		ls.WriteString(l.yaml())
	}
	g := "metrics_listen: " + metrics.String() + "\n" + c.global
	listeners := ls.String()
	if c.invalid {
		// An unknown policy: the file does not load.
		listeners = strings.Replace(listeners, "policy: roundrobin", "policy: fastest", 1)
	}
	return daemonConf{LogLevel: cmp.Or(c.logLevel, "info"), Global: g, VRRP: c.vrrp, Listeners: listeners}
}

// runs returns the VRRP instances and backends (by name) that run once c
// is applied.
func (c churnConf) runs() (instances, backends []string) {
	for _, v := range c.vrrp {
		instances = append(instances, cmp.Or(v.Name, "vip"))
	}
	for _, l := range c.listeners {
		if c.badListener != "" && l.name == c.badListener {
			continue
		}
		for _, b := range l.backends {
			backends = append(backends, b.name)
		}
	}
	return instances, backends
}

// churnVariants returns the baseline configuration of the churn and its
// variants, each a kind of change from the one before it: backends added
// and removed, weights, checks, policies and persistence changed, a
// second listener added, moved and removed, a second VIP and a second VRRP
// instance, the advert interval and priority, the advert sender inline and
// back, every VRRP instance removed and added again, a file refused as a
// whole, an instance whose interface does not exist (added, in FAULT) and
// a change refused in part (a listener whose port is taken).
func churnVariants(h1, h2, h3 *netlab.Host) (base churnConf, variants []churnConf) {
	tcp := "{type: tcp, interval: 200ms, timeout: 200ms, rise: 1, fall: 2}"
	at := func(h *netlab.Host, port uint16) string { return h.AddrPort(port).String() }
	a := churnBackend{name: "a", addr: at(h2, 7003)}
	b := churnBackend{name: "b", addr: at(h3, 7003)}
	bc := churnBackend{name: "c", addr: at(h2, 7004)}
	amqp := churnListener{name: "amqp", bind: vipAP.String(), policy: "roundrobin", check: tcp, backends: []churnBackend{a, b}}
	second := churnListener{name: "second", bind: netip.AddrPortFrom(vip, 5673).String(), policy: "leastconn", check: tcp,
		backends: []churnBackend{{name: "d", addr: at(h3, 7005)}, {name: "e", addr: at(h2, 7005)}}}
	vrrp := vrrpConf{Priority: 150}
	base = churnConf{name: "baseline", vrrp: []vrrpConf{vrrp}, listeners: []churnListener{amqp}}

	with := func(name string, f func(c *churnConf)) churnConf {
		c := churnConf{name: name, vrrp: []vrrpConf{vrrp}, listeners: []churnListener{amqp}}
		c.listeners[0].backends = slices.Clone(amqp.backends)
		f(&c)
		return c
	}
	vip2 := netip.MustParsePrefix("10.77.0.101/24")
	vip3 := netip.MustParsePrefix("10.77.0.102/24")
	instanceW := vrrpConf{Name: "w", VRID: 2, Priority: 150, VIPs: []netip.Prefix{vip3}}
	variants = []churnConf{
		with("backend added", func(c *churnConf) { c.listeners[0].backends = append(c.listeners[0].backends, bc) }),
		with("backend removed", func(c *churnConf) { c.listeners[0].backends = c.listeners[0].backends[:1] }),
		with("weight, check and policy", func(c *churnConf) {
			c.listeners[0].policy = "wrr"
			c.listeners[0].backends[0].weight = 5
			c.listeners[0].backends[1].check = "{type: tcp, interval: 300ms, timeout: 250ms, rise: 2, fall: 3}"
		}),
		with("second listener", func(c *churnConf) { c.listeners = append(c.listeners, second) }),
		with("leastconn and persistence", func(c *churnConf) {
			c.listeners[0].policy = "leastconn"
			c.listeners[0].persistence = "30s"
		}),
		with("second VIP", func(c *churnConf) { c.vrrp[0].VIPs = []netip.Prefix{vipPfx, vip2} }),
		with("second instance", func(c *churnConf) { c.vrrp = append(c.vrrp, instanceW) }),
		with("advert interval and priority", func(c *churnConf) {
			c.vrrp[0].Advert = 200 * time.Millisecond
			c.vrrp[0].Priority = 140
		}),
		with("refused as a whole", func(c *churnConf) { c.invalid = true }),
		with("second listener moved", func(c *churnConf) {
			s := second
			s.bind = netip.AddrPortFrom(vip, 5675).String()
			c.listeners = append(c.listeners, s)
		}),
		with("instance waiting for its interface", func(c *churnConf) {
			c.vrrp = append(c.vrrp, vrrpConf{Name: "bad", VRID: 3, Priority: 150, Interface: "nosuch0", VIPs: []netip.Prefix{vip3}})
			c.faultInstance = "bad"
		}),
		with("listener refused", func(c *churnConf) {
			c.listeners = append(c.listeners, churnListener{name: "taken", bind: at(h1, 7999), policy: "roundrobin", check: tcp,
				backends: []churnBackend{{name: "t", addr: at(h3, 7003)}}})
			c.refused, c.badListener = true, "taken"
		}),
		with("check none", func(c *churnConf) { c.listeners[0].backends[1].check = "{type: none}" }),
		with("advert sender inline", func(c *churnConf) { c.global = "vrrp_sender: inline\n" }),
		with("real-time priority", func(c *churnConf) { c.global = "vrrp_rt_priority: 10\n" }),
		with("control socket moved, group and log level", func(c *churnConf) {
			c.altSocket = true
			c.global = "control_group: daemon\n"
			c.logLevel = "warn"
		}),
		with("metrics moved", func(c *churnConf) { c.altMetrics = true }),
		with("needs a restart", func(c *churnConf) {
			c.vrrp[0].VRID = 9
			c.restart = true
		}),
		with("no VRRP", func(c *churnConf) { c.vrrp = nil }),
		with("everything", func(c *churnConf) {
			c.listeners[0].policy = "wrr"
			c.listeners[0].persistence = "10s"
			c.listeners[0].backends[0].weight = 3
			c.listeners[0].backends = append(c.listeners[0].backends, bc)
			c.listeners = append(c.listeners, second)
			c.vrrp[0].VIPs = []netip.Prefix{vipPfx, vip2}
			c.vrrp[0].Advert = 300 * time.Millisecond
			c.vrrp = append(c.vrrp, instanceW)
		}),
		base,
	}
	return base, variants
}

// procUsage is what a process holds, read from /proc.
type procUsage struct {
	fds     map[string]int // by kind: socket, pipe, anon_inode:[eventfd], ..., or the file's path
	threads int
	rssKB   int
}

// fdKind is the kind of an open file from its /proc/PID/fd link.
func fdKind(link string) string {
	switch {
	case strings.HasPrefix(link, "socket:"):
		return "socket"
	case strings.HasPrefix(link, "pipe:"):
		return "pipe"
	case strings.HasPrefix(link, "anon_inode:"):
		return link
	}
	return "file " + link
}

// readUsage reads the open files, threads and resident memory of pid.
func readUsage(pid int) (procUsage, error) {
	u := procUsage{fds: map[string]int{}}
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return u, err
	}
	for _, e := range ents {
		link, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		u.fds[fdKind(link)]++
	}
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	for _, line := range strings.Split(string(st), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		switch k {
		case "Threads":
			u.threads, _ = strconv.Atoi(f[0])
		case "VmRSS":
			u.rssKB, _ = strconv.Atoi(f[0])
		}
	}
	return u, nil
}

// fdLinks returns the /proc/PID/fd links of pid, by fd number.
func fdLinks(pid int) map[string]string {
	out := map[string]string{}
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if link, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil {
			out[e.Name()] = link
		}
	}
	return out
}

// scrapeOnce fetches /metrics at addr from h on a connection it closes
// (no keep-alive: an idle connection would stay open in the daemon).
func scrapeOnce(h *netlab.Host, addr netip.AddrPort) (string, error) {
	tr := &http.Transport{DialContext: h.DialContext, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Timeout: 3 * time.Second, Transport: tr}
	resp, err := hc.Get("http://" + addr.String() + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String(), nil
}

// series returns the series of a scrape (name and labels, without the
// value) and the value of each.
func series(text string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		out[line[:i]] = line[i+1:]
	}
	return out
}

// churnSample is one reading of the daemon and its host.
type churnSample struct {
	usage      procUsage
	goroutines int
	goThreads  int
	series     map[string]string
	vips       []string // addresses on h1's eth0 but h1's own
	listening  []string // listening TCP sockets in h1's namespace
	senders    []int    // advert sender processes
	sender     procUsage
	children   int      // every child process of the daemon
	heapGoal   int      // go_memstats_next_gc_bytes: the live heap after the last GC times 1 + GOGC/100
	shape      []string // the paths of rmqlb status --json (values left out)
}

// jsonPaths returns the paths of every value of v, array indices
// included: two statuses of the same shape have the same paths. A
// backend's sessions_ended is left out: it appears with the first session
// that ends, and its keys, the reasons some session ended for, as
// sessions end for them; they are a fixed set, not a growth.
func jsonPaths(v any, prefix string, out *[]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if k == "sessions_ended" {
				continue
			}
			jsonPaths(e, prefix+"."+k, out)
		}
	case []any:
		for i, e := range x {
			jsonPaths(e, fmt.Sprintf("%s[%d]", prefix, i), out)
		}
	default:
		*out = append(*out, prefix)
	}
}

func (s churnSample) String() string {
	return fmt.Sprintf("fds %d %v, threads %d (go_threads %d), goroutines %d, RSS %d KiB, heap goal %d KiB, %d series, %d status values, VIPs %v, listening %v, sender processes %v (fds %v), children %d",
		total(s.usage.fds), s.usage.fds, s.usage.threads, s.goThreads, s.goroutines, s.usage.rssKB, s.heapGoal>>10, len(s.series), len(s.shape), s.vips, s.listening, s.senders, s.sender.fds, s.children)
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// TestReloadChurnGivesBackResources: a daemon reloaded churnRounds times
// through every kind of change (and back to where it started) holds what
// it held before: the same open files of each kind, the same number of
// goroutines, no more threads than the Go runtime keeps, the same VIPs,
// listening sockets, metrics series and advert sender process. Sessions
// are proxied in some rounds and the control socket is asked for its
// status a few hundred times during the churn (some requests broken off).
// Counts that the periodic checks and the test's own requests move for a
// moment are read several times and the least reading taken; goroutines
// counted above the baseline fail it when a dump of their stacks finds
// more of them in some place than the baseline's dump did.
func TestReloadChurnGivesBackResources(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test makes network namespaces")
	}
	l := newLab(t)
	h1, h2, h3, client := l.Host("h1"), l.Host("h2"), l.Host("h3"), l.Host("client")
	for _, s := range []struct {
		h    *netlab.Host
		port uint16
	}{{h2, 7003}, {h3, 7003}, {h2, 7004}, {h3, 7005}, {h2, 7005}, {h1, 7999}} {
		// h1:7999 is the port the refused listener finds taken.
		if _, err := s.h.ServeEcho(s.h.AddrPort(s.port)); err != nil {
			t.Fatal(err)
		}
	}
	metricsAP := h1.AddrPort(9187)
	base, variants := churnVariants(h1, h2, h3)
	d := startDaemon(t, l, h1, base.daemonConf(h1))
	baseSock, altSock := d.sock, filepath.Join(filepath.Dir(d.sock), "moved.sock")
	var sock atomic.Pointer[string] // the socket the daemon serves
	sock.Store(&baseSock)
	// reload writes c and asks the daemon at the socket it serves; a
	// control socket that c moves is served at its new path from then on.
	reload := func(c churnConf) (string, error) {
		target := baseSock
		if c.altSocket {
			target = altSock
		}
		d.conf = c.daemonConf(h1)
		if err := os.WriteFile(d.path, []byte(d.conf.yaml(h1, target)), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(d.bin, "reload", "--socket", d.sock).CombinedOutput()
		if !c.invalid {
			d.sock = target
			sock.Store(&target)
		}
		return string(out), err
	}
	pid := d.proc.Pid()

	// settled waits until the daemon runs what c says: its VRRP
	// instances MASTER (and no other), its backends UP (and no other).
	settled := func(c churnConf, timeout time.Duration) error {
		insts, backends := c.runs()
		return waitFor(timeout, func() (bool, error) {
			s, err := d.status()
			if err != nil {
				return false, err
			}
			var got []string
			walk(s.raw, func(m map[string]any) {
				if n, ok := m["name"].(string); ok && m["state"] != nil && m["counters"] != nil {
					got = append(got, n)
				}
			})
			slices.Sort(got)
			got = slices.Compact(got)
			want := slices.Sorted(slices.Values(insts))
			if !slices.Equal(got, want) {
				return false, fmt.Errorf("VRRP instances %v, want %v", got, want)
			}
			for _, n := range insts {
				want := "MASTER"
				if n == c.faultInstance {
					want = "FAULT"
				}
				if in := s.instance(n); in == nil || in.State != want {
					return false, fmt.Errorf("instance %s not %s: %+v", n, want, in)
				}
			}
			for _, n := range backends {
				if bs := s.backend(n); bs == nil || !strings.EqualFold(bs.State, "up") {
					return false, fmt.Errorf("backend %s not UP: %+v", n, bs)
				}
			}
			for _, n := range []string{"a", "b", "c", "d", "e", "t"} {
				if !slices.Contains(backends, n) && s.backend(n) != nil {
					return false, fmt.Errorf("backend %s still in the status", n)
				}
			}
			return true, nil
		})
	}
	if err := settled(base, 10*time.Second); err != nil {
		t.Fatalf("after start: %v", err)
	}

	// sample reads the daemon n times, 50 ms apart, and keeps the least
	// of each count of open files: a periodic check holds a socket for a
	// moment, a status request or a scrape a socket, so a single reading
	// may catch one of them in flight; the least of several readings is
	// what stays. The goroutines are the median of the readings instead:
	// go_goroutines counts, besides the checks in flight, the goroutines
	// of the scrape that reads it, and the Prometheus registry gathers
	// its collectors in as many worker goroutines as it found reasons to
	// start during that scrape (one, and one more each time it found no
	// metric waiting), so that the same daemon reads 29, 29, 30, 29, and
	// now and then one lower or higher. The least reading is the rarest;
	// the median is the count of most scrapes, and a goroutine left
	// behind raises every reading.
	sample := func(n int) (churnSample, error) {
		var best churnSample
		var gs []int
		defer func() {
			if len(gs) > 0 {
				slices.Sort(gs)
				best.goroutines = gs[len(gs)/2]
			}
		}()
		for i := range n {
			if i > 0 {
				time.Sleep(50 * time.Millisecond)
			}
			var s churnSample
			var err error
			if s.usage, err = readUsage(pid); err != nil {
				return best, err
			}
			text, err := scrapeOnce(h1, metricsAP)
			if err != nil {
				return best, err
			}
			s.series = series(text)
			s.goroutines, _ = strconv.Atoi(s.series["go_goroutines"])
			gs = append(gs, s.goroutines)
			s.goThreads, _ = strconv.Atoi(s.series["go_threads"])
			if f, err := strconv.ParseFloat(s.series["go_memstats_next_gc_bytes"], 64); err == nil {
				s.heapGoal = int(f)
			}
			st, err := d.status()
			if err != nil {
				return best, err
			}
			jsonPaths(st.raw, "", &s.shape)
			// The last reload's outcome lists what it applied: the
			// baseline's reload applied nothing, the churn's last one
			// removed what the one before added.
			s.shape = slices.DeleteFunc(s.shape, func(p string) bool { return strings.HasPrefix(p, ".reload.") })
			slices.Sort(s.shape)
			as, err := h1.Addrs()
			if err != nil {
				return best, err
			}
			for _, a := range as {
				if a.Prefix.Addr() != h1.Addr {
					s.vips = append(s.vips, a.Prefix.String())
				}
			}
			slices.Sort(s.vips)
			out, err := h1.Run("ss", "-ltnH")
			if err != nil {
				return best, err
			}
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				if f := strings.Fields(line); len(f) >= 4 {
					s.listening = append(s.listening, f[3])
				}
			}
			slices.Sort(s.listening)
			s.senders = netlab.ChildrenWith(pid, "vrrp-sender")
			if len(s.senders) == 1 {
				s.sender, _ = readUsage(s.senders[0])
			}
			s.children = len(netlab.ChildrenWith(pid, ""))
			if i == 0 {
				best = s
				continue
			}
			for k, v := range s.usage.fds {
				best.usage.fds[k] = min(best.usage.fds[k], v)
			}
			for k := range best.usage.fds {
				if s.usage.fds[k] == 0 {
					best.usage.fds[k] = 0
				}
			}
			best.usage.rssKB = min(best.usage.rssKB, s.usage.rssKB)
		}
		for k, v := range best.usage.fds {
			if v == 0 {
				delete(best.usage.fds, k)
			}
		}
		return best, nil
	}

	// The baseline, once the start's announcements are over (five
	// gratuitous ARPs 100 ms apart), and after a reload of the same file
	// (which changes nothing), so that the status has a last reload as
	// it has after the churn.
	if out, err := reload(base); err != nil || !strings.Contains(out, "nothing changed") {
		t.Fatalf("reload of the file it runs: %v\n%s", err, out)
	}
	time.Sleep(time.Second)
	// Three samples, the least of each: a start that has not quite
	// settled must not raise the baseline above what stays.
	before, err := sample(9)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		s, err := sample(9)
		if err != nil {
			t.Fatal(err)
		}
		for k, n := range before.usage.fds {
			if s.usage.fds[k] < n {
				before.usage.fds[k] = s.usage.fds[k]
			}
		}
		before.goroutines = min(before.goroutines, s.goroutines)
	}
	t.Logf("baseline: %s", before)
	// The goroutines of the baseline by where they run, to name the ones
	// a failure finds more of.
	baseDump, dumpErr := goroutineDump(d.proc)
	if dumpErr != nil {
		t.Logf("goroutines of the baseline not dumped: %v", dumpErr)
	}
	if len(before.senders) != 1 {
		t.Fatalf("advert sender processes at the baseline: %v, want one (vrrp_sender: process is the default)", before.senders)
	}

	// Status requests during the churn: whole ones, and every tenth
	// broken off after the connect or in the middle of the line.
	var requests, answered atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			requests.Add(1)
			switch i % 10 {
			case 3:
				if c, err := net.Dial("unix", *sock.Load()); err == nil {
					c.Close()
				}
			case 7:
				if c, err := net.Dial("unix", *sock.Load()); err == nil {
					_, _ = c.Write([]byte(`{"command":"sta`))
					c.Close()
				}
			default:
				var raw any
				if err := control.Call(*sock.Load(), control.Request{Command: "status"}, &raw, 5*time.Second); err == nil {
					answered.Add(1)
				}
			}
		}
	})
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()

	// proxy opens n sessions through bind, one round trip each.
	proxy := func(bind netip.AddrPort, n int) []*echoSession {
		var ss []*echoSession
		for i := range n {
			c, err := client.Dialer(2*time.Second)("tcp", bind.String())
			if err != nil {
				t.Fatalf("session %d through %s: %v", i, bind, err)
			}
			s := &echoSession{c: c, r: bufio.NewReader(c)}
			if err := s.roundTrip("churn"); err != nil {
				c.Close()
				t.Fatalf("session %d through %s: %v", i, bind, err)
			}
			ss = append(ss, s)
		}
		return ss
	}
	closeAll := func(ss []*echoSession) {
		for _, s := range ss {
			s.c.Close()
		}
	}

	running := base
	var sessions, reloads, refusals int
	start := time.Now()
	for round := range churnRounds {
		v := variants[round%len(variants)]
		if round == churnRounds-1 {
			v = base
		}
		// Sessions open across the reload in every third round: the
		// reload may close them (a backend removed), or not.
		var open []*echoSession
		if round%3 == 0 && len(running.vrrp) > 0 {
			open = proxy(vipAP, 2)
			sessions += 2
		}
		out, err := reload(v)
		reloads++
		switch {
		case v.invalid:
			var ee *exec.ExitError
			if !errors.As(err, &ee) || !strings.Contains(out, "refused, the daemon runs on unchanged") {
				t.Fatalf("round %d (%s): reload not refused: %v\n%s", round, v.name, err, out)
			}
			refusals++
		case v.refused:
			if err == nil || !strings.Contains(out, "refused: ") {
				t.Fatalf("round %d (%s): nothing refused: %v\n%s", round, v.name, err, out)
			}
			refusals++
			running = v
		default:
			if err != nil {
				t.Fatalf("round %d (%s): reload: %v\n%s", round, v.name, err, out)
			}
			if v.restart != strings.Contains(out, "needs restart: ") {
				t.Fatalf("round %d (%s): reload said:\n%s", round, v.name, out)
			}
			running = v
		}
		if err := settled(running, 10*time.Second); err != nil {
			t.Fatalf("round %d (%s): %v\nreload said:\n%s\n%s", round, v.name, err, out, d.proc.Tail(30))
		}
		closeAll(open)
		if round%2 == 0 && len(running.vrrp) > 0 {
			closeAll(proxy(vipAP, 3))
			sessions += 3
			for _, ln := range running.listeners {
				if ln.name == "second" {
					closeAll(proxy(netip.MustParseAddrPort(ln.bind), 2))
					sessions += 2
				}
			}
		}
		if _, err := scrapeOnce(h1, running.metricsAt(h1)); err != nil {
			t.Fatalf("round %d (%s): scrape: %v", round, v.name, err)
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d reloads (%d refused in whole or in part) in %v, %d sessions proxied, %d control requests (%d answered)",
		reloads, refusals, time.Since(start).Round(time.Millisecond), sessions, requests.Load(), answered.Load())
	if requests.Load() < 200 {
		t.Errorf("only %d control requests during the churn", requests.Load())
	}

	// Back on the baseline's file: wait until every count is back (a
	// removed listener's sessions drain for its 1 s graceful_timeout, a
	// stopped check may be finishing), then compare.
	var after churnSample
	backErr := waitFor(20*time.Second, func() (bool, error) {
		var err error
		if after, err = sample(9); err != nil {
			return false, err
		}
		if p := churnProblems(before, after); len(p) > 0 {
			return false, errors.New(strings.Join(p, "; "))
		}
		return true, nil
	})
	t.Logf("after %d reloads: %s", reloads, after)
	if backErr != nil {
		problems := churnProblems(before, after)
		if after.goroutines > before.goroutines+churnSlackGoroutines {
			dump, err := goroutineDump(d.proc)
			switch {
			case err != nil:
				t.Logf("goroutines not dumped: %v", err)
			case dumpErr == nil:
				t.Logf("goroutines now beside the baseline's, by their first frame in rmqlb (+N: more than at the baseline):\n%s", dumpDiff(baseDump, dump))
				// go_goroutines is read during a scrape, whose own
				// goroutines vary (see sample); a goroutine left
				// behind runs somewhere, and a dump, taken without a
				// scrape, shows more of them there than at the
				// baseline.
				if len(problems) == 1 && strings.HasPrefix(problems[0], "goroutines: ") && !placesAbove(baseDump, dump) {
					t.Logf("%s, but no place runs more goroutines than at the baseline: the scrape's own, not one left behind", problems[0])
					problems = nil
				}
			default:
				t.Logf("goroutines now, by their first frame in rmqlb:\n%s", dumpDiff(nil, dump))
			}
		}
		for _, p := range problems {
			t.Error(p)
		}
		if len(problems) > 0 {
			t.Logf("open files now:\n%s", describeFDs(pid, h1))
		}
	}
}

// placesAbove reports whether now, goroutines counted by place
// (goroutinePlaces), has more in some place than base.
func placesAbove(base, now map[string]int) bool {
	for place, n := range now {
		if n > base[place] {
			return true
		}
	}
	return false
}

// churnSlackGoroutines is the growth of the daemon's goroutines the
// churn may leave: none. The median of several readings leaves out the
// goroutines of requests, checks and scrapes in flight (see sample).
const churnSlackGoroutines = 0

// churnSlackThreads is the growth of the daemon's threads the churn may
// leave. The Go runtime never ends an idle thread: it keeps one for each
// system call that blocked while the others ran, up to the most that ever
// blocked at once (netlink requests of the VRRP instances, the start of
// an advert sender process, a real-time VRRP loop's thread while another
// instance starts), besides its GOMAXPROCS (3 here) running ones. That
// peak, not the number of reloads, bounds them; a goroutine holding a
// thread for good would show as a goroutine too.
const churnSlackThreads = 8

// churnProblems lists what after holds that before did not.
func churnProblems(before, after churnSample) []string {
	var p []string
	for _, k := range slices.Sorted(maps.Keys(after.usage.fds)) {
		if after.usage.fds[k] > before.usage.fds[k] {
			p = append(p, fmt.Sprintf("open files of kind %s: %d, baseline %d", k, after.usage.fds[k], before.usage.fds[k]))
		}
	}
	if after.usage.threads > before.usage.threads+churnSlackThreads {
		p = append(p, fmt.Sprintf("threads: %d, baseline %d (+%d at most)", after.usage.threads, before.usage.threads, churnSlackThreads))
	}
	if after.goroutines > before.goroutines+churnSlackGoroutines {
		p = append(p, fmt.Sprintf("goroutines: %d, baseline %d", after.goroutines, before.goroutines))
	}
	if !slices.Equal(after.vips, before.vips) {
		p = append(p, fmt.Sprintf("addresses on h1: %v, baseline %v", after.vips, before.vips))
	}
	if !slices.Equal(after.listening, before.listening) {
		p = append(p, fmt.Sprintf("listening sockets on h1: %v, baseline %v", after.listening, before.listening))
	}
	if len(after.senders) != 1 {
		p = append(p, fmt.Sprintf("advert sender processes %v, want one", after.senders))
	} else {
		for k, n := range after.sender.fds {
			if n > before.sender.fds[k] {
				p = append(p, fmt.Sprintf("open files of the advert sender of kind %s: %d, baseline %d", k, n, before.sender.fds[k]))
			}
		}
	}
	if after.children != before.children {
		p = append(p, fmt.Sprintf("child processes: %d, baseline %d", after.children, before.children))
	}
	var added, gone []string
	for k := range after.series {
		if _, ok := before.series[k]; !ok {
			added = append(added, k)
		}
	}
	for k := range before.series {
		if _, ok := after.series[k]; !ok {
			gone = append(gone, k)
		}
	}
	if len(added) > 0 {
		slices.Sort(added)
		p = append(p, fmt.Sprintf("%d metrics series that the baseline did not have: %v", len(added), added))
	}
	if len(gone) > 0 {
		slices.Sort(gone)
		p = append(p, fmt.Sprintf("%d metrics series of the baseline gone: %v", len(gone), gone))
	}
	if !slices.Equal(after.shape, before.shape) {
		var more, fewer []string
		for _, k := range after.shape {
			if !slices.Contains(before.shape, k) {
				more = append(more, k)
			}
		}
		for _, k := range before.shape {
			if !slices.Contains(after.shape, k) {
				fewer = append(fewer, k)
			}
		}
		p = append(p, fmt.Sprintf("rmqlb status --json has %d values, baseline %d: new %v, gone %v", len(after.shape), len(before.shape), more, fewer))
	}
	return p
}

// describeFDs lists the open files of pid with what ss(8) in h's
// namespace says of its sockets, and its netlink sockets.
func describeFDs(pid int, h *netlab.Host) string {
	links := fdLinks(pid)
	ssOut, _ := h.Run("ss", "-anpeH", "-A", "all")
	byInode := map[string]string{}
	for _, line := range strings.Split(string(ssOut), "\n") {
		if i := strings.Index(line, " ino:"); i >= 0 {
			f := strings.Fields(line[i+5:])
			if len(f) > 0 {
				byInode[f[0]] = strings.Join(strings.Fields(line)[:min(6, len(strings.Fields(line)))], " ")
			}
		}
	}
	nl, _ := os.ReadFile(fmt.Sprintf("/proc/%d/net/netlink", pid))
	var b strings.Builder
	keys := slices.SortedFunc(maps.Keys(links), func(x, y string) int {
		a, _ := strconv.Atoi(x)
		c, _ := strconv.Atoi(y)
		return a - c
	})
	for _, fd := range keys {
		link := links[fd]
		desc := ""
		if ino, ok := strings.CutPrefix(link, "socket:["); ok {
			ino = strings.TrimSuffix(ino, "]")
			desc = byInode[ino]
			if desc == "" {
				for _, line := range strings.Split(string(nl), "\n") {
					if f := strings.Fields(line); len(f) > 0 && f[len(f)-1] == ino {
						desc = "netlink protocol " + f[1]
					}
				}
			}
		}
		fmt.Fprintf(&b, "  %s -> %s %s\n", fd, link, desc)
	}
	return b.String()
}

// goroutineDump has rmqlb write every goroutine's stack (SIGQUIT, on
// which it runs on) and returns how many goroutines run in each place:
// their first frame in rmqlb's code, else their first frame.
func goroutineDump(p *netlab.Proc) (map[string]int, error) {
	from := len(p.Output())
	if err := p.Signal(syscall.SIGQUIT); err != nil {
		return nil, fmt.Errorf("sending SIGQUIT: %w", err)
	}
	// The stacks are written at once: the output stops growing.
	var out string
	err := waitFor(5*time.Second, func() (bool, error) {
		o := p.Output()
		done := len(o) > from && o == out && strings.Contains(o[from:], "\ngoroutine ")
		out = o
		return done, errors.New("no goroutine stacks in the output")
	})
	if err != nil {
		return nil, err
	}
	return goroutinePlaces(out[from:]), nil
}

// goroutinePlaces counts the goroutines of a dump of their stacks (the
// runtime's format: a "goroutine N [state]:" line, then pairs of a
// function line and its file line, a blank line after each goroutine) by
// their first frame in rmqlb's code, else their first frame.
func goroutinePlaces(dump string) map[string]int {
	places := map[string]int{}
	for _, g := range strings.Split(dump, "\ngoroutine ")[1:] {
		place := ""
		for i, line := range strings.Split(g, "\n")[1:] {
			if line == "" {
				break
			}
			if strings.HasPrefix(line, "\t") || strings.HasPrefix(line, "created by ") {
				continue
			}
			fn := line
			if k := strings.LastIndex(fn, "("); k > 0 {
				fn = fn[:k]
			}
			if i == 0 {
				place = fn
			}
			if strings.HasPrefix(fn, "github.com/rmqlb/rmqlb/") {
				place = fn
				break
			}
		}
		places[place]++
	}
	return places
}

// dumpDiff lists the places of now with their counts, sorted, marking
// with +N those with N more goroutines than base.
func dumpDiff(base, now map[string]int) string {
	var b strings.Builder
	for _, place := range slices.Sorted(maps.Keys(now)) {
		fmt.Fprintf(&b, "  %3d %s", now[place], place)
		if d := now[place] - base[place]; base != nil && d > 0 {
			fmt.Fprintf(&b, " (+%d)", d)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestGoroutinePlaces: a goroutine counts where it runs in rmqlb's code,
// or at its first frame when none of its frames is rmqlb's.
func TestGoroutinePlaces(t *testing.T) {
	dump := "SIGQUIT: writing\n" +
		"goroutine 1 [select]:\nruntime.gopark(0x1?)\n\t/go/src/runtime/proc.go:435 +0xce\ngithub.com/rmqlb/rmqlb/daemon.(*Daemon).Run(0xc0, {0x1})\n\t/src/daemon/daemon.go:10 +0x1\nmain.main()\n\t/src/main.go:3\n\n" +
		"goroutine 7 [syscall]:\nos/signal.signal_recv()\n\t/go/src/runtime/sigqueue.go:152 +0x29\ncreated by os/signal.Notify.func1.1 in goroutine 1\n\t/go/src/os/signal/signal.go:151 +0x1f\n\n" +
		"goroutine 12 [IO wait]:\ngithub.com/rmqlb/rmqlb/netsetup.(*rtWatch).serve(0xc1, {0x2}, 0xc2)\n\t/src/netsetup/watch.go:90 +0x3\n\n" +
		"goroutine 13 [IO wait]:\ngithub.com/rmqlb/rmqlb/netsetup.(*rtWatch).serve(0xc3, {0x2}, 0xc4)\n\t/src/netsetup/watch.go:90 +0x3\n"
	got := goroutinePlaces(dump)
	want := map[string]int{"github.com/rmqlb/rmqlb/daemon.(*Daemon).Run": 1, "os/signal.signal_recv": 1, "github.com/rmqlb/rmqlb/netsetup.(*rtWatch).serve": 2}
	if !maps.Equal(got, want) {
		t.Fatalf("places %v, want %v", got, want)
	}
	base := map[string]int{"github.com/rmqlb/rmqlb/netsetup.(*rtWatch).serve": 1}
	if !placesAbove(base, got) || placesAbove(got, base) || placesAbove(got, got) {
		t.Fatalf("placesAbove of %v and %v", base, got)
	}
	diff := dumpDiff(base, got)
	if !strings.Contains(diff, "  2 github.com/rmqlb/rmqlb/netsetup.(*rtWatch).serve (+1)\n") || strings.Count(diff, "(+") != 3 {
		t.Fatalf("diff:\n%s", diff)
	}
}

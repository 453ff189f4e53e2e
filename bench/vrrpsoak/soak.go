package vrrpsoak

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rmqlb/rmqlb/bench/benchkit"
	"github.com/rmqlb/rmqlb/bench/benchstat"
	"github.com/rmqlb/rmqlb/integration/netlab"
	"github.com/rmqlb/rmqlb/vrrp"
)

// Implementations the soak runs. Besides these, "rmqlb-lateN" (N 1..10)
// is rmqlb with late_adverts_tolerated: N, and "rmqlb-proc" and
// "rmqlb-inline" rmqlb with vrrp_sender: process and inline, each in a lab
// of its own.
const (
	ImplRmqlb      = "rmqlb"
	ImplKeepalived = "keepalived"
)

// withLate returns cfg with late_adverts_tolerated: late added to rmqlb's
// VRRP instance (after any setting the command line gave); late 0: cfg.
func withLate(cfg Config, late int) Config {
	if late > 0 {
		cfg.RmqlbInstance = strings.TrimLeft(strings.TrimRight(cfg.RmqlbInstance, "\n")+fmt.Sprintf("\nlate_adverts_tolerated: %d\n", late), "\n")
	}
	return cfg
}

// rmqlbLate reports whether impl is rmqlb ("rmqlb") or one of its
// variants ("rmqlb-lateN", late_adverts_tolerated N; -1 when N is not a
// number).
func rmqlbLate(impl string) (late int, ok bool) {
	if impl == ImplRmqlb || rmqlbSender(impl) != "" {
		return 0, true
	}
	n, found := strings.CutPrefix(impl, ImplRmqlb+"-late")
	if !found {
		return 0, false
	}
	late, err := strconv.Atoi(n)
	if err != nil || late < 1 {
		late = -1
	}
	return late, true
}

// rmqlbSender returns the vrrp_sender of the rmqlb variant impl
// ("rmqlb-proc": process, "rmqlb-inline": inline), "" for any other.
func rmqlbSender(impl string) string {
	switch impl {
	case ImplRmqlb + "-proc":
		return "process"
	case ImplRmqlb + "-inline":
		return "inline"
	}
	return ""
}

// withSender returns cfg with vrrp_sender: sender added to rmqlb's daemon
// keys; sender "": cfg.
func withSender(cfg Config, sender string) Config {
	if sender != "" {
		cfg.RmqlbGlobal = strings.TrimLeft(strings.TrimRight(cfg.RmqlbGlobal, "\n")+"\nvrrp_sender: "+sender+"\n", "\n")
	}
	return cfg
}

// Load components (Config.Load).
const (
	// LoadBulk is iperf3 with 2 streams through the master's proxy.
	LoadBulk = "bulk"
	// LoadConn is connect, 1-byte echo, close with 8 workers through the
	// master's proxy.
	LoadConn = "conn"
	// LoadCPU is stress-ng with one CPU worker per CPU of the machine at
	// normal priority, in the root namespace: every CPU busy with other
	// work.
	LoadCPU = "cpu"
	// LoadVM is stress-ng with memory workers (page faults and memory
	// traffic) in the root namespace.
	LoadVM = "vm"
)

// Config describes one soak. Zero values take the defaults named.
type Config struct {
	// Impls are the implementations run side by side, each in a lab of
	// its own, at the same time. Default: rmqlb only.
	Impls []string
	// Interval is the advertisement interval (VRRPv3). Default 10ms.
	Interval time.Duration
	// Duration is the measured window. Default 1 minute.
	Duration time.Duration
	// Warmup is the time between the load starting and the window
	// starting. Default 5s.
	Warmup time.Duration
	// Load lists the load components (LoadBulk, LoadConn, LoadCPU,
	// LoadVM). Empty: none (steady state on an idle lab).
	Load []string
	// RmqlbBin and LoadgenBin are the binaries to run: RmqlbBin is
	// required for the rmqlb implementations, LoadgenBin for LoadConn
	// (and for the labs' echo server).
	RmqlbBin, LoadgenBin string
	// RmqlbEnv is added to the environment of every rmqlb daemon (for
	// example GOGC=25).
	RmqlbEnv []string
	// RmqlbGlobal is YAML put at the top level of every rmqlb
	// configuration file as is (daemon keys), RmqlbInstance YAML put in
	// the VRRP instance (indented by 4 spaces).
	RmqlbGlobal, RmqlbInstance string
	// KeepalivedRTPriority sets keepalived's vrrp_rt_priority (0: unset).
	KeepalivedRTPriority int
	// KeepalivedRLimitRTTime sets keepalived's vrrp_rlimit_rttime in
	// microseconds (0: unset, keepalived's 10000 with a real-time
	// priority): past it without blocking, the kernel kills keepalived's
	// real-time VRRP process.
	KeepalivedRLimitRTTime int
	// Cuts is the number of link cuts of the master after the soak (see
	// Result.Cuts). Default 0.
	Cuts int
	// Recorder, if set, is dumped whenever a master's adverts stop for
	// TraceGap or longer, on its own interface or at a backup: the
	// kernel's scheduling of the seconds around it. Nil: none.
	Recorder *Recorder
	// TraceGap is the gap that dumps the Recorder. Default 2.5 x
	// Interval (a backup takes over after about 3).
	TraceGap time.Duration
	// Logf, if set, gets progress lines.
	Logf func(format string, args ...any)
}

func (c *Config) defaults() error {
	if len(c.Impls) == 0 {
		c.Impls = []string{ImplRmqlb}
	}
	if c.Interval <= 0 {
		c.Interval = 10 * time.Millisecond
	}
	if c.Duration <= 0 {
		c.Duration = time.Minute
	}
	if c.Warmup <= 0 {
		c.Warmup = 5 * time.Second
	}
	if c.TraceGap <= 0 {
		c.TraceGap = c.Interval * 5 / 2
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	for _, im := range c.Impls {
		switch late, ok := rmqlbLate(im); {
		case ok:
			if c.RmqlbBin == "" {
				return errors.New("soak: rmqlb needs Config.RmqlbBin")
			}
			if late < 0 || late > vrrp.MaxLateAdvertsTolerated {
				return fmt.Errorf("soak: %s: late_adverts_tolerated must be 1..%d", im, vrrp.MaxLateAdvertsTolerated)
			}
		case im == ImplKeepalived:
		default:
			return fmt.Errorf("soak: unknown implementation %q", im)
		}
	}
	if len(slices.Compact(slices.Sorted(slices.Values(c.Impls)))) != len(c.Impls) {
		return fmt.Errorf("soak: an implementation is named twice in %q", c.Impls)
	}
	for _, l := range c.Load {
		switch l {
		case LoadBulk, LoadCPU, LoadVM:
		case LoadConn:
			if c.LoadgenBin == "" {
				return errors.New("soak: the conn load needs Config.LoadgenBin")
			}
		default:
			return fmt.Errorf("soak: unknown load %q", l)
		}
	}
	return nil
}

func (c *Config) has(load string) bool {
	for _, l := range c.Load {
		if l == load {
			return true
		}
	}
	return false
}

// Result is what one implementation's lab measured.
type Result struct {
	Impl     string        `json:"impl"`
	Interval time.Duration `json:"interval"`
	Load     []string      `json:"load"`
	// Start and End bound the measured window.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// LoadAvg is /proc/loadavg's 1, 5 and 15-minute figures at the start
	// and at the end of the window.
	LoadAvgStart string `json:"loadavg_start"`
	LoadAvgEnd   string `json:"loadavg_end"`
	// Transitions counts the state changes the three daemons reported in
	// the window (rmqlb: its status counters; keepalived: the "Entering
	// ... STATE" lines of its log).
	Transitions int `json:"transitions"`
	// Timing is what the captures saw.
	Timing Timing `json:"timing"`
	// MasterCPU is the CPU time of the master's VRRP process (rmqlb's
	// daemon, which also proxies; keepalived's VRRP child) over the
	// window, in percent of one CPU; MasterRSSKiB its largest resident
	// size sampled.
	MasterCPU    float64 `json:"master_cpu_percent"`
	MasterRSSKiB int64   `json:"master_rss_kib"`
	// BackupCPU is the CPU time of a backup's VRRP process (rmqlb's
	// daemon, with no load through its proxy; keepalived's VRRP child)
	// over the window, in percent of one CPU: the mean of the two
	// backups.
	BackupCPU float64 `json:"backup_cpu_percent"`
	// SenderCPU is the CPU time of the master rmqlb's advert sender
	// process (vrrp_sender: process) over the window, in percent of one
	// CPU, SenderRSSKiB its largest resident size sampled, and
	// SenderScheduling its threads in a real-time class; zero and empty
	// without one.
	SenderCPU        float64 `json:"sender_cpu_percent,omitempty"`
	SenderRSSKiB     int64   `json:"sender_rss_kib,omitempty"`
	SenderScheduling string  `json:"sender_scheduling,omitempty"`
	// Sender is who sent the master rmqlb's periodic adverts at the end
	// of the window (its status: "process (...)" for the sender process),
	// and SenderRestarted whether the sender process was another one (or
	// none) at the end than at the start: its CPU is then not reported.
	Sender          string `json:"sender,omitempty"`
	SenderRestarted bool   `json:"sender_restarted,omitempty"`
	// VRRPRestarts counts the VRRP processes keepalived restarted in the
	// window (the kernel kills its real-time VRRP child past
	// vrrp_rlimit_rttime), and VRRPProcessChanged says that a VRRP
	// process at the end was another one (or none) than at the start:
	// MasterCPU, BackupCPU and RealTimeCPU are then not measured (0).
	VRRPRestarts       int  `json:"vrrp_restarts,omitempty"`
	VRRPProcessChanged bool `json:"vrrp_process_changed,omitempty"`
	// ProxyCPU is the CPU time of the master's proxy process when it is
	// another process (HAProxy beside keepalived), in percent of one CPU.
	ProxyCPU float64 `json:"proxy_cpu_percent,omitempty"`
	// GCPerSecond is the rate of garbage collections of the master's
	// rmqlb over the window (0 for keepalived).
	GCPerSecond float64 `json:"gc_per_second,omitempty"`
	// Scheduling says which threads of the master's VRRP process ran in
	// a real-time class at the end of the window (procScheduling).
	Scheduling string `json:"scheduling"`
	// RealTimeCPU is the CPU time of those threads over the window, in
	// percent of one CPU: for rmqlb with vrrp_rt_priority its VRRP event
	// loop alone (the rest of the process proxies), for keepalived its
	// VRRP process, the same as MasterCPU.
	RealTimeCPU float64 `json:"realtime_cpu_percent"`
	// GCPauseMax is the longest stop-the-world pause of the master
	// rmqlb's garbage collector among its recent ones at the end of the
	// window (go_gc_duration_seconds, quantile 1). 0 for keepalived.
	GCPauseMax time.Duration `json:"gc_pause_max,omitempty"`
	// LateSteps counts the periodic adverts the master rmqlb stepped more
	// than 1, 5 and 10 ms after their timer expired in the window (its
	// rmqlb_vrrp_advert_send_delay_seconds): the delay of its own event
	// loop, of which the send jitter on the wire is the sum with the
	// kernel's. Empty for keepalived.
	LateSteps []int64 `json:"late_steps,omitempty"`
	// BulkGbps is the bulk load's mean throughput, ConnPerSecond the
	// connection load's rate; LoadErrors counts failed load runs.
	BulkGbps      float64 `json:"bulk_gbps,omitempty"`
	ConnPerSecond float64 `json:"conn_per_second,omitempty"`
	LoadErrors    int     `json:"load_errors"`
	// Cuts are the client outages of the link cuts after the window;
	// CutsError says why the series stopped: the lab did not settle back
	// for the next cut, or after the last one.
	Cuts      []time.Duration `json:"cuts,omitempty"`
	CutsError string          `json:"cuts_error,omitempty"`
}

// Lab addresses: the VRRP hosts h1..h3 (priorities 150, 100, 50), the
// client and the server behind the proxies.
var (
	hostPrios  = map[string]int{"h1": 150, "h2": 100, "h3": 50}
	vip        = netip.MustParseAddr("10.77.0.100")
	vipPfx     = netip.MustParsePrefix("10.77.0.100/24")
	serverAddr = netip.MustParseAddr("10.77.0.60")
)

// Ports on the server, which the proxies listen on too (on the VIP), and
// of the banner servers of the link cuts.
const (
	bulkPort   = 5201
	echoPort   = 7000
	bannerPort = 5672
)

// Run runs the soak: for each implementation a lab of its own (three VRRP
// hosts h1..h3, a client, a server), all at the same time, under the
// configured load, and returns one Result per implementation, in the
// order of cfg.Impls. tb owns the labs (netlab.New) and everything
// started in them.
func Run(ctx context.Context, tb netlab.TB, cfg Config) ([]Result, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("soak: needs root (network namespaces)")
	}
	if cfg.has(LoadCPU) || cfg.has(LoadVM) {
		st, err := startStress(ctx, cfg)
		if err != nil {
			return nil, err
		}
		defer st.stop()
	}
	results := make([]Result, len(cfg.Impls))
	errs := make([]error, len(cfg.Impls))
	var wg sync.WaitGroup
	for i, im := range cfg.Impls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = runLab(ctx, tb, cfg, im)
			if errs[i] != nil {
				errs[i] = fmt.Errorf("%s: %w", im, errs[i])
			}
		}()
	}
	wg.Wait()
	return results, errors.Join(errs...)
}

// lab is one implementation's lab while it runs.
type lab struct {
	cfg   Config
	impl  string
	rmqlb bool // impl is rmqlb or one of its variants
	l     *netlab.Lab
	vrrp  map[string]vrrpHost // by host name
}

// vrrpHost is what runs on one VRRP host.
type vrrpHost struct {
	h       *netlab.Host
	daemon  *netlab.Proc // rmqlb or keepalived
	proxy   *netlab.Proc // HAProxy beside keepalived; nil for rmqlb
	sock    string       // rmqlb's control socket
	vrrpPID func() (int, error)
}

func runLab(ctx context.Context, tb netlab.TB, cfg Config, impl string) (Result, error) {
	res := Result{Impl: impl, Interval: cfg.Interval, Load: cfg.Load}
	nl, err := netlab.New(tb, netlab.Config{Hosts: []netlab.HostSpec{
		{Name: "h1", Addr: netip.MustParsePrefix("10.77.0.1/24")},
		{Name: "h2", Addr: netip.MustParsePrefix("10.77.0.2/24")},
		{Name: "h3", Addr: netip.MustParsePrefix("10.77.0.3/24")},
		{Name: "client", Addr: netip.MustParsePrefix("10.77.0.50/24")},
		{Name: "srv", Addr: netip.PrefixFrom(serverAddr, 24)},
	}})
	if err != nil {
		return res, err
	}
	late, isRmqlb := rmqlbLate(impl)
	cfg = withSender(withLate(cfg, late), rmqlbSender(impl))
	lb := &lab{cfg: cfg, impl: impl, rmqlb: isRmqlb, l: nl, vrrp: map[string]vrrpHost{}}
	cfg.Logf("%s: lab %s (logs in %s)", impl, nl.ID, nl.Dir)
	if err := lb.startServers(); err != nil {
		return res, err
	}
	for _, name := range []string{"h1", "h2", "h3"} {
		h := nl.Host(name)
		if _, err := h.Run("sysctl", "-q", "-w", "net.ipv4.ip_nonlocal_bind=1"); err != nil {
			return res, err
		}
		if _, err := h.ServeBanner(netip.AddrPortFrom(vip, bannerPort)); err != nil {
			return res, err
		}
		var vh vrrpHost
		if lb.rmqlb {
			vh, err = lb.startRmqlb(h)
		} else {
			vh, err = lb.startKeepalived(h)
		}
		if err != nil {
			return res, err
		}
		lb.vrrp[name] = vh
	}
	master := nl.Host("h1")
	if err := waitSoleHolder(ctx, nl, master, 20*time.Second); err != nil {
		return res, fmt.Errorf("h1 never became the sole VIP holder: %w", err)
	}
	caps := map[string]*Capture{}
	defer func() {
		for _, c := range caps {
			c.Close()
		}
	}()
	for _, name := range []string{"h1", "h2", "h3"} {
		var c *Capture
		if err := nl.Host(name).Do(func() (err error) {
			c, err = openCapture(netlab.Iface)
			return err
		}); err != nil {
			return res, err
		}
		caps[name] = c
	}
	loadCtx, stopLoad := context.WithCancel(ctx)
	ld := lb.startLoad(loadCtx)
	defer func() {
		stopLoad()
		ld.wait()
	}()
	if err := benchstat.Sleep(ctx, cfg.Warmup); err != nil {
		return res, err
	}

	// The window.
	before, err := lb.snapshot()
	if err != nil {
		return res, err
	}
	res.Start, res.LoadAvgStart = time.Now(), benchstat.LoadAvg()
	cfg.Logf("%s: window of %v starts (load average %s)", impl, cfg.Duration, res.LoadAvgStart)
	watchCtx, stopWatch := context.WithCancel(ctx)
	gapsDone := make(chan struct{})
	go func() {
		defer close(gapsDone)
		lb.watchGaps(watchCtx, caps, master.Addr)
	}()
	rss, senderRSS, err := lb.watch(ctx, res.Start.Add(cfg.Duration))
	stopWatch()
	<-gapsDone
	if err != nil {
		return res, err
	}
	// res.End is set once the window's figures are in: a Result with an
	// End is a complete one.
	end := time.Now()
	res.LoadAvgEnd = benchstat.LoadAvg()
	after, err := lb.snapshot()
	if err != nil {
		return res, err
	}
	stopLoad()
	ld.wait()
	window := end.Sub(res.Start)
	res.Transitions = after.transitions - before.transitions
	res.MasterRSSKiB, res.SenderRSSKiB = rss, senderRSS
	res.Sender = after.sender
	if after.senderPID != 0 && after.senderPID == before.senderPID {
		res.SenderCPU = 100 * (after.senderCPU - before.senderCPU).Seconds() / window.Seconds()
		res.SenderScheduling = after.senderSched
	} else if before.senderPID != 0 || after.senderPID != 0 {
		res.SenderRestarted = true
	}
	res.VRRPRestarts = after.restarts - before.restarts
	if res.VRRPProcessChanged = after.pids != before.pids || slices.Contains(after.pids[:], 0); !res.VRRPProcessChanged {
		res.MasterCPU = 100 * (after.vrrpCPU - before.vrrpCPU).Seconds() / window.Seconds()
		res.BackupCPU = 100 * (after.backupCPU - before.backupCPU).Seconds() / window.Seconds() / 2
	}
	if impl == ImplKeepalived {
		res.ProxyCPU = 100 * (after.proxyCPU - before.proxyCPU).Seconds() / window.Seconds()
	}
	res.GCPerSecond = float64(after.gcCycles-before.gcCycles) / window.Seconds()
	res.Scheduling = after.scheduling
	if !res.VRRPProcessChanged {
		res.RealTimeCPU = 100 * (after.rtCPU - before.rtCPU).Seconds() / window.Seconds()
	}
	res.GCPauseMax = after.gcPauseMax
	for k := range after.lateSteps {
		res.LateSteps = append(res.LateSteps, after.lateSteps[k]-before.lateSteps[k])
	}
	res.BulkGbps, res.ConnPerSecond, res.LoadErrors = ld.figures()

	var hcs []HostCapture
	for _, name := range []string{"h1", "h2", "h3"} {
		h := nl.Host(name)
		hcs = append(hcs, HostCapture{Host: name, Addr: h.Addr, Priority: hostPrios[name], Adverts: caps[name].Adverts()})
	}
	res.Timing = analyse(hcs, master.Addr, cfg.Interval, res.Start, end)
	res.End = end
	cfg.Logf("%s: window ended: %d transitions, %d adverts sent, jitter p99 %v, longest gap %v",
		impl, res.Transitions, res.Timing.Sent, res.Timing.JitterP99, res.Timing.MaxGap)

	if cfg.Cuts > 0 {
		// A series of cuts that cannot go on (the lab never settles
		// back) ends there: the window's figures stand, and the error is
		// the row's.
		if res.Cuts, err = lb.cuts(ctx, cfg.Cuts); err != nil {
			if ctx.Err() != nil {
				return res, err
			}
			res.CutsError = err.Error()
			cfg.Logf("%s: the cuts stopped after %d: %v", impl, len(res.Cuts), err)
		}
	}
	for name, vh := range lb.vrrp {
		if vh.daemon.Exited() {
			return res, fmt.Errorf("%s on %s exited: %s", impl, name, vh.daemon.Tail(20))
		}
	}
	return res, nil
}

// watchGaps follows the master's adverts in the captures (sent on its
// own interface, received at the backups) until ctx ends, the Recorder,
// if any, recording meanwhile, and dumps it after each gap of TraceGap or
// longer.
func (lb *lab) watchGaps(ctx context.Context, caps map[string]*Capture, master netip.Addr) {
	if lb.cfg.Recorder == nil {
		return
	}
	if err := lb.cfg.Recorder.Start(); err != nil {
		lb.cfg.Recorder.logf("%s: %v", lb.impl, err)
		return
	}
	defer func() {
		if err := lb.cfg.Recorder.Stop(); err != nil {
			lb.cfg.Recorder.logf("%s: %v", lb.impl, err)
		}
	}()
	src := master.As4()
	scans := map[string]*gapScan{}
	for name, c := range caps {
		scans[name] = newGapScan(c, src)
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for name, c := range caps {
			gap, end := scans[name].scan(c, src)
			if gap < lb.cfg.TraceGap {
				continue
			}
			reason := fmt.Sprintf("%s (lab %s): a gap of %v in the master's adverts at %s, ending at %s (Unix %d ns)",
				lb.impl, lb.l.ID, gap, name, time.Unix(0, end).UTC().Format("15:04:05.000000"), end)
			path, err := lb.cfg.Recorder.Dump(reason, gap, end)
			switch {
			case err != nil:
				lb.cfg.Recorder.logf("%s: dumping the recorder: %v", lb.impl, err)
			case path != "":
				lb.cfg.Recorder.logf("%s; the kernel's scheduling around it is in %s", reason, path)
			}
		}
	}
}

// startServers runs an echo server on the server host for the whole soak
// (the bulk load starts an iperf3 server for each of its runs).
func (lb *lab) startServers() error {
	srv := lb.l.Host("srv")
	if lb.cfg.LoadgenBin != "" {
		if _, err := srv.Start("echo", nil, lb.cfg.LoadgenBin, "echo",
			"-listen", netip.AddrPortFrom(serverAddr, echoPort).String()); err != nil {
			return err
		}
	}
	return nil
}

// startRmqlb runs rmqlb on h: the VRRP instance and two listeners on the
// VIP (bulk and echo) to the server.
func (lb *lab) startRmqlb(h *netlab.Host) (vrrpHost, error) {
	dir := filepath.Join(lb.l.Dir, "rmqlb-"+h.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return vrrpHost{}, err
	}
	sock := filepath.Join(dir, "rmqlb.sock")
	conf := filepath.Join(dir, "rmqlb.yaml")
	if err := os.WriteFile(conf, []byte(rmqlbConfig(lb.cfg, hostPrios[h.Name], sock)), 0o644); err != nil {
		return vrrpHost{}, err
	}
	p, err := h.Start("rmqlb", lb.cfg.RmqlbEnv, lb.cfg.RmqlbBin, "run", "--config", conf)
	if err != nil {
		return vrrpHost{}, err
	}
	vh := vrrpHost{h: h, daemon: p, sock: sock, vrrpPID: func() (int, error) { return p.Pid(), nil }}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := rmqlbStatus(sock); err == nil {
			return vh, nil
		} else if p.Exited() || time.Now().After(deadline) {
			return vh, fmt.Errorf("rmqlb on %s did not come up: %v\n%s", h.Name, err, p.Tail(20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rmqlbConfig is the configuration file of one rmqlb host.
func rmqlbConfig(cfg Config, prio int, sock string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "control_socket: %s\nlog_level: info\nmetrics_listen: 127.0.0.1:9150\n", sock)
	if cfg.RmqlbGlobal != "" {
		b.WriteString(strings.TrimRight(cfg.RmqlbGlobal, "\n") + "\n")
	}
	fmt.Fprintf(&b, `vrrp_instances:
  - name: vip
    interface: %s
    virtual_router_id: 1
    priority: %d
    version: 3
    advert_interval: %v
    virtual_ipaddress: [%s]
    garp: {count: 5, interval: 100ms, refresh: 60s}
`, netlab.Iface, prio, cfg.Interval, vipPfx)
	for _, line := range strings.Split(strings.TrimRight(cfg.RmqlbInstance, "\n"), "\n") {
		if line != "" {
			b.WriteString("    " + line + "\n")
		}
	}
	b.WriteString(benchkit.RmqlbListeners(soakListeners))
	return b.String()
}

// startKeepalived runs keepalived (VRRP) and HAProxy (the same two
// listeners, on the VIP, which ip_nonlocal_bind lets it bind before it
// holds it) on h.
func (lb *lab) startKeepalived(h *netlab.Host) (vrrpHost, error) {
	p, err := h.StartKeepalivedWith(netlab.KeepalivedGlobals{RTPriority: lb.cfg.KeepalivedRTPriority, RLimitRTTime: lb.cfg.KeepalivedRLimitRTTime},
		netlab.KeepalivedInstance{VRID: 1, Priority: hostPrios[h.Name], Version: 3, Advert: lb.cfg.Interval,
			VIPs: []netip.Prefix{vipPfx}})
	if err != nil {
		return vrrpHost{}, err
	}
	conf := filepath.Join(h.KeepalivedDir(), "haproxy.cfg")
	if err := os.WriteFile(conf, []byte(benchkit.HAProxyConfig(soakListeners)), 0o644); err != nil {
		return vrrpHost{}, err
	}
	hp, err := h.Start("haproxy", nil, "haproxy", "-db", "-f", conf)
	if err != nil {
		return vrrpHost{}, err
	}
	pidFile := filepath.Join(h.KeepalivedDir(), "vrrp.pid")
	return vrrpHost{h: h, daemon: p, proxy: hp, vrrpPID: func() (int, error) { return keepalivedVRRPPID(pidFile) }}, nil
}

// soakListeners are the proxies' listeners: on the VIP, to the server.
var soakListeners = benchkit.Listeners{
	BulkBind: netip.AddrPortFrom(vip, bulkPort), BulkServer: netip.AddrPortFrom(serverAddr, bulkPort),
	EchoBind: netip.AddrPortFrom(vip, echoPort), EchoServer: netip.AddrPortFrom(serverAddr, echoPort),
}

// waitSoleHolder waits until want is the only host with the VIP.
func waitSoleHolder(ctx context.Context, l *netlab.Lab, want *netlab.Host, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		hs, err := l.Holders(vip)
		if err == nil && len(hs) == 1 && hs[0] == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("holders %s after %v (%v)", netlab.HostNames(hs), timeout, err)
		}
		if err := benchstat.Sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

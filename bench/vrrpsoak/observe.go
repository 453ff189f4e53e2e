package vrrpsoak

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rmqlb/rmqlb/bench/benchstat"
	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/integration/netlab"
)

// snapshot is the counters of a lab at one moment.
type snapshot struct {
	transitions int           // state changes of the three daemons so far
	pids        [3]int        // the VRRP processes of h1, h2 and h3; 0: none running
	restarts    int           // keepalived's VRRP children respawned so far (its logs)
	vrrpCPU     time.Duration // CPU time of the master's VRRP process
	backupCPU   time.Duration // CPU time of the backups' VRRP processes, summed
	proxyCPU    time.Duration // CPU time of the master's separate proxy
	gcCycles    int64         // garbage collections of the master's rmqlb
	scheduling  string        // the master's VRRP process's real-time threads
	lateSteps   []int64       // the master rmqlb's late adverts (lateSteps)
	gcPauseMax  time.Duration // the master rmqlb's longest recent GC pause
	rtCPU       time.Duration // CPU time of its threads in a real-time class
	senderPID   int           // the master rmqlb's advert sender process; 0: none
	senderCPU   time.Duration // its CPU time
	senderSched string        // its real-time threads
	sender      string        // who sends the master rmqlb's adverts (its status)
}

func (lb *lab) snapshot() (snapshot, error) {
	var s snapshot
	for name, vh := range lb.vrrp {
		switch {
		case lb.rmqlb:
			st, err := rmqlbStatus(vh.sock)
			if err != nil {
				return s, fmt.Errorf("status of %s: %w", name, err)
			}
			for _, in := range st.VRRP {
				s.transitions += int(in.Counters.Transitions)
				if name == "h1" {
					s.sender = in.Sender
				}
			}
		default:
			out := vh.daemon.Output()
			n, err := keepalivedTransitions(out)
			if err != nil {
				return s, fmt.Errorf("keepalived on %s: %w", name, err)
			}
			s.transitions += n
			s.restarts += keepalivedRespawns(out)
		}
	}
	for i, name := range []string{"h2", "h3"} {
		bpid, err := lb.vrrp[name].vrrpPID()
		if err != nil {
			return s, err
		}
		if s.pids[i+1] = bpid; bpid == 0 {
			continue // keepalived's VRRP child between a death and its respawn
		}
		cpu, err := benchstat.ProcessCPU(bpid)
		if err != nil {
			return s, fmt.Errorf("CPU of %s's VRRP process: %w", name, err)
		}
		s.backupCPU += cpu
	}
	m := lb.vrrp["h1"]
	pid, err := m.vrrpPID()
	if err != nil {
		return s, err
	}
	if s.pids[0] = pid; pid != 0 {
		if s.vrrpCPU, err = benchstat.ProcessCPU(pid); err != nil {
			return s, err
		}
		s.scheduling, s.rtCPU = procScheduling(pid)
	}
	if lb.rmqlb {
		if s.senderPID = senderPID(pid); s.senderPID != 0 {
			s.senderCPU, _ = benchstat.ProcessCPU(s.senderPID)
			s.senderSched, _ = procScheduling(s.senderPID)
		}
	}
	if m.proxy != nil {
		if s.proxyCPU, err = benchstat.ProcessCPU(m.proxy.Pid()); err != nil {
			return s, err
		}
	}
	if lb.rmqlb {
		if s.gcCycles, err = gcCycles(m.h); err != nil {
			return s, err
		}
		if s.lateSteps, s.gcPauseMax, err = lateSteps(m.h); err != nil {
			return s, err
		}
	}
	return s, nil
}

// watch samples the resident size of the master's VRRP process (and of
// rmqlb's advert sender process, if any) every second until the deadline
// and returns the largest of each; it logs progress every minute and
// fails if a daemon exits.
func (lb *lab) watch(ctx context.Context, deadline time.Time) (maxRSS, maxSenderRSS int64, err error) {
	lastLog := time.Now()
	for {
		pid, err := lb.vrrp["h1"].vrrpPID()
		if err != nil {
			return 0, 0, err
		}
		if pid != 0 {
			if rss, err := procRSS(pid); err == nil && rss > maxRSS {
				maxRSS = rss
			}
			if sp := senderPID(pid); lb.rmqlb && sp != 0 {
				if rss, err := procRSS(sp); err == nil && rss > maxSenderRSS {
					maxSenderRSS = rss
				}
			}
		}
		for name, vh := range lb.vrrp {
			if vh.daemon.Exited() {
				return 0, 0, fmt.Errorf("%s on %s exited: %s", lb.impl, name, vh.daemon.Tail(20))
			}
		}
		now := time.Now()
		if now.Sub(lastLog) >= time.Minute {
			lastLog = now
			if s, err := lb.snapshot(); err == nil {
				lb.cfg.Logf("%s: %v left, %d state changes so far, load average %s",
					lb.impl, deadline.Sub(now).Round(time.Second), s.transitions, benchstat.LoadAvg())
			}
		}
		if !now.Before(deadline) {
			return maxRSS, maxSenderRSS, nil
		}
		if err := benchstat.Sleep(ctx, min(time.Second, deadline.Sub(now))); err != nil {
			return 0, 0, err
		}
	}
}

// senderPID returns the pid of the advert sender process of the rmqlb
// daemon pid (its child running rmqlb vrrp-sender), 0 when it has none.
func senderPID(pid int) int { return netlab.ChildWith(pid, "vrrp-sender") }

// rmqlbStatus asks an rmqlb daemon for its status.
func rmqlbStatus(sock string) (*control.Status, error) {
	var st control.Status
	if err := control.Call(sock, control.Request{Command: "status"}, &st, 5*time.Second); err != nil {
		return nil, err
	}
	return &st, nil
}

// keepalivedStateRE matches keepalived's log line of a state change, for
// example "(VI_1) Entering BACKUP STATE (init)".
var keepalivedStateRE = regexp.MustCompile(`Entering (MASTER|BACKUP|FAULT) STATE`)

// keepalivedTransitions counts the state changes in a keepalived's log.
// A running keepalived has logged at least the state it entered at start:
// a log without any is not read (keepalived logging elsewhere), and
// counting it would report no transition without having looked.
func keepalivedTransitions(log string) (int, error) {
	n := len(keepalivedStateRE.FindAllString(log, -1))
	if n == 0 {
		return 0, errors.New("its log shows no state, not even the one it started in: its transitions cannot be counted")
	}
	return n, nil
}

// keepalivedRespawnRE matches keepalived's log line of a VRRP child it
// restarts, for example "VRRP child process(12583) died: Respawning"
// (after the kernel killed it past its real-time limit, "exited due to
// signal 9 (Killed) - has rlimit_rttime been exceeded?").
var keepalivedRespawnRE = regexp.MustCompile(`VRRP child process\(\d+\) died: Respawning`)

// keepalivedRespawns counts the VRRP children a keepalived's log says it
// restarted.
func keepalivedRespawns(log string) int {
	return len(keepalivedRespawnRE.FindAllString(log, -1))
}

// keepalivedVRRPPID returns the pid of keepalived's VRRP child from its
// pid file, 0 when none runs: keepalived empties or removes the file when
// the child dies and writes it again when it respawns the child, which
// it delays by up to a minute after repeated deaths.
func keepalivedVRRPPID(pidFile string) (int, error) {
	b, err := os.ReadFile(pidFile)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading pid file: %w", err)
	}
	text := strings.TrimSpace(string(b))
	if text == "" {
		return 0, nil
	}
	pid, err := strconv.Atoi(text)
	if err != nil {
		return 0, fmt.Errorf("reading pid file %s: %w", pidFile, err)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
		return 0, nil // the file names a child that has died
	}
	return pid, nil
}

// procRSS returns VmRSS of a process in KiB.
func procRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("reading RSS: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			if fs := strings.Fields(v); len(fs) > 0 {
				return strconv.ParseInt(fs[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("reading RSS of %d: no VmRSS", pid)
}

// gcCycles reads go_gc_duration_seconds_count from the metrics of the
// rmqlb on h (127.0.0.1:9150 in h's namespace).
func gcCycles(h *netlab.Host) (int64, error) {
	m, err := scrape(h)
	if err != nil {
		return 0, err
	}
	v, ok := m["go_gc_duration_seconds_count"]
	if !ok {
		return 0, fmt.Errorf("reading metrics of %s: no go_gc_duration_seconds_count", h.Name)
	}
	return int64(v), nil
}

// lateThresholds are the send delays LateSteps counts (buckets of
// rmqlb_vrrp_advert_send_delay_seconds).
var lateThresholds = []string{"0.001", "0.005", "0.01"}

// lateSteps returns, per lateThresholds, how many periodic adverts the
// rmqlb on h stepped more than that long after their timer expired, and
// the longest of its recent GC pauses.
func lateSteps(h *netlab.Host) ([]int64, time.Duration, error) {
	m, err := scrape(h)
	if err != nil {
		return nil, 0, err
	}
	total, ok := m[`rmqlb_vrrp_advert_send_delay_seconds_count{vrrp_instance="vip"}`]
	if !ok {
		return nil, 0, fmt.Errorf("reading metrics of %s: no rmqlb_vrrp_advert_send_delay_seconds", h.Name)
	}
	var out []int64
	for _, le := range lateThresholds {
		within := m[`rmqlb_vrrp_advert_send_delay_seconds_bucket{vrrp_instance="vip",le="`+le+`"}`]
		out = append(out, int64(total-within))
	}
	pause := time.Duration(m[`go_gc_duration_seconds{quantile="1"}`] * float64(time.Second))
	return out, pause, nil
}

// scrape reads the metrics of the rmqlb on h: every sample by its name and
// labels as the text format writes them.
func scrape(h *netlab.Host) (map[string]float64, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return h.DialContext(ctx, network, addr)
		},
		DisableKeepAlives: true,
	}}
	resp, err := c.Get("http://127.0.0.1:9150/metrics")
	if err != nil {
		return nil, fmt.Errorf("reading metrics of %s: %w", h.Name, err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if strings.HasPrefix(line, "#") || i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading metrics of %s: %w", h.Name, err)
	}
	return out, nil
}

// procScheduling describes the threads of process pid in a real-time
// scheduling class, from /proc/PID/task/*/stat ("SCHED_FIFO 50 x1 of 9
// threads"), or says that none is ("no real-time thread of 9"), and
// returns the CPU time of those threads (rmqlb's VRRP loops).
func procScheduling(pid int) (string, time.Duration) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return "unknown: " + err.Error(), 0
	}
	var rtCPU time.Duration
	count := map[string]int{}
	var keys []string
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
		if err != nil {
			continue
		}
		if k := rtClass(string(b)); k != "" {
			if count[k] == 0 {
				keys = append(keys, k)
			}
			count[k]++
			if c, err := benchstat.StatCPU(pid, string(b)); err == nil {
				rtCPU += c
			}
		}
	}
	if len(keys) == 0 {
		return fmt.Sprintf("no real-time thread of %d", len(tasks)), 0
	}
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s x%d", k, count[k]))
	}
	return fmt.Sprintf("%s of %d threads", strings.Join(parts, ", "), len(tasks)), rtCPU
}

// rtClass returns the real-time class and priority of the thread whose
// /proc stat line is stat ("SCHED_FIFO 50"), or "" for another class.
// After the command's closing parenthesis, field 3 (state) comes first:
// rt_priority (field 40) and policy (field 41) are at 37 and 38.
func rtClass(stat string) string {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 39 {
		return ""
	}
	switch f[38] {
	case "1":
		return "SCHED_FIFO " + f[37]
	case "2":
		return "SCHED_RR " + f[37]
	}
	return ""
}

package integration

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// reloadWith writes conf, with from replaced by to, as d's configuration
// file and reloads d.
func reloadWith(t *testing.T, d *daemon, conf []byte, from, to string) {
	t.Helper()
	c := strings.Replace(string(conf), from, to, 1)
	if err := os.WriteFile(d.path, []byte(c), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(d.bin, "reload", "--socket", d.sock).CombinedOutput(); err != nil {
		t.Fatalf("reload: %v\n%s", err, out)
	}
}

// waitMasterServing waits until h1 alone holds the VIP, the other hosts'
// instances are BACKUP and h1's daemon has both brokers UP: where the
// upgrade tests start.
func (rl *rabbitLab) waitMasterServing(t *testing.T) {
	t.Helper()
	if err := waitSoleHolder(rl.lab, rl.lab.Host("h1"), 15*time.Second); err != nil {
		t.Fatal(err)
	}
	// The other hosts have started their instances too: a test that
	// counts their state changes from here counts none of their start.
	for name, d := range rl.daemons {
		if name == "h1" {
			continue
		}
		if err := d.waitState("BACKUP", 15*time.Second); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	for _, b := range []string{"rmq1", "rmq2"} {
		if err := rl.daemons["h1"].waitBackend(b, "up", 15*time.Second); err != nil {
			t.Fatal(err)
		}
	}
}

// closeLog records when the broker side closed each of a set of AMQP
// connections (connection.close from the broker, or the connection lost).
type closeLog struct {
	mu sync.Mutex
	at []time.Time
}

// watchCloses starts recording the closes of conns.
func watchCloses(conns []*amqp.Connection) *closeLog {
	l := &closeLog{}
	for _, c := range conns {
		ch := c.NotifyClose(make(chan *amqp.Error, 1))
		go func() {
			if e, ok := <-ch; ok && e != nil {
				l.mu.Lock()
				l.at = append(l.at, time.Now())
				l.mu.Unlock()
			}
		}()
	}
	return l
}

// times returns the closes recorded so far, earliest first.
func (l *closeLog) times() []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.SortedFunc(slices.Values(l.at), time.Time.Compare)
}

// testUpgradeSpreadsReconnects: an upgrade in place of h1's daemon, whose
// listener has graceful_timeout 4s and close_spread 3s, with a producer
// (publisher confirms) and a consumer and 40 more AMQP clients connected
// through the VIP. The old process leaves the sessions alone for a
// second, then closes them one after another over the last 3 s, not at
// once; the producer and the consumer reconnect through the VIP to the
// new process, and every confirmed message reaches the consumer.
func testUpgradeSpreadsReconnects(t *testing.T, rl *rabbitLab) {
	h1 := rl.lab.Host("h1")
	d := rl.daemons["h1"]
	rl.waitMasterServing(t)
	conf, err := os.ReadFile(d.path)
	if err != nil {
		t.Fatal(err)
	}
	reloadWith(t, d, conf, "graceful_timeout: 2s", "graceful_timeout: 4s\n    close_spread: 3s")
	defer reloadWith(t, d, conf, "", "")
	oldPID := int(d.mustStatus().raw.(map[string]any)["pid"].(float64))

	flow := rl.startFlow("rmqlb-spread")
	defer flow.stop()
	st := flow.st
	conns, errs := rl.dialMany(40)
	defer closeAll(conns)
	if len(errs) > 0 {
		t.Fatalf("%d of 40 AMQP connections failed; first: %v", len(errs), errs[0])
	}
	closes := watchCloses(conns)
	if err := waitFor(10*time.Second, st.confirmedAtLeast(20)); err != nil {
		t.Fatal(err)
	}
	st.mu.Lock()
	reconnP, reconnC := st.reconnP, st.reconnC
	st.mu.Unlock()

	out, err := h1.Run(d.bin, "upgrade", "--socket", d.sock)
	if err != nil {
		t.Fatalf("upgrade: %v\n%s", err, out)
	}
	upgraded := time.Now()
	t.Logf("upgrade: %s", strings.ReplaceAll(strings.TrimSpace(string(out)), "\n", "; "))
	lefts := sampleSessionsLeft(d, 250*time.Millisecond)
	var closedAt []time.Time
	if err := waitFor(10*time.Second, func() (bool, error) {
		closedAt = closes.times()
		return len(closedAt) == len(conns), fmt.Errorf("%d of the %d clients closed", len(closedAt), len(conns))
	}); err != nil {
		t.Fatal(err)
	}
	// The new process's status followed the old one's count down, from
	// every client at first (the 40, the producer and the consumer).
	left := lefts()
	t.Logf("sessions left in the old process, as the new one's status showed them every 250 ms: %v", left)
	if len(left) < 3 || left[0] < len(conns) || !slices.IsSortedFunc(left, func(a, b int) int { return b - a }) || !slices.ContainsFunc(left, func(n int) bool { return n > 0 && n < left[0] }) {
		t.Errorf("sessions left shown %v, want them counting down from at least %d", left, len(conns))
	}
	earliest, latest := closedAt[0].Sub(upgraded), closedAt[len(closedAt)-1].Sub(upgraded)
	t.Logf("close_spread 3s of graceful_timeout 4s: the %d clients closed %v to %v after the upgrade",
		len(conns), earliest.Round(time.Millisecond), latest.Round(time.Millisecond))
	if earliest < 700*time.Millisecond {
		t.Errorf("the first client was closed %v after the upgrade, before the last 3 s of the 4 s grace period", earliest.Round(time.Millisecond))
	}
	if latest-earliest < 1500*time.Millisecond {
		t.Errorf("the clients were closed within %v of each other, want them spread over about 3 s", (latest - earliest).Round(time.Millisecond))
	}

	// The producer and the consumer were closed too, and reconnected to
	// the new process; the old one exits once its grace period is over.
	if err := waitFor(15*time.Second, func() (bool, error) {
		st.mu.Lock()
		defer st.mu.Unlock()
		return st.reconnP > reconnP && st.reconnC > reconnC, fmt.Errorf("reconnects producer +%d consumer +%d", st.reconnP-reconnP, st.reconnC-reconnC)
	}); err != nil {
		t.Error(err)
	}
	if err := waitFor(5*time.Second, func() (bool, error) { return !pidAlive(oldPID), fmt.Errorf("pid %d still runs", oldPID) }); err != nil {
		t.Errorf("the old process after its grace period: %v", err)
	} else if p, ok := d.mustStatus().raw.(map[string]any)["previous_process"]; ok {
		t.Errorf("the status shows the previous process %v after it exited", p)
	}
	time.Sleep(time.Second)
	flow.stopProducing()
	err = waitFor(20*time.Second, st.allReceived)
	st.mu.Lock()
	t.Logf("upgrade with close_spread: producer %d confirmed, consumer %d distinct received (%d duplicates); reconnects producer +%d consumer +%d",
		len(st.confirmed), len(st.received), st.dups, st.reconnP-reconnP, st.reconnC-reconnC)
	st.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
}

// sampleSessionsLeft reads, every interval, the sessions that d's status
// says the process it took over from still holds (previous_process's
// sessions_left), until that process is no longer shown; the function it
// returns stops the sampling and returns what was read.
func sampleSessionsLeft(d *daemon, interval time.Duration) func() []int {
	var (
		mu    sync.Mutex
		lefts []int
	)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			if s, err := d.status(); err == nil {
				p, shown := s.raw.(map[string]any)["previous_process"].(map[string]any)
				if !shown {
					return
				}
				if n, ok := p["sessions_left"].(float64); ok {
					mu.Lock()
					lefts = append(lefts, int(n))
					mu.Unlock()
				}
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	return func() []int {
		close(stop)
		<-done
		mu.Lock()
		defer mu.Unlock()
		return lefts
	}
}

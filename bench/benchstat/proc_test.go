package benchstat

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestParseMachineCPU: busy is user, nice, system, irq, softirq and steal;
// total adds idle and iowait; guest fields are not added twice; a line
// that is not the "cpu" line, or is short, is an error.
func TestParseMachineCPU(t *testing.T) {
	m, err := parseMachineCPU("cpu  100 20 30 400 50 6 70 8 90 10")
	if err != nil {
		t.Fatal(err)
	}
	if want := (MachineCPU{Busy: 2340 * time.Millisecond, Total: 6840 * time.Millisecond}); m != want {
		t.Errorf("parseMachineCPU = %+v, want %+v", m, want)
	}
	for _, bad := range []string{"cpu0 1 2 3 4 5 6 7 8", "cpu 1 2 3 4", "cpu 1 2 3 x 5 6 7 8", "intr 1 2 3 4 5 6 7 8"} {
		if _, err := parseMachineCPU(bad); err == nil {
			t.Errorf("parseMachineCPU(%q) succeeded", bad)
		}
	}
	if d := (MachineCPU{Busy: 5, Total: 9}).Sub(MachineCPU{Busy: 2, Total: 3}); d != (MachineCPU{Busy: 3, Total: 6}) {
		t.Errorf("Sub = %+v", d)
	}
}

// TestParsePerCPUTimes: one entry per "cpuN" line, the "cpu" total and
// other lines left out; a field that is no number is an error.
func TestParsePerCPUTimes(t *testing.T) {
	const stat = `cpu  3363404 104963 3797358 7680932 101774 0 1742761 1988 0 0
cpu0 1681702 52481 1898679 3840466 50887 0 871380 994 0 0
cpu1 1681702 52482 1898679 3840466 50887 7 871381 995 0 0
intr 1 2 3
ctxt 42
`
	ts, err := ParsePerCPUTimes(strings.NewReader(stat))
	if err != nil {
		t.Fatal(err)
	}
	want := []CPUTimes{
		{CPU: "cpu0", User: 1681702, Nice: 52481, System: 1898679, Idle: 3840466, IOWait: 50887, IRQ: 0, SoftIRQ: 871380, Steal: 994},
		{CPU: "cpu1", User: 1681702, Nice: 52482, System: 1898679, Idle: 3840466, IOWait: 50887, IRQ: 7, SoftIRQ: 871381, Steal: 995},
	}
	if fmt.Sprint(ts) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", ts, want)
	}
	if _, err := ParsePerCPUTimes(strings.NewReader("cpu0 1 2 x 4 5 6 7 8\n")); err == nil {
		t.Fatal("a field that is no number parsed")
	}
	if d := Ticks(3); d != 30*time.Millisecond {
		t.Fatalf("Ticks(3) = %v, want 30ms", d)
	}
}

// TestReadCPU reads this machine's CPU time and this process's threads'
// across a loop that burns 50 ms of CPU (by getrusage, however long that
// takes on a shared machine): both grow by about that, the machine's total
// at least as much as its busy time.
func TestReadCPU(t *testing.T) {
	m0, err := ReadMachineCPU()
	if err != nil {
		t.Fatal(err)
	}
	c0, err := ReadThreadCost(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	own := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	for start := own(); own()-start < 50*time.Millisecond; {
	}
	m1, _ := ReadMachineCPU()
	c1, err := ReadThreadCost(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	d := c1.Sub(c0)
	if d.CPU < 45*time.Millisecond {
		t.Errorf("threads' CPU grew by %v over a loop of 50 ms of CPU", d.CPU)
	}
	if d.Wait < 0 || d.Voluntary < 0 || d.Involuntary < 0 || c1.Voluntary+c1.Involuntary == 0 {
		t.Errorf("context switches %+v then %+v", c0, c1)
	}
	if d := (ThreadCost{CPU: 9, Wait: 7, Voluntary: 5, Involuntary: 3}).Sub(ThreadCost{CPU: 1, Wait: 2, Voluntary: 3, Involuntary: 4}); d != (ThreadCost{CPU: 8, Wait: 5, Voluntary: 2, Involuntary: -1}) {
		t.Errorf("ThreadCost.Sub = %+v", d)
	}
	md := m1.Sub(m0)
	if md.Busy <= 0 || md.Total < md.Busy {
		t.Errorf("machine CPU grew by %+v", md)
	}
	if _, err := ReadThreadCost(-1); err == nil || !strings.Contains(err.Error(), "-1") {
		t.Errorf("ReadThreadCost of no process: %v", err)
	}
}

// TestStatCPU: a stat line's utime and stime, counted after the command
// name's ')' (which may hold spaces), in USER_HZ ticks; a short line is
// refused.
func TestStatCPU(t *testing.T) {
	f := make([]string, 39)
	for i := range f {
		f[i] = "0"
	}
	f[11], f[12] = "100", "50" // utime, stime (fields 14 and 15)
	got, err := StatCPU(1, "1 (a b) "+strings.Join(f, " "))
	if err != nil || got != 1500*time.Millisecond {
		t.Errorf("statCPU = %v, %v; want %v", got, err, 1500*time.Millisecond)
	}
	if _, err := StatCPU(1, "1 (a) R 1"); err == nil {
		t.Error("short stat accepted")
	}
}

package daemon

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/internal/freeport"
)

// TestPlanReloadSequences runs a daemon (the harness: fake checks that
// pass, fake VRRP, real listeners) through random sequences of files from
// the reload property test's generator, and before every reload asks for
// its dry run: the dry run lists what the reload then applies, refuses
// and leaves for a restart, in the same words and order, and of a file
// the reload refuses whole the same error. A reload that also refuses
// what no dry run can foresee (an address that cannot be bound, a
// real-time priority the process may not take) is not compared; the test
// fails if that leaves fewer than two thirds of the reloads not refused
// whole compared.
//
// Each sequence's seed is logged; -plan.seed (or PLAN_SEED) replays one,
// PLAN_RUNS runs more (a fifth of them; the default is 40).
func TestPlanReloadSequences(t *testing.T) {
	seed := planSetting(*planSeed, "PLAN_SEED", uint64(time.Now().UnixNano()))
	runs := max(planSetting(*planRuns, "PLAN_RUNS", 200)/5, 1)
	group := ownGroup(t)
	var compared, unforeseen, refusedWhole int
	t.Logf("dry runs of reload sequences from seed %d (replay one with -plan.seed=N -plan.runs=5)", seed)
	for i := range runs {
		s := seed + uint64(i)
		t.Run(fmt.Sprint(s), func(t *testing.T) {
			c, u, w := runDryRunSequence(t, s, group)
			compared, unforeseen, refusedWhole = compared+c, unforeseen+u, refusedWhole+w
		})
		if t.Failed() {
			t.Fatalf("seed %d: replay with -plan.seed=%d -plan.runs=5", s, s)
		}
	}
	t.Logf("%d reloads compared with their dry run, %d refused whole by both, %d with refusals no dry run foresees", compared, refusedWhole, unforeseen)
	if compared < 2*unforeseen {
		t.Fatalf("only %d reloads compared, %d not", compared, unforeseen)
	}
}

// runDryRunSequence runs the sequence of seed: the counts of reloads
// compared, not compared (refusals no dry run foresees), and refused as a
// whole by both.
func runDryRunSequence(t *testing.T, seed uint64, group string) (compared, unforeseen, refusedWhole int) {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	dir := t.TempDir()
	// The generator's ports and control sockets, made this test's own.
	var ports []string
	for _, p := range []string{":5672", ":5673", ":5674", ":9150", ":9151"} {
		_, port, err := net.SplitHostPort(freeport.Addr(t, "127.0.0.1"))
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, p, ":"+port)
	}
	ports = append(ports, "/run/rmqlb/a.sock", "SOCKET", "/run/rmqlb/b.sock", filepath.Join(dir, "b.sock"))
	own := strings.NewReplacer(ports...)
	render := func(g genFile) string {
		if g.controlSocket == "" {
			g.controlSocket = "/run/rmqlb/a.sock" // not the system's default
		}
		return own.Replace(g.yaml())
	}
	// loads reports whether the harness's loader takes text (its binds
	// must be local or VIPs).
	probe := filepath.Join(dir, "probe.yaml")
	loads := func(text string) bool {
		if err := os.WriteFile(probe, []byte(strings.ReplaceAll(text, "SOCKET", filepath.Join(dir, "a.sock"))), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := config.Load(probe)
		return err == nil
	}
	var g genFile
	var text string
	for i := 0; ; i++ {
		g = genNew(r, group)
		if text = render(g); loads(text) {
			break
		}
		if i == 1000 {
			t.Fatal("no first file the loader takes in 1000 draws")
		}
	}
	passing := &checkers{byID: map[backend.ID]*fakeCheck{}}
	h := newHarness(t, text, func(o *Options) {
		o.NewChecker = func(b *config.Backend) (healthcheck.Checker, error) {
			c, err := passing.new(b)
			c.(*fakeCheck).always(healthcheck.Result{})
			return c, err
		}
	})
	h.start()
	h.ready()
	log := []string{"file 0:\n" + text}
	steps := 1 + r.IntN(8)
	for k := 1; k <= steps; k++ {
		if r.IntN(5) == 0 {
			g = genNew(r, group)
		} else {
			g = g.mutate(r, group)
		}
		text = render(g)
		log = append(log, fmt.Sprintf("file %d:\n%s", k, text))
		p := h.planReload(text)
		res := h.reload(text)
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("%s\n%s", strings.Join(log, "\n"), fmt.Sprintf(format, args...))
		}
		switch {
		case res.Error != "" || p.Error != "":
			if p.Error != res.Error || len(p.Changes)+len(p.Pending)+len(p.Refused) > 0 {
				fail("dry run %+v\nreload %+v", p, res)
			}
			refusedWhole++
			continue
		case slices.ContainsFunc(res.Refused, func(s string) bool { return !slices.Contains(p.Refused, s) }):
			log = append(log, fmt.Sprintf("(refused, not foreseen: %q)", res.Refused))
			unforeseen++
			continue
		}
		if !slices.Equal(planned(p), res.Applied) || !slices.Equal(p.Pending, res.Pending) || !slices.Equal(p.Refused, res.Refused) {
			fail("dry run %q\npending %q\nrefused %q\nreload  %q\npending %q\nrefused %q", planned(p), p.Pending, p.Refused, res.Applied, res.Pending, res.Refused)
		}
		compared++
	}
	return compared, unforeseen, refusedWhole
}

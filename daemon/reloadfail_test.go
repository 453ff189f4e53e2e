package daemon

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/vrrp"
)

// A reload that adds a VRRP instance whose sockets cannot be opened (an
// interface that does not exist) is refused for that instance; the daemon
// runs on with the rest, and the next reload of the same file tries again.
func TestReloadAddInstanceBadInterface(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startChecked(t, h)
	orig := h.d.opt.NewVRRP
	h.d.opt.NewVRRP = func(in *config.VRRPInstance, log *zap.Logger, reg prometheus.Registerer) (vrrp.Transport, VIPOwner, error) {
		tr, o, err := orig(in, log, reg)
		if in.Name == "w" {
			tr = nil // the real transport, opened by Run on in.Interface
		}
		return tr, o, err
	}
	extra := "  - name: w\n    interface: nosuch0\n    virtual_router_id: 2\n    version: 3\n    priority: 100\n    virtual_ipaddress: [192.0.2.200/32]\nlisteners:\n"
	bad := strings.Replace(l.file(), "listeners:\n", extra, 1)
	for range 2 {
		r := h.reload(bad)
		if len(r.Refused) != 1 || !strings.Contains(r.Refused[0], "vrrp instance w") || !strings.Contains(r.Refused[0], "nosuch0") {
			t.Fatalf("reload: %+v, want the instance w refused, naming its interface", r)
		}
		if s := h.d.Status(); len(s.VRRP) != 1 || s.VRRP[0].Name != "v" {
			t.Fatalf("status after the refused instance: %d VRRP instances, want v alone", len(s.VRRP))
		}
	}
	select {
	case err := <-h.done:
		h.cancel = nil
		t.Fatalf("the daemon stopped after the reload: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
}

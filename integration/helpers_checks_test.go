package integration

import (
	"fmt"
	"net/netip"
	"os"
	"testing"

	"github.com/rmqlb/rmqlb/integration/netlab"
	"github.com/rmqlb/rmqlb/internal/testpki"
)

// checkedListener returns the YAML of a listener, for daemonConf's
// Listeners, named name and bound to h's port bind, with one backend,
// backend, at h's port port, checked by the check section keys check
// (such as "type: stomp, user: u, password: p") every 500 ms with a
// 400 ms timeout, rise 1 and fall 1.
func checkedListener(h *netlab.Host, name string, bind uint16, check, backend string, port uint16) string {
	return fmt.Sprintf("  - name: %s\n    bind: %s\n    check: {%s, interval: 500ms, timeout: 400ms, rise: 1, fall: 1}\n    backends:\n      - {name: %s, address: %s}\n",
		name, h.AddrPort(bind), check, backend, h.AddrPort(port))
}

// brokerPKI makes a test CA in a directory a broker can read, and a
// server certificate of it for h (CN rmq1, the name rmq1.e2e and h's
// address).
func brokerPKI(t *testing.T, h *netlab.Host) (*testpki.CA, testpki.Pair) {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil { // the broker reads its files
		t.Fatal(err)
	}
	ca, err := testpki.NewCA(dir, "e2e")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Server("rmq1", []string{"rmq1.e2e"}, []netip.Addr{h.Addr})
	if err != nil {
		t.Fatal(err)
	}
	return ca, srv
}

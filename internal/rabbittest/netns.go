package rabbittest

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// WriteNetnsHosts writes /etc/netns/NS/hosts (which `ip netns exec NS` bind-mounts over
// /etc/hosts) so that the short host names of cluster nodes resolve inside namespace ns. The file
// also maps localhost. The returned function removes the file and its directory; call it when
// the namespace is deleted.
func WriteNetnsHosts(ns string, hosts map[string]netip.Addr) (remove func(), err error) {
	dir := filepath.Join("/etc/netns", ns)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("writing hosts for netns %s: %w", ns, err)
	}
	names := make([]string, 0, len(hosts))
	for h := range hosts {
		names = append(names, h)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost\n")
	for _, h := range names {
		fmt.Fprintf(&b, "%s\t%s\n", hosts[h], h)
	}
	if err := os.WriteFile(filepath.Join(dir, "hosts"), []byte(b.String()), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("writing hosts for netns %s: %w", ns, err)
	}
	return func() { os.RemoveAll(dir) }, nil
}

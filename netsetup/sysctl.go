package netsetup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Sysctl is one kernel parameter: Key in sysctl(8) dotted form with the
// interface name as one component ("net.ipv4.conf.eth0.arp_ignore"), Value
// as written to /proc/sys.
type Sysctl struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// RecommendedSysctls returns the settings that suit a VIP host on ifname.
// They are optional: rmqlb works without them.
//
//   - arp_ignore=1: answer ARP only for addresses configured on the
//     interface the request came in on; avoids "ARP flux" when a host has
//     several interfaces in the VIP's subnet.
//   - arp_announce=2: use the best local address (the primary, not the VIP)
//     as source of the host's own ARP requests, so that a backup never
//     advertises the VIP and a master's own ARP traffic does not pin the
//     VIP in neighbours' tables outside the GARP schedule.
//   - promote_secondaries=1: if the interface's primary address in the
//     VIP's subnet is removed, keep the VIP (a secondary) instead of
//     flushing it with the primary.
func RecommendedSysctls(ifname string) []Sysctl {
	p := "net.ipv4.conf." + ifname + "."
	return []Sysctl{
		{Key: p + "arp_ignore", Value: "1"},
		{Key: p + "arp_announce", Value: "2"},
		{Key: p + "promote_secondaries", Value: "1"},
	}
}

// SetSysctls writes each setting to /proc/sys in the current network
// namespace, trying all and returning the errors joined. Because an
// interface name may contain dots ("eth0.100"), the key is split around the
// "conf"/"neigh" interface component: net.ipv4.conf.<ifname>.<param> with
// <ifname> being everything between "conf." and the last dot.
func SetSysctls(sysctls []Sysctl) error {
	var errs []error
	for _, s := range sysctls {
		path, err := sysctlPath(s.Key)
		if err == nil {
			err = os.WriteFile(path, []byte(s.Value+"\n"), 0o644)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("setting sysctl %s=%s: %w", s.Key, s.Value, err))
		}
	}
	return errors.Join(errs...)
}

// sysctlPath maps a dotted key to its /proc/sys path, keeping dots inside
// the interface component of net.ipv{4,6}.{conf,neigh}.<ifname>.<param>.
func sysctlPath(key string) (string, error) {
	parts := strings.Split(key, ".")
	if len(parts) < 2 || strings.Contains(key, "/") || strings.Contains(key, "..") {
		return "", fmt.Errorf("invalid key %q", key)
	}
	if len(parts) >= 5 && parts[0] == "net" && (parts[2] == "conf" || parts[2] == "neigh") {
		ifname := strings.Join(parts[3:len(parts)-1], ".")
		parts = []string{parts[0], parts[1], parts[2], ifname, parts[len(parts)-1]}
	}
	return filepath.Join(append([]string{"/proc/sys"}, parts...)...), nil
}

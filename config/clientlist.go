package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/internal/regfile"
)

// MaxClientListSize bounds a file of client addresses (allowed_clients_file,
// denied_clients_file): 64 MiB, some three million IPv4 addresses.
const MaxClientListSize = 64 << 20

// clientListErrorsShown is how many bad lines of a file of client
// addresses an error names; it counts the others.
const clientListErrorsShown = 5

// ParseClientList reads a file of client addresses (allowed_clients_file,
// denied_clients_file), HAProxy's list file format: an address or a
// prefix a line (parseListEntry), surrounding blanks ignored, and what
// follows a # a comment; blank lines are skipped. A bad line (one that
// balancer.CheckClientPrefix refuses too) is an error naming its line
// number; every line is read, and the error names the first few bad ones
// and counts the rest.
func ParseClientList(data []byte) ([]netip.Prefix, error) {
	var (
		out  []netip.Prefix
		bad  []string
		more int
	)
	for n := 1; len(data) > 0; n++ {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if i := bytes.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		s := strings.TrimSpace(string(line))
		if s == "" {
			continue
		}
		pfx, err := parseListEntry(s)
		switch {
		case err != nil:
		case strings.Contains(s, "%"):
			err = fmt.Errorf("%s: zoned addresses are not supported", s)
		default:
			err = balancer.CheckClientPrefix(pfx)
		}
		if err == nil {
			out = append(out, pfx)
			continue
		}
		if len(bad) < clientListErrorsShown {
			bad = append(bad, fmt.Sprintf("line %d: %v", n, err))
		} else {
			more++
		}
	}
	if len(bad) > 0 {
		msg := strings.Join(bad, "; ")
		if more > 0 {
			msg += fmt.Sprintf("; and %d more bad lines", more)
		}
		return nil, errors.New(msg)
	}
	return out, nil
}

// parseListEntry reads an entry of a file of client addresses: an
// address, a prefix, or, as HAProxy writes them too, an IPv4 address with
// a dotted mask (10.1.0.0/255.255.0.0).
func parseListEntry(s string) (netip.Prefix, error) {
	bad := fmt.Errorf("must be an address or a prefix (10.0.0.0/8, 2001:db8::/32), not %q", s)
	addr, mask, ok := strings.Cut(s, "/")
	if !ok || !strings.Contains(mask, ".") {
		p, err := parseAddrOrPrefix(s)
		if err != nil {
			return netip.Prefix{}, bad
		}
		return p, nil
	}
	a, aerr := netip.ParseAddr(addr)
	m, merr := netip.ParseAddr(mask)
	if aerr != nil || merr != nil || !a.Is4() || !m.Is4() {
		return netip.Prefix{}, bad
	}
	ones, bits := net.IPMask(m.AsSlice()).Size()
	if bits == 0 {
		return netip.Prefix{}, fmt.Errorf("%s is not a contiguous netmask", mask)
	}
	return netip.PrefixFrom(a, ones), nil
}

// readClientListFile reads the file of client addresses at name for
// Load: a regular file (not a pipe or a device, which a reload would
// wait on) of at most MaxClientListSize bytes.
func readClientListFile(name string) ([]byte, error) {
	return regfile.Read(name, MaxClientListSize)
}

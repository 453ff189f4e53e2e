package migrate

import (
	"fmt"
	"strconv"
	"strings"

	rbackend "github.com/rmqlb/rmqlb/backend"
)

// instanceName returns the instance's rmqlb name: its keepalived name
// when rmqlb accepts it, else one made of its characters or its VRID.
func (t *kaT) instanceName(n *kaNode, in *instance) string {
	if rbackend.CheckName(in.name) == nil {
		return in.name
	}
	name := sanitizeName(in.name)
	if name == "" {
		name = fmt.Sprintf("vrid%d", in.vrid)
	}
	t.ns.change(n.pos, n.text(), fmt.Sprintf("named %q: rmqlb names have only letters, digits and _ - . : @", name))
	return name
}

// sanitizeName replaces the characters a rbackend.CheckName refuses with
// '_' and cuts the name to rbackend.MaxNameLen.
func sanitizeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_-.:@", c) >= 0) {
			b[i] = '_'
		}
	}
	if len(b) > rbackend.MaxNameLen {
		b = b[:rbackend.MaxNameLen]
	}
	return string(b)
}

// unique returns name, or name with the first free suffix _2, _3, ...,
// and records it in taken.
func unique(name string, taken map[string]bool) string {
	n := name
	for i := 2; taken[n]; i++ {
		s := "_" + strconv.Itoa(i)
		n = name
		if len(n)+len(s) > rbackend.MaxNameLen {
			n = n[:rbackend.MaxNameLen-len(s)]
		}
		n += s
	}
	taken[n] = true
	return n
}

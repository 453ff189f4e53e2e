package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// An unknown key names the key most likely meant: a misspelling, another
// case or - for _, keepalived's or HAProxy's name for it, or the section
// the key belongs to.
func TestUnknownKeyHints(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"listener: []\n", "line 1: listener: unknown key (did you mean listeners?)"},
		{"listeners:\n  - {name: l, polcy: leastconn}\n", "line 2: listeners[0].polcy: unknown key (did you mean policy?)"},
		{"listeners:\n  - {name: l, balance: leastconn}\n", "line 2: listeners[0].balance: unknown key (did you mean policy?)"},
		{"listeners:\n  - {name: l, Idle-Timeout: 1m}\n", "line 2: listeners[0].Idle-Timeout: unknown key (did you mean idle_timeout?)"},
		{"listeners:\n  - {name: l, rise: 3}\n", "line 2: listeners[0].rise: unknown key (rise is a key of check)"},
		{"listeners:\n  - {name: l, weight: 3}\n", "line 2: listeners[0].weight: unknown key (weight is a key of track and of backends)"},
		{"listeners:\n  - name: l\n    backends: [{name: a, wieght: 2}]\n", "line 3: listeners[0].backends[0].wieght: unknown key (did you mean weight?)"},
		{"listeners:\n  - name: l\n    backends: [{name: a, inter: 2s}]\n", "line 3: listeners[0].backends[0].inter: unknown key (did you mean interval, a key of check?)"},
		{"listeners:\n  - name: l\n    check: {inter: 2s}\n", "line 3: listeners[0].check.inter: unknown key (did you mean interval?)"},
		{"vrrp_instances:\n  - {name: v, advert_int: 1s}\n", "line 2: vrrp_instances[0].advert_int: unknown key (did you mean advert_interval?)"},
		{"vrrp_instances:\n  - {name: v, unicast_peer: [10.0.0.2]}\n", "line 2: vrrp_instances[0].unicast_peer: unknown key (did you mean unicast_peers?)"},
		{"vrrp_instances:\n  - {name: v, vrid: 7}\n", "line 2: vrrp_instances[0].vrid: unknown key (did you mean virtual_router_id?)"},
		{"listeners:\n  - {name: l, vips: [10.0.0.1]}\n", "line 2: listeners[0].vips: unknown key (did you mean virtual_ipaddress, a key of vrrp_instances?)"},
		{"vrrp_instances:\n  - {name: v, bogus: 1}\n", "line 2: vrrp_instances[0].bogus: unknown key"},
		{"vrrp_instances:\n  - {name: v, id: 1}\n", "line 2: vrrp_instances[0].id: unknown key"},
	} {
		_, err := Parse([]byte(tc.yaml))
		if err == nil {
			t.Errorf("%q: parsed", tc.yaml)
			continue
		}
		if lines := strings.Split(err.Error(), "\n"); !slices.Contains(lines, tc.want) {
			t.Errorf("%q:\n%v\nwant the line\n%s", tc.yaml, err, tc.want)
		}
	}
}

// Every alias names a key of its section, and every section a hint can
// name is a key of the file, so that no hint points nowhere.
func TestKeyAliases(t *testing.T) {
	types := schemaTypes(reflect.TypeFor[file](), "", nil)
	for alias, a := range keyAliases {
		i := slices.IndexFunc(types, func(st schemaType) bool { return st.section == a.section })
		if i < 0 {
			t.Errorf("alias %s: no section %s", alias, a.section)
			continue
		}
		if !slices.Contains(types[i].keys, a.key) {
			t.Errorf("alias %s: %s has no key %s", alias, a.section, a.key)
		}
		if slices.Contains(types[i].keys, alias) {
			t.Errorf("alias %s is a key of %s itself", alias, a.section)
		}
	}
	for _, st := range types[1:] {
		if !slices.ContainsFunc(types, func(o schemaType) bool { return slices.Contains(o.keys, st.section) }) {
			t.Errorf("section %s of %s is no key", st.section, st.name)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"a", "", 1}, {"", "ab", 2}, {"policy", "policy", 0}, {"polcy", "policy", 1},
		{"wieght", "weight", 1}, {"idle-timeout", "idle_timeout", 1}, {"abc", "xyz", 3}, {"ab", "ba", 1},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

// An unknown key does not hide the file's other problems: they are
// reported together, in file order. A value of the wrong type still
// stops the rules, which would see its zero value.
func TestUnknownKeyHidesNothing(t *testing.T) {
	_, err := Parse([]byte("listeners:\n  - name: l\n    bind: 127.0.0.1:5672\n    policy: lc\n    backends:\n      - {name: a, adress: 127.0.0.1:5673}\n"))
	want := "line 4: listeners[0].policy: must be roundrobin, wrr or leastconn, not \"lc\"\n" +
		"line 6: listeners[0].backends[0].adress: unknown key (did you mean address?)\n" +
		"line 6: listeners[0].backends[0].address: must be ip:port, not \"\""
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
	_, err = Parse([]byte("vrrp_instances:\n  - name: v\n    priority: high\n    bogus: 1\n"))
	want = "line 3: vrrp_instances[0].priority: must be a whole number, not \"high\"\n" +
		"line 4: vrrp_instances[0].bogus: unknown key"
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}

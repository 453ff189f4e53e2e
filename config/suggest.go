package config

import (
	"reflect"
	"slices"
	"strings"
)

// keyAlias is rmqlb's key of the same meaning as another name, and the
// section that has it.
type keyAlias struct{ section, key string }

// keyAliases maps keys that keepalived and HAProxy users write out of
// habit to rmqlb's (TestKeyAliases: each is a key of its section).
var keyAliases = map[string]keyAlias{
	"advert_int":     {"vrrp_instances", "advert_interval"},
	"vrid":           {"vrrp_instances", "virtual_router_id"},
	"vip":            {"vrrp_instances", "virtual_ipaddress"},
	"vips":           {"vrrp_instances", "virtual_ipaddress"},
	"unicast_src_ip": {"vrrp_instances", "unicast_src"},
	"unicast_peer":   {"vrrp_instances", "unicast_peers"},
	"lb_algo":        {"listeners", "policy"},
	"balance":        {"listeners", "policy"},
	"server":         {"listeners", "backends"},
	"servers":        {"listeners", "backends"},
	"real_server":    {"listeners", "backends"},
	"inter":          {"check", "interval"},
	"fastinter":      {"check", "fastinterval"},
	"downinter":      {"check", "downinterval"},
	"delay_loop":     {"check", "interval"},
	"slow_start":     {"check", "slowstart"},
	"uri":            {"check", "path"},
	"url":            {"check", "path"},
	"status_code":    {"check", "expect_status"},
}

// keyHint returns what to add to "unknown key" for key in the schema type
// named typ (as the YAML library names it: "config.fileListener"): the key
// of that type the user most likely meant, or the sections that have a
// key of that name; "" when there is neither.
func keyHint(typ, key string) string {
	types := schemaTypes(reflect.TypeFor[file](), "", nil)
	i := slices.IndexFunc(types, func(st schemaType) bool { return st.name == typ })
	if i < 0 {
		return ""
	}
	if k := closestKey(key, types[i].keys); k != "" {
		return "did you mean " + k + "?"
	}
	// The key an alias stands for, in another section (closestKey found
	// one of this section); a key of other sections as written.
	if a, ok := keyAliases[normalKey(key)]; ok {
		return "did you mean " + a.key + ", a key of " + a.section + "?"
	}
	var in []string
	for _, other := range types {
		if other.section != "" && other.section != types[i].section && slices.Contains(other.keys, key) {
			in = append(in, other.section)
		}
	}
	if len(in) == 0 {
		return ""
	}
	return key + " is a key of " + strings.Join(in, " and of ")
}

// normalKey returns key in lower case with _ for -.
func normalKey(key string) string {
	return strings.ReplaceAll(strings.ToLower(key), "-", "_")
}

// schemaType is one struct type of the file's schema: its name as the
// YAML library gives it, its keys in declaration order, and the key it
// is found under ("" for the file itself).
type schemaType struct {
	name    string
	section string
	keys    []string
}

// schemaTypes appends t and the struct types under it to types, each
// once, in the order in which the file's keys lead to them; section is
// the key t is found under.
func schemaTypes(t reflect.Type, section string, types []schemaType) []schemaType {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || slices.ContainsFunc(types, func(st schemaType) bool { return st.name == t.String() }) {
		return types
	}
	i := len(types)
	types = append(types, schemaType{name: t.String(), section: section})
	for j := range t.NumField() {
		key, _, _ := strings.Cut(t.Field(j).Tag.Get("yaml"), ",")
		if key == "" || key == "-" {
			continue
		}
		types[i].keys = append(types[i].keys, key)
		types = schemaTypes(t.Field(j).Type, key, types)
	}
	return types
}

// closestKey returns the key of keys that key most likely misspells: the
// key it is an alias of (keyAliases), the same key in other case or with - for _,
// or the nearest by edit distance when that distance is at most 2 and
// small for the key's length; "" when none is near.
func closestKey(key string, keys []string) string {
	norm := normalKey(key)
	if a, ok := keyAliases[norm]; ok && slices.Contains(keys, a.key) {
		return a.key
	}
	best, bestD := "", 3
	for _, k := range keys {
		if k == norm {
			return k
		}
		if d := editDistance(norm, k); d < bestD && 3*d <= len(norm)+1 {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance of a and b: the
// insertions, deletions, substitutions and swaps of neighbouring bytes
// that turn one into the other.
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

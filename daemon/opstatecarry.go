package daemon

import (
	"encoding/json"
	"slices"
)

// jsonField is a field of a state file that this daemon does not know (a
// newer version's): its key, and its value as encoding/json writes it.
type jsonField struct {
	Key   string
	Value json.RawMessage
}

// carryFrom gives s, about to be written, the fields of prev (the file it
// replaces) that this daemon does not know: those of the top level, and
// those of each entry that s has unchanged, the same backend with the same
// admin state, weight and fingerprint, or the same release (its virtual
// router, start and end). A newer version's field then outlives a
// downgrade, and the restarts and upgrades in place after it, as long as
// the entry it belongs to does; an entry the operator changed loses them,
// for they may no longer agree with it. A version that adds a field and is
// upgraded to in place from an older one reads it here, in the file, not
// in what the older one hands over.
func (s *opState) carryFrom(prev opState) {
	s.extra = prev.extra
	for k := range s.Backends {
		e := &s.Backends[k]
		e.extra = nil
		i := slices.IndexFunc(prev.Backends, func(p opBackend) bool {
			return p.Listener == e.Listener && p.Backend == e.Backend
		})
		if i >= 0 && sameOpBackend(prev.Backends[i], *e) {
			e.extra = prev.Backends[i].extra
		}
	}
	for k := range s.VRRP {
		r := &s.VRRP[k]
		r.extra = nil
		i := slices.IndexFunc(prev.VRRP, func(p opRelease) bool { return p.Name == r.Name })
		if i >= 0 {
			p := prev.VRRP[i]
			if p.handedVRRPInfo == r.handedVRRPInfo && p.Since.Equal(r.Since) && p.Until.Equal(r.Until) {
				r.extra = p.extra
			}
		}
	}
}

// sameOpBackend reports whether a and b are the same operator changes.
func sameOpBackend(a, b opBackend) bool {
	return a.Admin == b.Admin && a.Config == b.Config &&
		(a.Weight == nil) == (b.Weight == nil) && (a.Weight == nil || *a.Weight == *b.Weight)
}

// MarshalJSON writes s with the fields it carries (carryFrom) after its own.
func (s opState) MarshalJSON() ([]byte, error) {
	type plain opState
	return marshalWith(plain(s), s.extra)
}

// MarshalJSON writes e with the fields it carries after its own.
func (e opBackend) MarshalJSON() ([]byte, error) {
	type plain opBackend
	return marshalWith(plain(e), e.extra)
}

// MarshalJSON writes r with the fields it carries after its own.
func (r opRelease) MarshalJSON() ([]byte, error) {
	type plain opRelease
	return marshalWith(plain(r), r.extra)
}

// marshalWith returns the JSON object of v with the fields extra added
// at its end, in their order.
func marshalWith(v any, extra []jsonField) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil || len(extra) == 0 {
		return b, err
	}
	b = b[:len(b)-1] // the closing brace
	for _, f := range extra {
		if b[len(b)-1] != '{' {
			b = append(b, ',')
		}
		k, err := json.Marshal(f.Key)
		if err != nil {
			return nil, err
		}
		b = append(append(append(b, k...), ':'), f.Value...)
	}
	return append(b, '}'), nil
}

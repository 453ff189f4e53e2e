package daemon

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/vrrp"
)

// decodeOpState parses a state file.
//
// A file that is not one is refused as a whole: it is larger than
// maxOpState, it is not one JSON object of the format (its version, its
// time and its lists of the right types), or it is of another version of
// the format. A new version is for what an older daemon must not read.
//
// Within a file of the format, an entry this daemon could not have
// written (a bad name, an admin state or a weight out of range, a value
// of the wrong type, a second entry of one backend or one instance) is
// left out, listed in s.refused with where and why, and the others are
// read: an entry edited by hand costs that entry, not every operator
// state of the host. A field this daemon does not know is ignored, listed
// in s.ignored, and the rest of its entry read: a newer version adds
// fields without a new version of the format, so that the daemon it is
// downgraded to keeps what it knows. Such fields are kept with their
// entry (and those of the top level in s), for the file written next
// (carryFrom).
func decodeOpState(b []byte) (opState, error) {
	if len(b) > maxOpState {
		return opState{}, fmt.Errorf("reading state: %d bytes, more than %d", len(b), maxOpState)
	}
	var raw struct {
		Version  int               `json:"version"`
		Saved    time.Time         `json:"saved"`
		Backends []json.RawMessage `json:"backends"`
		VRRP     []json.RawMessage `json:"vrrp"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&raw); err != nil {
		return opState{}, fmt.Errorf("reading state: %w", jsonProblem(err))
	}
	if len(bytes.TrimSpace(b[dec.InputOffset():])) != 0 {
		return opState{}, errors.New("reading state: data after the JSON object")
	}
	if raw.Version != opStateVersion {
		return opState{}, fmt.Errorf("reading state: version %d, want %d", raw.Version, opStateVersion)
	}
	s := opState{Version: raw.Version, Saved: raw.Saved}
	s.extra = unknownFields(b, reflect.TypeFor[opState]())
	s.ignored = fieldPaths("", s.extra)
	backends, extras := decodeEntries(&s, "backends", raw.Backends, checkOpBackend)
	for k := range backends {
		backends[k].extra = extras[k]
	}
	s.Backends = append([]opBackend{}, backends...)
	releases, extras := decodeEntries(&s, "vrrp", raw.VRRP, func(r opRelease) (string, error) { return r.Name, checkOpRelease(r) })
	for k := range releases {
		releases[k].extra = extras[k]
	}
	s.VRRP = releases
	return s, nil
}

// decodeEntries decodes the entries raw of the file's list named list
// (backends, vrrp) and returns those check accepts, in order. check
// returns an entry's key (its backend, its instance) or what in it the
// daemon could not have written. An entry that does not decode, that
// check refuses or whose key came before is listed in s.refused with
// where and why; the fields of an entry read that T does not have are
// listed in s.ignored, and returned, the entry's at its index in extras.
func decodeEntries[T any, K comparable](s *opState, list string, raw []json.RawMessage, check func(T) (K, error)) (out []T, extras [][]jsonField) {
	seen := map[K]bool{}
	for i, m := range raw {
		at := fmt.Sprintf("%s[%d]", list, i)
		var e T
		var key K
		err := json.Unmarshal(m, &e)
		if err == nil {
			key, err = check(e)
		}
		if err == nil && seen[key] {
			err = fmt.Errorf("%v twice: the first is read", key)
		}
		if err != nil {
			s.refused = append(s.refused, at+": "+jsonProblem(err).Error())
			continue
		}
		seen[key] = true
		out = append(out, e)
		extra := unknownFields(m, reflect.TypeFor[T]())
		extras = append(extras, extra)
		s.ignored = append(s.ignored, fieldPaths(at, extra)...)
	}
	return out, extras
}

// checkOpBackend returns the backend of e, or what in e the daemon could
// not have written.
func checkOpBackend(e opBackend) (backend.ID, error) {
	id, err := backend.ParseID(e.Listener + "/" + e.Backend)
	switch {
	case err != nil || id.Listener != e.Listener || id.Name != e.Backend:
		return id, fmt.Errorf("bad name %q/%q", e.Listener, e.Backend)
	case e.Admin != "" && e.Admin != "drain" && e.Admin != "maint":
		return id, fmt.Errorf("%s: admin %q, want drain or maint", id, e.Admin)
	case e.Weight != nil && (*e.Weight < 0 || *e.Weight > balancer.MaxWeight):
		return id, fmt.Errorf("%s: weight %d out of 0..%d", id, *e.Weight, balancer.MaxWeight)
	case e.Weight == nil && e.Config != "":
		return id, fmt.Errorf("%s: config without a weight", id)
	case e.Admin == "" && e.Weight == nil:
		return id, fmt.Errorf("%s has no change", id)
	}
	if e.Weight != nil {
		if b, err := hex.DecodeString(e.Config); err != nil || len(b) != sha256.Size {
			return id, fmt.Errorf("%s: config %q, want the SHA-256 of the backend's settings in hex", id, e.Config)
		}
	}
	return id, nil
}

// checkOpRelease reports what in r the daemon could not have written.
func checkOpRelease(r opRelease) error {
	switch {
	case backend.CheckName(r.Name) != nil:
		return fmt.Errorf("bad name %q", r.Name)
	case r.Interface == "" || len(r.Interface) >= unix.IFNAMSIZ || strings.ContainsAny(r.Interface, "/ \t\n"):
		return fmt.Errorf("%s: bad interface %q", r.Name, r.Interface)
	case vrrp.CheckVRID(int(r.VRID)) != nil:
		return fmt.Errorf("%s: virtual router id %d out of 1..255", r.Name, r.VRID)
	case r.Version != 2 && r.Version != 3:
		return fmt.Errorf("%s: version %d, want 2 or 3", r.Name, r.Version)
	case r.Since.IsZero():
		return fmt.Errorf("%s: no start (since)", r.Name)
	case !r.Until.IsZero() && !r.Until.After(r.Since):
		return fmt.Errorf("%s: ends (until %s) before it began (since %s)", r.Name, r.Until.Format(time.RFC3339), r.Since.Format(time.RFC3339))
	case len(r.Reason) > maxReleaseReason:
		return fmt.Errorf("%s: reason of %d bytes, more than %d", r.Name, len(r.Reason), maxReleaseReason)
	}
	return nil
}

// jsonProblem words a value of the wrong type in the file's terms
// ("weight: JSON string, want int", "JSON number, want an object"), where
// encoding/json names the Go types; other errors are returned as they
// are. The file's objects are flat: a field is named by its own key.
func jsonProblem(err error) error {
	var te *json.UnmarshalTypeError
	switch {
	case !errors.As(err, &te) || te.Type == nil:
		return err
	case te.Field == "":
		return fmt.Errorf("JSON %s, want an object", te.Value)
	}
	field := te.Field[strings.LastIndexByte(te.Field, '.')+1:]
	return fmt.Errorf("%s: JSON %s, want %s", field, te.Value, te.Type)
}

// unknownFields returns the fields of the JSON object m that no field of
// struct type t reads (encoding/json matches keys to fields without
// regard to case), sorted by key, each value as encoding/json writes it
// (compact); nil when m is not an object or has none.
func unknownFields(m []byte, t reflect.Type) []jsonField {
	var obj map[string]json.RawMessage
	if json.Unmarshal(m, &obj) != nil {
		return nil
	}
	known := jsonNames(t)
	var out []jsonField
	for k, v := range obj {
		if slices.ContainsFunc(known, func(n string) bool { return strings.EqualFold(n, k) }) {
			continue
		}
		if c, err := json.Marshal(v); err == nil {
			out = append(out, jsonField{Key: k, Value: c})
		}
	}
	slices.SortFunc(out, func(a, b jsonField) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// fieldPaths names the fields fs as paths under at ("backends[0].note"),
// sorted, a key that is not plain quoted.
func fieldPaths(at string, fs []jsonField) []string {
	var out []string
	for _, f := range fs {
		k := f.Key
		if !isPlainKey(k) {
			k = strconv.QuoteToASCII(k)
		}
		if at != "" {
			k = at + "." + k
		}
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// jsonNames returns the JSON names of the fields of struct type t that
// encoding/json reads, those of embedded structs included.
func jsonNames(t reflect.Type) []string {
	var out []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-" || (!f.IsExported() && !f.Anonymous):
			continue
		case f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct:
			out = append(out, jsonNames(f.Type)...)
			continue
		case name == "":
			name = f.Name
		}
		out = append(out, name)
	}
	return out
}

// isPlainKey reports whether k can be shown as it is: letters, digits,
// '_' and '-'.
func isPlainKey(k string) bool {
	return k != "" && !strings.ContainsFunc(k, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	})
}

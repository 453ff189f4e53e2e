package backend

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestCheckName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"rmq1", true},
		{"rabbit@rmq1", true},
		{"amqp_tls-1.a:b", true},
		{strings.Repeat("a", MaxNameLen), true},
		{"", false},
		{strings.Repeat("a", MaxNameLen+1), false},
		{"a/b", false},
		{"a b", false},
		{"tab\t", false},
		{"é", false},
	} {
		err := CheckName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("CheckName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrBadName) {
			t.Errorf("CheckName(%q) = %v, does not wrap ErrBadName", tc.name, err)
		}
	}
}

func TestParseID(t *testing.T) {
	id, err := ParseID("amqp/rabbit@rmq1")
	if err != nil || id != (ID{Listener: "amqp", Name: "rabbit@rmq1"}) {
		t.Fatalf("ParseID = %+v, %v", id, err)
	}
	if id.String() != "amqp/rabbit@rmq1" || !id.IsValid() {
		t.Errorf("String = %q, IsValid = %v", id.String(), id.IsValid())
	}
	for _, bad := range []string{"", "amqp", "/b", "a/", "a/b/c", "a b/c"} {
		if _, err := ParseID(bad); err == nil {
			t.Errorf("ParseID(%q) succeeded", bad)
		}
	}
	if (ID{}).IsValid() {
		t.Error("zero ID is valid")
	}
}

func TestIDJSON(t *testing.T) {
	in := map[string]ID{"x": {"l", "b"}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"x":"l/b"}` {
		t.Errorf("JSON = %s", b)
	}
	var out map[string]ID
	if err := json.Unmarshal(b, &out); err != nil || out["x"] != in["x"] {
		t.Errorf("round trip = %+v, %v", out, err)
	}
	if err := json.Unmarshal([]byte(`{"x":"nope"}`), &out); err == nil {
		t.Error("decoding a bad ID succeeded")
	}
}

func TestState(t *testing.T) {
	var zero State
	if zero != Down {
		t.Errorf("zero State = %v, want DOWN", zero)
	}
	for _, s := range States() {
		b, err := s.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back State
		if err := back.UnmarshalText([]byte(strings.ToLower(string(b)))); err != nil || back != s {
			t.Errorf("round trip of %v = %v, %v", s, back, err)
		}
	}
	if _, err := State(99).MarshalText(); err == nil {
		t.Error("marshalling an unknown state succeeded")
	}
	if _, err := ParseState("up-ish"); err == nil {
		t.Error("ParseState(up-ish) succeeded")
	}
	serving := map[State]bool{Up: true, Degraded: true}
	removed := map[State]bool{Down: true, Maint: true}
	for _, s := range States() {
		if s.Serving() != serving[s] || s.Removed() != removed[s] {
			t.Errorf("%v: Serving %v Removed %v", s, s.Serving(), s.Removed())
		}
	}
}

func TestAdminApply(t *testing.T) {
	for _, tc := range []struct {
		admin  Admin
		health State
		want   State
	}{
		{AdminNone, Up, Up},
		{AdminNone, Down, Down},
		{AdminNone, Degraded, Degraded},
		{AdminDrain, Up, Drain},
		{AdminDrain, Degraded, Drain},
		{AdminDrain, Down, Down}, // a drained broker that fails is still taken out
		{AdminMaint, Up, Maint},
		{AdminMaint, Down, Maint},
	} {
		if got := tc.admin.Apply(tc.health); got != tc.want {
			t.Errorf("%v.Apply(%v) = %v, want %v", tc.admin, tc.health, got, tc.want)
		}
	}
}

func TestParseAdmin(t *testing.T) {
	for in, want := range map[string]Admin{"": AdminNone, "ready": AdminNone, "Drain": AdminDrain, "maintenance": AdminMaint} {
		if got, err := ParseAdmin(in); err != nil || got != want {
			t.Errorf("ParseAdmin(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseAdmin("up"); err == nil {
		t.Error("ParseAdmin(up) succeeded")
	}
}

func FuzzParseID(f *testing.F) {
	for _, s := range []string{"a/b", "amqp/rabbit@rmq1", "", "/", "a/b/c", "x y/z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if err != nil {
			return
		}
		if !id.IsValid() || id.String() != s {
			t.Fatalf("ParseID(%q) = %+v, String %q", s, id, id.String())
		}
	})
}

func FuzzParseState(f *testing.F) {
	for _, s := range []string{"UP", "down", "Drain", "MAINT", "DEGRADED", "", "up-ish"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		st, err := ParseState(s)
		if err != nil {
			return
		}
		if !strings.EqualFold(st.String(), s) {
			t.Fatalf("%q parsed to %v", s, st)
		}
	})
}

// TestChangeReason: one wording of an operator's change, with its note.
func TestChangeReason(t *testing.T) {
	for _, c := range []struct {
		prev, a Admin
		note    string
		want    string
	}{
		{AdminNone, AdminDrain, "", "operator set DRAIN"},
		{AdminDrain, AdminMaint, "", "operator set MAINT"},
		{AdminMaint, AdminNone, "", "operator cleared MAINT"},
		{AdminNone, AdminMaint, "handed over", "operator set MAINT (handed over)"},
		{AdminNone, AdminNone, "", "operator set READY"},
	} {
		if got := ChangeReason(c.prev, c.a, c.note); got != c.want {
			t.Errorf("ChangeReason(%v, %v, %q) = %q, want %q", c.prev, c.a, c.note, got, c.want)
		}
	}
}

package httpcheck

import (
	"strings"
	"testing"
)

// TestParseStatuses: lists of codes and ranges, and what is wrong with
// those that are not.
func TestParseStatuses(t *testing.T) {
	tests := []struct {
		in   string
		want string // String of the result, or the error's text
		ok   bool
	}{
		{"200", "200", true},
		{"200-399", "200-399", true},
		{" 200 , 204-206,401", "200,204-206,401", true},
		{"200-200", "200", true},
		{"", "must name at least one status code", false},
		{"2xx", `"2xx" is not a status code (100..599)`, false},
		{"99", `"99" is not a status code`, false},
		{"600", `"600" is not a status code`, false},
		{"300-200", `range "300-200" ends before it starts`, false},
		{"200,", `"" is not a status code`, false},
		{"200-", `"" is not a status code`, false},
	}
	for _, tc := range tests {
		s, err := ParseStatuses(tc.in)
		if tc.ok {
			if err != nil || s.String() != tc.want {
				t.Errorf("ParseStatuses(%q) = %v, %v; want %s", tc.in, s, err, tc.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseStatuses(%q) error %v, want %q", tc.in, err, tc.want)
		}
	}
}

// TestContains: a code is in a set when one of its ranges holds it.
func TestContains(t *testing.T) {
	s := Statuses{{200, 299}, {401, 401}}
	for code, want := range map[int]bool{199: false, 200: true, 299: true, 300: false, 401: true, 403: false} {
		if got := s.Contains(code); got != want {
			t.Errorf("Contains(%d) = %v", code, got)
		}
	}
	if DefaultStatuses.Contains(404) || !DefaultStatuses.Contains(302) {
		t.Error("DefaultStatuses are not 200-399")
	}
}

// FuzzParseStatuses: any input parses or fails without a panic, and what
// parses reads back the same from its String.
func FuzzParseStatuses(f *testing.F) {
	for _, s := range []string{"200", "200-399", "200,204-206,401", "", "-", ",", "1-2-3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseStatuses(in)
		if err != nil {
			return
		}
		again, err := ParseStatuses(s.String())
		if err != nil || again.String() != s.String() {
			t.Fatalf("%q: %v read back as %v, %v", in, s, again, err)
		}
		for _, r := range s {
			if r.From < 100 || r.To > 599 || r.To < r.From {
				t.Fatalf("%q: range %v", in, r)
			}
		}
	})
}

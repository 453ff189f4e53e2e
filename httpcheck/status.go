package httpcheck

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// StatusRange is the status codes From to To, both included.
type StatusRange struct{ From, To int }

// Statuses is a set of HTTP status codes: the answers that pass a check.
// The zero value is empty; DefaultStatuses is the default of a Config.
type Statuses []StatusRange

// DefaultStatuses are the codes that pass a check by default: 2xx and
// 3xx, as HAProxy's httpchk has them. A redirect is not followed: the
// server that sent it answered.
var DefaultStatuses = Statuses{{200, 399}}

// ParseStatuses parses a comma-separated list of status codes (100..599)
// and ranges of them: "200", "200-299", "200,204,401".
func ParseStatuses(s string) (Statuses, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("must name at least one status code")
	}
	var set Statuses
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		from, err := parseCode(lo)
		if err != nil {
			return nil, err
		}
		to := from
		if isRange {
			if to, err = parseCode(hi); err != nil {
				return nil, err
			}
			if to < from {
				return nil, fmt.Errorf("range %q ends before it starts", part)
			}
		}
		set = append(set, StatusRange{from, to})
	}
	return set, nil
}

func parseCode(s string) (int, error) {
	s = strings.TrimSpace(s)
	n, err := strconv.Atoi(s)
	if err != nil || n < 100 || n > 599 {
		return 0, fmt.Errorf("%q is not a status code (100..599)", s)
	}
	return n, nil
}

// Contains reports whether code is in s.
func (s Statuses) Contains(code int) bool {
	for _, r := range s {
		if code >= r.From && code <= r.To {
			return true
		}
	}
	return false
}

// String returns s as ParseStatuses reads it.
func (s Statuses) String() string {
	parts := make([]string, len(s))
	for i, r := range s {
		parts[i] = strconv.Itoa(r.From)
		if r.To != r.From {
			parts[i] += "-" + strconv.Itoa(r.To)
		}
	}
	return strings.Join(parts, ",")
}

package control

import (
	"testing"
	"time"
)

func TestExpiry(t *testing.T) {
	now := fixtureNow
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{now.Add(12*24*time.Hour + 5*time.Hour), "expires in 12d"},
		{now.Add(48 * time.Hour), "expires in 2d"},
		{now.Add(47*time.Hour + 30*time.Minute), "expires in 47h30m"},
		{now.Add(90 * time.Second), "expires in 2m"},
		{now.Add(-3 * time.Hour), "expired 3h0m ago"},
		{now.Add(-50 * time.Hour), "expired 2d ago"},
	} {
		if got := expiry(now, tc.at); got != tc.want {
			t.Errorf("expiry in %v: %q, want %q", tc.at.Sub(now), got, tc.want)
		}
	}
}

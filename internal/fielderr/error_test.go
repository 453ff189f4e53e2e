package fielderr

import (
	"errors"
	"fmt"
	"testing"
)

// TestSplit: the field errors of a tree are found through wrapping and
// joining, in order; an error holding none is returned whole, its
// wrapping text kept.
func TestSplit(t *testing.T) {
	a := New("weight", "must be 0..%d, not %d", 65535, 300000)
	b := New("backends[1].name", "must not be empty")
	plain := errors.New("disk on fire")
	err := fmt.Errorf("listener %q: %w", "l", errors.Join(
		fmt.Errorf("context: %w", a),
		fmt.Errorf("wrapped: %w", plain),
		errors.Join(b),
	))
	fields, others := Split(err)
	if len(fields) != 2 || fields[0] != a || fields[1] != b {
		t.Fatalf("fields = %v, want [%v %v]", fields, a, b)
	}
	if len(others) != 1 || others[0].Error() != "wrapped: disk on fire" {
		t.Fatalf("others = %q, want the wrapped plain error", others)
	}
	if got, want := a.Error(), "weight: must be 0..65535, not 300000"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	var fe *Error
	if !errors.As(err, &fe) || fe != a {
		t.Errorf("errors.As found %v", fe)
	}
	if f, o := Split(nil); f != nil || o != nil {
		t.Errorf("Split(nil) = %v, %v", f, o)
	}
	if f, o := Split(plain); len(f) != 0 || len(o) != 1 || o[0] != plain {
		t.Errorf("Split(plain) = %v, %v", f, o)
	}
}

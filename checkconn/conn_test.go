package checkconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestClassify: each I/O error maps onto the package's error that says
// what happened, the original kept; others stay as they are.
func TestClassify(t *testing.T) {
	live := context.Background()
	done, cancel := context.WithCancel(context.Background())
	cancel()
	other := errors.New("malformed HTTP response")
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		is   error
		text string
	}{
		{"refused", live, fmt.Errorf("dial tcp: %w", syscall.ECONNREFUSED), ErrRefused, "connection refused (dial tcp: connection refused)"},
		{"deadline", live, os.ErrDeadlineExceeded, ErrTimeout, "timeout after "},
		{"context done", done, other, ErrTimeout, "timeout after "},
		{"EOF", live, io.EOF, ErrClosed, "connection closed by server (EOF)"},
		{"reset", live, syscall.ECONNRESET, ErrClosed, "connection closed by server (connection reset by peer)"},
		{"other", live, other, other, "malformed HTTP response"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Classify(tc.ctx, time.Now(), tc.err)
			if !errors.Is(err, tc.is) || !errors.Is(err, tc.err) && tc.is != ErrTimeout || !strings.HasPrefix(err.Error(), tc.text) {
				t.Fatalf("Classify(%v) = %v, want %v: %q", tc.err, err, tc.is, tc.text)
			}
		})
	}
	var to interface{ Timeout() bool }
	if !errors.As(ErrTimeout, &to) || !to.Timeout() {
		t.Error("ErrTimeout has no Timeout method that returns true")
	}
}

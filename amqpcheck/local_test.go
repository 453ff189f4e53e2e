package amqpcheck

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestCheckLocalShortage: a check whose connection to the broker cannot be made for want of a
// file descriptor or socket memory is inconclusive, with the errno kept; one the broker refuses
// fails, and so does one without a usable source address (EADDRNOTAVAIL).
func TestCheckLocalShortage(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr).AddrPort()
	ln.Close()
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS} {
		chk, err := New(Config{Addr: addr, Mode: ModeLogin})
		if err != nil {
			t.Fatal(err)
		}
		chk.Dialer.ControlContext = func(context.Context, string, string, syscall.RawConn) error {
			return os.NewSyscallError("socket", errno)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		r := chk.Check(ctx)
		cancel()
		if !r.Inconclusive || !errors.Is(r.Err, errno) || !strings.HasPrefix(r.Err.Error(), "local shortage: connecting to "+addr.String()) {
			t.Errorf("%v: %+v, want inconclusive", errno, r)
		}
	}
	chk, _ := New(Config{Addr: addr})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if r := chk.Check(ctx); r.Inconclusive || !errors.Is(r.Err, ErrRefused) {
		t.Errorf("refused: %+v, want a failure", r)
	}
	chk.Dialer.ControlContext = func(context.Context, string, string, syscall.RawConn) error {
		return os.NewSyscallError("bind", syscall.EADDRNOTAVAIL)
	}
	if r := chk.Check(ctx); r.Inconclusive || !errors.Is(r.Err, syscall.EADDRNOTAVAIL) {
		t.Errorf("EADDRNOTAVAIL: %+v, want a failure", r)
	}
}

// TestManagementProbeLocalShortage: a management probe that cannot connect for want of a file
// descriptor makes the check inconclusive (it cannot tell whether the broker has an alarm); one
// that cannot connect for another reason passes the check with a warning.
func TestManagementProbeLocalShortage(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	amqpSrv := startHandshakeBroker(t)
	defer amqpSrv.close()
	for _, tc := range []struct {
		name         string
		errno        syscall.Errno
		inconclusive bool
	}{
		{"no file descriptor", syscall.EMFILE, true},
		{"refused", syscall.ECONNREFUSED, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chk, err := New(Config{Addr: amqpSrv.addr(), ManagementURL: "http://127.0.0.1:15672"})
			if err != nil {
				t.Fatal(err)
			}
			chk.http.Transport.(*http.Transport).DialContext = func(context.Context, string, string) (net.Conn, error) {
				return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("socket", tc.errno)}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			r := chk.Check(ctx)
			if tc.inconclusive {
				if !r.Inconclusive || !errors.Is(r.Err, tc.errno) || !strings.Contains(r.Err.Error(), "/api/health/checks/alarms") {
					t.Errorf("%+v, want inconclusive", r)
				}
				return
			}
			if r.Inconclusive || r.Err != nil || !strings.Contains(r.Warning, "alarm probe failed") {
				t.Errorf("%+v, want a pass with a warning", r)
			}
		})
	}
}

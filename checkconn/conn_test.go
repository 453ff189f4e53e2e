package checkconn

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/proxyproto"
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

// TestOpenProxyHeader: with ProxyHeader, Open sends a PROXY v2 LOCAL
// header first, and the check's bytes follow it.
func TestOpenProxyHeader(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type got struct {
		h    proxyproto.Header
		rest string
		err  error
	}
	ch := make(chan got, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- got{err: err}
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		h, err := proxyproto.ReadHeader(br)
		rest, _ := io.ReadAll(br)
		ch <- got{h, string(rest), err}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := Open(ctx, netip.MustParseAddrPort(ln.Addr().String()), Options{ProxyHeader: true})
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "hello")
	c.Close()
	g := <-ch
	if g.err != nil || g.h.Version != 2 || g.h.Command != proxyproto.CommandLocal || g.rest != "hello" {
		t.Fatalf("server read %+v", g)
	}
}

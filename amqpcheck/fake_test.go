package amqpcheck

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rmqlb/rmqlb/internal/fielderr"
	"github.com/rmqlb/rmqlb/proxyproto"
)

// fakeServer accepts connections on 127.0.0.1 and hands each to serve. close stops it and
// waits for every handler.
type fakeServer struct {
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	conn []net.Conn
}

func startFake(t *testing.T, serve func(c net.Conn)) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conn = append(s.conn, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				serve(c)
			}()
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *fakeServer) addr() netip.AddrPort {
	return s.ln.Addr().(*net.TCPAddr).AddrPort()
}

func (s *fakeServer) close() {
	s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conn {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// startHandshakeBroker runs a fake broker that answers the protocol header with the
// Connection.Start RabbitMQ 3.10.8 sent (goldenStart: cluster rxa@vm) and then reads until the
// client closes: all that a handshake check needs.
func startHandshakeBroker(t *testing.T) *fakeServer {
	start := goldenStart(t)
	return startFake(t, func(c net.Conn) {
		if readHeader(c) {
			c.Write(start)
		}
		io.Copy(io.Discard, c)
	})
}

func readHeader(c net.Conn) bool {
	b := make([]byte, 8)
	_, err := io.ReadFull(c, b)
	return err == nil && bytes.Equal(b, ProtocolHeader)
}

func goldenStart(t testing.TB) []byte {
	b, err := os.ReadFile("testdata/connection-start-rabbitmq-3.10.8.bin")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func countFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

// TestFakeServers runs each check against a misbehaving server and wants a distinct error,
// returned within the deadline, with no goroutine or file descriptor left.
func TestFakeServers(t *testing.T) {
	start := goldenStart(t)
	closeArgs, _ := CloseArgs(Close{ReplyCode: 320, ReplyText: "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'"})
	authClose, _ := CloseArgs(Close{ReplyCode: 403, ReplyText: "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN"})
	hold := func(c net.Conn) { io.Copy(io.Discard, c) } // read until the client closes
	tests := []struct {
		name  string
		mode  Mode
		serve func(c net.Conn)
		want  error
		check func(t *testing.T, err error)
	}{
		{name: "silence after accept", serve: hold, want: ErrTimeout},
		{name: "close after accept", serve: func(c net.Conn) { c.Close() }, want: ErrClosed},
		{name: "garbage", serve: func(c net.Conn) {
			readHeader(c)
			c.Write([]byte("\x17\x03\x03 this is not amqp at all \xce"))
			hold(c)
		}, want: ErrNotAMQP},
		{name: "HTTP", serve: func(c net.Conn) {
			c.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
			c.Close()
		}, want: ErrNotAMQP},
		{name: "protocol header back", serve: func(c net.Conn) {
			readHeader(c)
			c.Write([]byte("AMQP\x00\x00\x09\x01"))
			c.Close()
		}, want: ErrNotAMQP},
		{name: "slow drip", serve: func(c net.Conn) {
			readHeader(c)
			for _, b := range start {
				if _, err := c.Write([]byte{b}); err != nil {
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}, want: ErrTimeout},
		{name: "connection close right away", serve: func(c net.Conn) {
			readHeader(c)
			c.Write(AppendMethod(nil, 0, ConnectionClose, closeArgs))
			hold(c)
		}, check: func(t *testing.T, err error) {
			var sc *ServerCloseError
			if !errors.As(err, &sc) || sc.ReplyCode != 320 || errors.Is(err, ErrAuth) || errors.Is(err, ErrVHost) {
				t.Fatalf("got %v, want a ServerCloseError 320", err)
			}
		}},
		{name: "oversized frame", serve: func(c net.Conn) {
			readHeader(c)
			c.Write([]byte{1, 0, 0, 0x7f, 0xff, 0xff, 0xff})
			hold(c)
		}, want: ErrFrameTooLarge},
		{name: "truncated start then close", serve: func(c net.Conn) {
			readHeader(c)
			c.Write(start[:100])
			c.Close()
		}, want: ErrClosed},
		{name: "auth refused", mode: ModeLogin, serve: func(c net.Conn) {
			readHeader(c)
			c.Write(start)
			ReadFrame(c, 1<<20) // Start-Ok
			c.Write(AppendMethod(nil, 0, ConnectionClose, authClose))
			hold(c)
		}, want: ErrAuth},
		{name: "closed after start-ok", mode: ModeLogin, serve: func(c net.Conn) {
			readHeader(c)
			c.Write(start)
			ReadFrame(c, 1<<20)
			c.Close()
		}, want: ErrAuth},
		{name: "frozen after start-ok", mode: ModeLogin, serve: func(c net.Conn) {
			readHeader(c)
			c.Write(start)
			hold(c)
		}, want: ErrTimeout},
	}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	fds := countFDs(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startFake(t, tc.serve)
			chk, err := New(Config{Addr: srv.addr(), Mode: tc.mode})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
			defer cancel()
			t0 := time.Now()
			_, err = chk.Run(ctx)
			el := time.Since(t0)
			t.Logf("after %v: %v", el.Round(time.Millisecond), err)
			if el > 2*time.Second {
				t.Errorf("check took %v, deadline was 400ms", el)
			}
			if tc.check != nil {
				tc.check(t, err)
			} else if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			// A timeout, and nothing else, says so to the scheduler,
			// which treats timeouts of a busy broker apart.
			var to interface{ Timeout() bool }
			if isTimeout := errors.As(err, &to) && to.Timeout(); isTimeout != (tc.want == ErrTimeout) {
				t.Errorf("error %v: Timeout() %v, want %v", err, isTimeout, tc.want == ErrTimeout)
			}
			for _, other := range []error{ErrRefused, ErrTimeout, ErrNotAMQP, ErrAuth, ErrVHost, ErrClosed, ErrFrameTooLarge} {
				if other != tc.want && errors.Is(err, other) {
					t.Errorf("error %v also matches %v", err, other)
				}
			}
			// The check's result as the scheduler sees it: a failure, but for the refused
			// login, which passes with a warning (see loginRefused).
			if r := chk.Check(ctx); (r.Err == nil) != (tc.name == "auth refused") {
				t.Errorf("Check: %+v", r)
			}
		})
	}
	if got := countFDs(t); got != fds {
		t.Errorf("open fds: %d before, %d after", fds, got)
	}
}

func TestRefused(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr).AddrPort()
	ln.Close()
	chk, _ := New(Config{Addr: addr})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = chk.Run(ctx)
	if !errors.Is(err, ErrRefused) || errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrRefused", err)
	}
}

// TestHandshakeFake passes against a server that sends RabbitMQ's real Connection.Start, and
// sends the PROXY v2 LOCAL header first when asked.
func TestHandshakeFake(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	start := goldenStart(t)
	for _, pp := range []bool{false, true} {
		got := make(chan proxyproto.Header, 1)
		srv := startFake(t, func(c net.Conn) {
			if pp {
				h, err := proxyproto.ReadHeader(c)
				if err != nil {
					return
				}
				got <- h
			}
			if !readHeader(c) {
				return
			}
			c.Write(start)
			io.Copy(io.Discard, c)
		})
		chk, _ := New(Config{Addr: srv.addr(), ProxyProtocol: pp})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		rep, err := chk.Run(ctx)
		cancel()
		if err != nil {
			t.Fatalf("proxy %v: %v", pp, err)
		}
		if rep.Server.Product != "RabbitMQ" || rep.Server.Version != "3.10.8" {
			t.Fatalf("report %+v", rep)
		}
		if pp {
			h := <-got
			if h.Version != 2 || h.Command != proxyproto.CommandLocal {
				t.Fatalf("PROXY header %+v", h)
			}
		}
		srv.close()
	}
}

func TestConfigValidate(t *testing.T) {
	good := Config{Addr: netip.MustParseAddrPort("127.0.0.1:5672")}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		c     Config
		field string
	}{
		{Config{}, "addr"},
		{Config{Addr: netip.MustParseAddrPort("127.0.0.1:0")}, "addr"},
		{Config{Addr: good.Addr, Mode: "ping"}, "mode"},
		{Config{Addr: good.Addr, AlarmProbe: "mgmt"}, "alarm_probe"},
		{Config{Addr: good.Addr, AlarmProbe: AlarmProbeManagement}, "management_url"},
		{Config{Addr: good.Addr, ManagementURL: "http://admin:s3cret@10.77.0.1:15672"}, "management_url"},
		{Config{Addr: good.Addr, ManagementURL: "ftp://admin:s3cret@10.77.0.1"}, "management_url"},
		{Config{Addr: good.Addr, MaxFrameSize: 100}, "max_frame_size"},
		{Config{Addr: good.Addr, VHost: strings.Repeat("v", MaxVHostLen+1)}, "vhost"},
	} {
		err := tc.c.Validate()
		fields, others := fielderr.Split(err)
		if err == nil || len(fields) != 1 || fields[0].Field != tc.field || len(others) != 0 {
			t.Errorf("%+v: %v, want a problem of %s alone", tc.c, err, tc.field)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%v repeats the password", err)
		}
	}
	if err := (Config{Addr: good.Addr, VHost: strings.Repeat("v", MaxVHostLen)}).Validate(); err != nil {
		t.Errorf("longest vhost: %v", err)
	}
}

// TestCheckCluster: a check that names a cluster passes a broker whose
// Connection.Start names it, and fails one that names another with
// ErrWrongCluster, naming both; the scheduler's result carries the
// cluster the broker named either way it passes.
func TestCheckCluster(t *testing.T) {
	srv := startHandshakeBroker(t) // of cluster rxa@vm
	for _, tc := range []struct {
		cluster string
		err     string // "" for a pass
	}{
		{"", ""},
		{"rxa@vm", ""},
		{"rabbit-prod", `broker in another cluster: it names cluster "rxa@vm", not "rabbit-prod" (reset, or not joined to the cluster?)`},
		{"rxa", `it names cluster "rxa@vm", not "rxa"`},
	} {
		_, check := checker(t, Config{Addr: srv.addr(), Cluster: tc.cluster}, 2*time.Second)
		r := check()
		switch {
		case tc.err == "" && (r.Err != nil || r.Cluster != "rxa@vm"):
			t.Errorf("cluster %q: %+v, want a pass naming rxa@vm", tc.cluster, r)
		case tc.err != "" && (!errors.Is(r.Err, ErrWrongCluster) || !strings.Contains(r.Err.Error(), tc.err)):
			t.Errorf("cluster %q: %v, want ErrWrongCluster with %q", tc.cluster, r.Err, tc.err)
		}
	}
	fs, _ := fielderr.Split((Config{Addr: srv.addr(), Cluster: strings.Repeat("x", MaxClusterLen+1)}).Validate())
	if len(fs) != 1 || fs[0].Field != "cluster" {
		t.Errorf("a cluster of %d bytes: %v, want an error of field cluster", MaxClusterLen+1, fs)
	}
}

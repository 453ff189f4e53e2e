package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Handler answers one request. Its result is marshalled to JSON. It is
// called from the server's connection goroutines and must be safe for
// concurrent use.
type Handler func(ctx context.Context, req Request) (any, error)

// Server serves a Handler on a unix socket. Its zero value is not usable;
// set Path and Handler. A Server is run once.
type Server struct {
	// Path of the socket. Its directory is created (0755) when missing; a
	// stale socket file left by a dead daemon is replaced, but a socket
	// some live process answers on is not.
	Path string
	// Handler answers requests.
	Handler Handler
	// Logger; nil logs nothing.
	Logger *zap.Logger
	// Timeout bounds reading a request and writing its response.
	// Default: 5s.
	Timeout time.Duration
}

// Listen creates the socket, mode 0600. It fails when another daemon
// already answers on Path.
func (s *Server) Listen() (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(s.Path), 0o755); err != nil {
		return nil, fmt.Errorf("creating control socket directory: %w", err)
	}
	if c, err := net.DialTimeout("unix", s.Path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("creating control socket: another daemon answers on %s", s.Path)
	}
	_ = os.Remove(s.Path)
	ln, err := net.Listen("unix", s.Path)
	if err != nil {
		return nil, fmt.Errorf("creating control socket: %w", err)
	}
	if err := os.Chmod(s.Path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("setting control socket mode: %w", err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(true)
	return ln, nil
}

// Serve answers connections on ln until ctx is done, then closes ln
// (removing the socket file) and waits for the connections in flight.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	log := s.Logger
	if log == nil {
		log = zap.NewNop()
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			log.Warn("accepting control connection", zap.Error(err))
			time.Sleep(50 * time.Millisecond)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveConn(ctx, c, log)
		}()
	}
}

func (s *Server) serveConn(ctx context.Context, c net.Conn, log *zap.Logger) {
	defer c.Close()
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	_ = c.SetDeadline(time.Now().Add(timeout))
	var req Request
	var resp Response
	line, err := bufio.NewReaderSize(c, 4096).ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &req)
	}
	if err != nil {
		resp.Error = fmt.Sprintf("reading request: %v", err)
	} else {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		res, herr := s.Handler(ctx, req)
		cancel()
		if herr != nil {
			resp.Error = herr.Error()
		} else if resp.Result, err = json.Marshal(res); err != nil {
			resp.Error = fmt.Sprintf("encoding result: %v", err)
			resp.Result = nil
		}
	}
	if resp.Error != "" {
		log.Debug("control request failed", zap.String("command", req.Command), zap.String("error", resp.Error))
	}
	out, _ := json.Marshal(resp)
	_, _ = c.Write(append(out, '\n'))
}

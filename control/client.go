package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"syscall"
	"time"
)

// Call sends req to the daemon at path and decodes the result into out
// (which may be nil, or a *json.RawMessage to keep the bytes). A daemon
// that serves too many control connections at once refuses one more
// unread (ErrBusy): Call then sends the request again, after a pause, until
// the daemon reads it or timeout (which bounds the whole call) has passed.
func Call(path string, req Request, out any, timeout time.Duration) error {
	return CallContext(context.Background(), path, req, out, timeout)
}

// CallContext is Call that also gives up when ctx is done.
func CallContext(ctx context.Context, path string, req Request, out any, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	reqLine, err := requestLine(req)
	if err != nil {
		return err
	}
	return retryBusy(ctx, func() error { return callOnce(ctx, path, reqLine, out) })
}

// requestLine encodes req as the line a call sends.
func requestLine(req Request) ([]byte, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encoding request: %w", err)
	}
	return append(b, '\n'), nil
}

// sendRequest connects to the daemon at path and sends it reqLine (see
// requestLine), on a connection with ctx's deadline that ctx's end,
// should it come first (cancelled), cuts at once. On success the caller
// reads the answer from c and then calls done, which closes c.
func sendRequest(ctx context.Context, path string, reqLine []byte) (c net.Conn, done func(), err error) {
	var d net.Dialer
	c, err = d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, nil, connectError(path, notSent{err})
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	done = func() {
		stop()
		c.Close()
	}
	if _, err := c.Write(reqLine); err != nil {
		// A request line cut short is no request: the daemon acts on
		// whole lines only.
		err = sendError(c, err)
		done()
		return nil, nil, err
	}
	return c, done, nil
}

// callOnce is one attempt of CallContext, on one connection, until ctx is
// done.
func callOnce(ctx context.Context, path string, reqLine []byte, out any) error {
	c, done, err := sendRequest(ctx, path, reqLine)
	if err != nil {
		return err
	}
	defer done()
	line, err := bufio.NewReader(c).ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("reading response: %w", err)
	}
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		return fmt.Errorf("decoding response: %w", err)
	}
	if resp.Error != "" {
		return &RefusedError{Message: resp.Error}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(resp.Result, out); err != nil {
		return fmt.Errorf("decoding result: %w", err)
	}
	return nil
}

// sendError is the error of a request whose sending on c failed with err.
// The daemon may have answered before it closed the connection, the
// request unread (ErrBusy): then its answer is the error, a RefusedError,
// rather than the broken pipe. A request the daemon refused unread did
// nothing either way.
func sendError(c net.Conn, err error) error {
	line, _ := bufio.NewReader(c).ReadBytes('\n')
	var resp Response
	if json.Unmarshal(line, &resp) == nil && resp.Error != "" {
		return &RefusedError{Message: resp.Error}
	}
	return fmt.Errorf("sending request: %w", notSent{err})
}

// connectError is the error of a failed connection to the daemon at path.
// A missing socket file is told apart from one nobody answers on: a
// running daemon whose socket was removed re-creates it within a second
// (and at a reload), so the daemon may well run.
func connectError(path string, err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("connecting to the daemon at %s: the socket is missing (a running daemon re-creates its socket within a second; try again, or check that it runs: systemctl status rmqlb): %w", path, err)
	}
	return fmt.Errorf("connecting to the daemon at %s (is `rmqlb run` running?): %w", path, err)
}

// ErrNotSent is matched (errors.Is) by the error of a Call whose request
// never reached the daemon (it could not connect, or could not send the
// whole request): the daemon did nothing. Any other error but a
// RefusedError leaves unknown whether it acted.
var ErrNotSent = errors.New("the request did not reach the daemon")

// notSent wraps the error of a request that never reached the daemon: its
// message is err's, and it matches ErrNotSent.
type notSent struct{ err error }

func (e notSent) Error() string        { return e.err.Error() }
func (e notSent) Unwrap() error        { return e.err }
func (e notSent) Is(target error) bool { return target == ErrNotSent }

// RefusedError is the error of a request the daemon answered with an
// error (rather than one that did not reach it, or whose answer was lost).
type RefusedError struct{ Message string }

func (e *RefusedError) Error() string { return e.Message }
